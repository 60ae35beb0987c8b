"""The CPU kernel set: Numba kernels for the seven contract functions, float32 and float64.

A shelf, read from the top:

- ``dispatch.py``: the three convolution functions and the heuristic (one table) that picks a
  *plan* per call; ``problem.py``: what a plan is (``ConvPlan``) and the checked description of
  a call it receives (``ConvProblem``); ``layout.py``: the padding/rotation helpers they share.
- The plans: ``conv.py`` (``"loops"``, the reference's loops compiled: read it next to
  ``reference.py``), ``direct.py``, ``unrolled_plan.py`` (kernels generated into
  ``unrolled.py`` by ``gen_unrolled.py``), ``batch_lanes.py``, ``winograd.py``, ``im2col.py``.
- ``pool.py``: pooling. The optional parts of the protocol: ``batch_norm.py``, the fused batch
  norm (``contract.FusedBatchNorm``), and ``fused.py``, bias + ReLU after a convolution in one
  pass (``contract.FusedConvEpilogue``, here as ``conv_epilogue``).
- ``_runtime.py``: threads, the split GEMM, workspace buffers. ``settings.py``: the
  process-wide settings (BLAS threads, ``malloc``, Numba's threading layer and cache folder),
  applied when the set is first used; ``TINYCONV_PROCESS_SETTINGS=0`` switches them off.

Every function is tested against ``tinyconv.kernels.reference``.

Compilation and its cache
-------------------------
Kernels are compiled by Numba on first use, only for the dtypes and array layouts actually seen,
and cached on disk (``cache=True``), so a later process loads them in milliseconds (where the
cache lives: ``settings.configure_numba_cache``). The first time a kernel really has to be
compiled, one line on stderr says so; :func:`warmup` compiles ahead of time.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from . import settings

# Numba reads its cache folder when a kernel is decorated, so this one setting runs at import
# (and only changes anything when this package's __pycache__ is read-only): settings.py.
settings.configure_numba_cache(os.path.dirname(os.path.abspath(__file__)))

from numba.core import event as _event  # noqa: E402

_announced = [False]


class _CompileAnnouncer(_event.Listener):
    """Prints one line on stderr the first time one of our kernels misses the cache."""

    def on_start(self, event: _event.Event) -> None:
        if _announced[0]:
            return
        dispatcher = (event.data or {}).get("dispatcher")
        module = getattr(getattr(dispatcher, "py_func", None), "__module__", "") or ""
        if module.startswith(("tinyconv.kernels", "kernels.")):
            _announced[0] = True
            print("tinyconv: compiling kernels, once (cached afterwards)...", file=sys.stderr,
                  flush=True)

    def on_end(self, event: _event.Event) -> None:
        pass


_event.register("numba:compile", _CompileAnnouncer())

# batch_norm and conv_epilogue (fused.py) are the optional parts of the protocol
from . import _runtime, batch_norm  # noqa: E402
from . import fused as conv_epilogue  # noqa: E402
from ._runtime import get_num_threads, set_num_threads, workspace  # noqa: E402
from .dispatch import (  # noqa: E402
    PLANS,
    choose_plan,
    conv2d_backward_input,
    conv2d_backward_weight,
    conv2d_forward,
    force_plan,
    plan_name,
)
from .pool import (  # noqa: E402
    avg_pool2d_backward,
    avg_pool2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)

__all__ = [
    # the kernel contract
    "avg_pool2d_backward",
    "avg_pool2d_forward",
    "conv2d_backward_input",
    "conv2d_backward_weight",
    "conv2d_forward",
    "max_pool2d_backward",
    "max_pool2d_forward",
    # its optional parts, and the controls of this set
    "PLANS",
    "batch_norm",
    "conv_epilogue",
    "choose_plan",
    "force_plan",
    "get_num_threads",
    "plan_name",
    "set_num_threads",
    "warmup",
    "workspace",
]

#: Convolutions on which the heuristic picks each plan but ``"loops"`` (with both paddings,
#: stride-1 and strided kernels): ``(x_shape, w_shape, stride, dilation, groups)``.
WARMUP_CONVOLUTIONS = (
    ((2, 2, 6, 6), (2, 2, 3, 3), (1, 1), (1, 1), 1),     # unrolled 3x3
    ((2, 2, 8, 8), (2, 2, 5, 5), (1, 1), (1, 1), 1),     # unrolled 5x5
    ((8, 4, 6, 6), (2, 4, 5, 5), (1, 1), (1, 1), 1),     # batch lanes (input gradient: im2col)
    ((2, 24, 18, 18), (2, 24, 3, 3), (1, 1), (1, 1), 1),  # winograd (>= 128 tiles)
    ((2, 2, 6, 6), (2, 2, 2, 2), (1, 1), (1, 1), 1),     # direct, stride 1 (no 2x2 unrolled)
    ((2, 2, 6, 6), (2, 2, 3, 3), (2, 2), (1, 1), 1),     # direct, strided
    ((2, 8, 6, 6), (2, 8, 3, 3), (2, 2), (1, 1), 1),     # im2col, strided
    ((2, 4, 6, 6), (2, 4, 1, 1), (1, 1), (1, 1), 1),     # im2col, 1x1
)


def warmup(dtypes: tuple[str, ...] = ("float32",), verbose: bool = True) -> float:
    """Compile (or load from the cache) every CPU kernel for ``dtypes`` now; returns seconds.

    Runs the three steps of :data:`WARMUP_CONVOLUTIONS` (the plans are the heuristic's
    choices, not forced), each pooling kernel, the fused batch norm and the fused bias + ReLU
    once on tiny inputs, which is what triggers Numba; with more than one thread, every call is
    split, so that the kernels' threaded twins are compiled too. ``tinyconv warmup`` calls this.
    """
    start = time.perf_counter()
    previous = (_runtime.THREADED_MIN_FLOPS, _runtime.TWIN_FROM_CALL)
    # tiny inputs, but split, and through the twins at once: compile the threaded twins too
    _runtime.THREADED_MIN_FLOPS, _runtime.TWIN_FROM_CALL = 0, 1
    try:
        _warmup(dtypes, verbose)
    finally:
        _runtime.THREADED_MIN_FLOPS, _runtime.TWIN_FROM_CALL = previous
    return time.perf_counter() - start


def _warmup(dtypes: tuple[str, ...], verbose: bool) -> None:
    for name in dtypes:
        dtype = np.dtype(name)
        t0 = time.perf_counter()
        for x_shape, w_shape, stride, dilation, groups in WARMUP_CONVOLUTIONS:
            x, w = np.ones(x_shape, dtype=dtype), np.ones(w_shape, dtype=dtype)
            for padding in ((0, 0, 0, 0), (1, 1, 1, 1)):
                options = (stride, padding, dilation, groups)
                y = conv2d_forward(x, w, *options)
                conv2d_backward_input(y, w, x.shape, *options)
                conv2d_backward_weight(x, y, w.shape, *options)
        x = np.ones((2, 2, 6, 6), dtype=dtype)
        y, indices = max_pool2d_forward(x, (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), False)
        max_pool2d_backward(y, indices, x.shape)
        y = avg_pool2d_forward(x, (2, 2), (2, 2), (0, 0, 0, 0), False, True)
        avg_pool2d_backward(y, x.shape, (2, 2), (2, 2), (0, 0, 0, 0), False, True)
        x3, gamma = x.reshape(2, 2, 36), np.ones(2, dtype=dtype)
        y3, mean, _, inv_std = batch_norm.forward(x3, gamma, gamma, 1e-5)
        batch_norm.backward(y3, x3, mean, inv_std, gamma)
        batch_norm.inference(x3, gamma, gamma)
        y = conv_epilogue.bias_relu(x.copy(), gamma)
        conv_epilogue.relu_backward(y, y)
        if verbose:
            print(f"tinyconv: {name} kernels ready ({time.perf_counter() - t0:.1f} s)",
                  file=sys.stderr)
