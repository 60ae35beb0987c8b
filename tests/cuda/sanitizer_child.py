"""Run CUDA kernels under a sanitizer, in a process of its own (see test_sanitizers.py).

    LD_PRELOAD=$(g++ -print-file-name=libasan.so) python sanitizer_child.py address clean

A library built with ``-fsanitize=address`` or ``thread`` can only be loaded into a process whose
sanitizer runtime was loaded first, hence a separate, preloaded Python. The first argument is the
sanitizer (``address``, ``thread``, or ``none`` for a plain build), the second the case:

- ``clean``: every kernel of every plan on a few configurations (every option, both dtypes),
  compared with the reference: the sanitizer must stay silent;
- ``clean_shared``: the kernels that share memory or accumulate (for the race checker);
- ``off_by_one``: planted/conv2d_forward_off_by_one.cu through the launcher;
- ``racy_pool_backward``: planted/max_pool2d_backward_racy.cu on overlapping windows;
- ``missing_barrier``: planted/conv2d_tiled_missing_barrier.cu through the launcher.

Prints one line ``<case>: ok, largest difference from the reference <d>`` when it finishes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from tinyconv.kernels import reference
from tinyconv.kernels.cuda import launch
from tinyconv.kernels.cuda.emulator import EmulatedModule
from tinyconv.kernels.cuda.runtime import SOURCES, EmulatedRuntime

PLANTED = Path(__file__).resolve().parent / "planted"

#: Small problems (every grid at most 64 blocks, as the race checker requires), every option:
#: (x shape, w shape, stride, padding, dilation, groups).
CONV_CASES = [
    ((2, 4, 7, 6), (6, 2, 3, 2), (2, 1), (1, 2, 0, 1), (1, 2), 2),
    ((1, 3, 9, 9), (4, 3, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
    ((2, 2, 5, 8), (2, 2, 1, 1), (1, 2), (0, 0, 0, 0), (1, 1), 1),
]
#: (x shape, kernel, stride, padding, dilation, ceil_mode, count_include_pad)
POOL_CASES = [
    ((2, 3, 7, 8), (3, 3), (1, 2), (1, 1, 0, 1), (1, 1), True, False),
    ((1, 2, 9, 9), (2, 3), (2, 2), (1, 0, 1, 1), (2, 1), False, True),
]


def _worst(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - b), initial=0.0))


def clean(sanitize: str | None) -> float:
    runtime = EmulatedRuntime(sanitize=sanitize)
    rng = np.random.default_rng(0)
    worst = 0.0
    for dtype in (np.float32, np.float64):
        for x_shape, w_shape, *options in CONV_CASES:
            x = rng.standard_normal(x_shape).astype(dtype)
            w = rng.standard_normal(w_shape).astype(dtype)
            y_ref = reference.conv2d_forward(x, w, *options)
            grad_y = rng.standard_normal(y_ref.shape).astype(dtype)
            for plan in launch.PLANS:
                with launch.force_plan(plan):
                    worst = max(worst, _worst(launch.conv2d_forward(runtime, x, w, *options),
                                              y_ref))
                    worst = max(worst, _worst(
                        launch.conv2d_backward_input(runtime, grad_y, w, x_shape, *options),
                        reference.conv2d_backward_input(grad_y, w, x_shape, *options)))
                    worst = max(worst, _worst(
                        launch.conv2d_backward_weight(runtime, x, grad_y, w_shape, *options),
                        reference.conv2d_backward_weight(x, grad_y, w_shape, *options)))
        for x_shape, kernel, stride, padding, dilation, ceil_mode, include_pad in POOL_CASES:
            x = rng.standard_normal(x_shape).astype(dtype)
            y, indices = launch.max_pool2d_forward(runtime, x, kernel, stride, padding, dilation,
                                                   ceil_mode)
            y_ref, indices_ref = reference.max_pool2d_forward(x, kernel, stride, padding,
                                                              dilation, ceil_mode)
            assert np.array_equal(indices, indices_ref)
            worst = max(worst, _worst(y, y_ref), _worst(
                launch.max_pool2d_backward(runtime, y, indices, x_shape),
                reference.max_pool2d_backward(y_ref, indices_ref, x_shape)))
            avg = (kernel, stride, padding, ceil_mode, include_pad)
            y = launch.avg_pool2d_forward(runtime, x, *avg)
            worst = max(worst, _worst(y, reference.avg_pool2d_forward(x, *avg)), _worst(
                launch.avg_pool2d_backward(runtime, y, x_shape, *avg),
                reference.avg_pool2d_backward(y, x_shape, *avg)))
    return worst


def clean_shared(sanitize: str | None) -> float:
    """For the race checker: the kernels that share memory or accumulate, i.e. the tiled
    convolution (a __shared__ patch and two barriers per channel) and max pooling's backward pass
    (overlapping windows sending δ to one element), on float32."""
    runtime = EmulatedRuntime(sanitize=sanitize)
    rng = np.random.default_rng(4)
    x_shape, w_shape, *options = CONV_CASES[1]
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    with launch.force_plan("tiled"):
        worst = _worst(launch.conv2d_forward(runtime, x, w, *options),
                       reference.conv2d_forward(x, w, *options))
    x = rng.standard_normal((2, 3, 9, 9)).astype(np.float32)
    pool = ((3, 3), (1, 1), (1, 1, 1, 1), (1, 1), False)  # overlapping windows
    y, indices = reference.max_pool2d_forward(x, *pool)
    return max(worst, _worst(launch.max_pool2d_backward(runtime, y, indices, x.shape),
                             reference.max_pool2d_backward(y, indices, x.shape)))


def off_by_one(sanitize: str | None) -> float:
    runtime = EmulatedRuntime((*SOURCES, PLANTED / "conv2d_forward_off_by_one.cu"),
                              sanitize=sanitize)
    x_shape, w_shape, *options = CONV_CASES[0]
    rng = np.random.default_rng(1)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    with launch.force_plan("direct"):
        y = launch.conv2d_forward(runtime, x, w, *options)
    return _worst(y, reference.conv2d_forward(x, w, *options))


def racy_pool_backward(sanitize: str | None) -> float:
    kernel = EmulatedModule(PLANTED / "max_pool2d_backward_racy.cu",
                            sanitize=sanitize).get_function("max_pool2d_backward_racy_f32")
    x = np.random.default_rng(2).standard_normal((2, 3, 9, 9)).astype(np.float32)
    pool = ((3, 3), (1, 1), (1, 1, 1, 1), (1, 1), False)  # stride 1 < kernel 3: overlapping
    y, indices = reference.max_pool2d_forward(x, *pool)
    grad_x = np.zeros_like(x)
    shape = np.array([(2, 3, 9, 9, 9, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0)], launch.POOL2D_SHAPE)
    kernel((4,), (64,), (y, indices, grad_x, shape))
    return _worst(grad_x, reference.max_pool2d_backward(y, indices, x.shape))


def missing_barrier(sanitize: str | None) -> float:
    runtime = EmulatedRuntime((*SOURCES, PLANTED / "conv2d_tiled_missing_barrier.cu"),
                              sanitize=sanitize)
    x_shape, w_shape, *options = CONV_CASES[1]
    rng = np.random.default_rng(3)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    with launch.force_plan("tiled"):
        y = launch.conv2d_forward(runtime, x, w, *options)
    return _worst(y, reference.conv2d_forward(x, w, *options))


CASES = {"clean": clean, "clean_shared": clean_shared, "off_by_one": off_by_one,
         "racy_pool_backward": racy_pool_backward, "missing_barrier": missing_barrier}

if __name__ == "__main__":
    sanitizer, case = sys.argv[1], sys.argv[2]
    difference = CASES[case](None if sanitizer == "none" else sanitizer)
    print(f"{case}: ok, largest difference from the reference {difference:.3g}", flush=True)
