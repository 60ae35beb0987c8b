"""What the kernel tests share: how a kernel's result is compared with the reference, and the
convolution problems each fast path is tested on.

Every problem is drawn by the public strategies of :mod:`tinyconv.testing.strategies` (valid
configurations, float32 and float64, four memory layouts, integer-valued or float arrays), with
bounds chosen here to aim at one plan: ``conv_cases`` every option at once, ``unrolled_cases``
the stride-1 kernel sizes that have generated kernels, ``winograd_cases`` dense 3×3 stride-1
layers, ``batch_cases`` batches big enough to split over threads.
"""

from __future__ import annotations

import contextlib

import numpy as np

from tinyconv.kernels import cpu, reference
from tinyconv.kernels.cpu import _runtime, gen_unrolled
from tinyconv.testing.strategies import conv2d_cases

#: Float32 results must match the reference to ``rtol=1e-5``, float64 to ``1e-12`` (sums are
#: taken in a different order, so they may round differently).
RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


def assert_matches(actual: np.ndarray, expected: np.ndarray, *inputs: np.ndarray) -> None:
    """Same shape and dtype, values equal up to the dtype's rounding (the absolute tolerance is
    scaled by the result's magnitude); ``actual`` is a C-contiguous array sharing no memory with
    any of the ``inputs`` (outputs are never views of inputs)."""
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype
    assert actual.flags.c_contiguous
    assert not any(np.shares_memory(actual, a) for a in inputs)
    rtol = RTOL[expected.dtype]
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def check_conv_against_reference(case) -> None:
    """The three conv kernels of ``tinyconv.kernels.cpu`` (with whatever plan is forced) on a
    :class:`~tinyconv.testing.strategies.ConvCase`, each against the reference; outputs are fresh
    arrays, never a workspace buffer."""
    x, w, grad_y, options = case.x, case.w, case.grad_y, case.options
    y = cpu.conv2d_forward(x, w, *options)
    assert_matches(y, reference.conv2d_forward(x, w, *options), x, w)
    grad_x = cpu.conv2d_backward_input(grad_y, w, x.shape, *options)
    assert_matches(grad_x, reference.conv2d_backward_input(grad_y, w, x.shape, *options),
                   grad_y, w)
    grad_w = cpu.conv2d_backward_weight(x, grad_y, w.shape, *options)
    assert_matches(grad_w, reference.conv2d_backward_weight(x, grad_y, w.shape, *options),
                   x, grad_y)
    for out in (y, grad_x, grad_w):
        assert not any(np.shares_memory(out, b) for b in _runtime.workspace.buffers.values())


def conv_cases():
    """Every option: groups, kernels up to 4×4, strides and dilations up to 3, padding up to 3
    per side, images up to 12×12."""
    return conv2d_cases(max_batch=3, max_channels=6, max_size=12, max_kernel=4, max_stride=3,
                        max_padding=3, max_dilation=3)


def unrolled_cases():
    """What the unrolled kernels serve: stride 1, dilation 1, a size in ``gen_unrolled.SIZES``;
    any padding and groups."""
    return conv2d_cases(kernel_sizes=gen_unrolled.SIZES, max_stride=1, allow_dilation=False,
                        max_batch=3, max_channels=9, max_size=13, max_padding=3)


def winograd_cases():
    """What Winograd computes itself: 3×3, stride 1, dilation 1, no groups, padding up to 2 per
    side (2 is the most a full correlation needs), odd and even sizes (partial last tiles)."""
    return conv2d_cases(kernel_sizes=((3, 3),), max_stride=1, allow_dilation=False,
                        allow_groups=False, max_batch=3, max_channels=4, max_size=13,
                        max_padding=2)


def batch_cases(pointwise: bool = False):
    """Batches up to 9 (two threads take a sample range each from 4 samples on) and strides up
    to 4 (several phases per axis). ``pointwise``: 1×1 kernels, stride 1, no padding (the case
    without im2col)."""
    if pointwise:
        return conv2d_cases(kernel_sizes=((1, 1),), max_stride=1, allow_padding=False,
                            max_batch=9, max_channels=9, max_size=11)
    return conv2d_cases(max_batch=9, max_channels=9, max_size=11, max_kernel=4, max_stride=4,
                        max_padding=2, max_dilation=2)


@contextlib.contextmanager
def threads_always_split():
    """Two threads, and no size threshold: every kernel call and GEMM splits over the threads.
    (Test inputs are tiny, so otherwise only the serial paths would ever run.)"""
    previous = (_runtime.PARALLEL_MIN_FLOPS, _runtime.THREADED_MIN_FLOPS,
                _runtime.GEMM_SPLIT_MIN_FLOPS, _runtime.TWIN_FROM_CALL,
                _runtime.get_num_threads())
    _runtime.PARALLEL_MIN_FLOPS = _runtime.THREADED_MIN_FLOPS = 0
    _runtime.GEMM_SPLIT_MIN_FLOPS = 0
    _runtime.TWIN_FROM_CALL = 1  # the threaded twins from the first call
    cpu.set_num_threads(2)
    try:
        yield
    finally:
        (_runtime.PARALLEL_MIN_FLOPS, _runtime.THREADED_MIN_FLOPS,
         _runtime.GEMM_SPLIT_MIN_FLOPS, _runtime.TWIN_FROM_CALL) = previous[:4]
        cpu.set_num_threads(previous[4])
