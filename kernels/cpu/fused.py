"""What follows most convolutions, fused into one pass: add the bias, apply ReLU (CPU, Numba).

Not one of the seven contract functions: it is an optional part of the kernel-set protocol,
``contract.FusedConvEpilogue``, which ``tinyconv.nn.functional.conv2d_relu`` (and
``conv2d_relu_max_pool2d``) use when the active kernel set has it; without it they compute the
same thing with array operations (NumPy/CuPy), the version to read first.

Why fuse: written as separate operations, ``relu(conv2d(x, w) + b)`` sweeps the convolution's
output three times (add the bias in place, compute the ReLU into a new array, later multiply the
gradient by the ReLU's mask in another new array), each on one thread, and each sweep of a big
activation costs memory bandwidth. Here the forward epilogue is one threaded in-place pass over
the output, and the backward prologue one threaded pass that masks the gradient and sums the
bias gradient at the same time.

Shapes: ``y, out, grad_out: (N, C, P)`` (``P`` = the spatial positions of a plane),
``bias: (C,)``. NaN stays NaN through the ReLU, as in ``numpy.maximum`` and PyTorch.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import settings
from ._runtime import run_jobs, threaded_version_of

__all__ = ["bias_relu", "relu_backward"]


@njit(cache=True, nogil=True)
def _bias_relu_planes(y, bias, job_lo, job_hi):
    """``y[b, ch] = max(y[b, ch] + bias[ch], 0)`` in place, for the planes ``job = b·C + ch`` in
    ``[job_lo, job_hi)``."""
    c = y.shape[1]
    zero = y.dtype.type(0)
    for job in range(job_lo, job_hi):
        plane = y[job // c, job % c]
        shift = bias[job % c]
        for i in range(plane.size):
            v = plane[i] + shift
            plane[i] = zero if v < zero else v  # NaN < 0 is False: NaN stays NaN


@threaded_version_of(_bias_relu_planes)
@njit(parallel=True, nogil=True, cache=True)
def _bias_relu_planes_threaded(bounds, *args):
    """:func:`_bias_relu_planes`, one block of jobs per thread (``run_jobs``)."""
    for t in prange(bounds.size - 1):
        _bias_relu_planes(*args, bounds[t], bounds[t + 1])


def bias_relu(y: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """``y = max(y + bias, 0)`` per channel, **in place** (``y`` is a convolution's fresh output):
    ``y: (N, C, H, W)``, ``bias: (C,)`` or None (no bias). Returns ``y``, or a C-contiguous
    result if ``y`` was not C-contiguous (so use the returned array)."""
    settings.ensure_applied()
    n, c = y.shape[0], y.shape[1]
    # The kernels below walk planes as flat rows: a strided y (say a plan's NHWC result seen as
    # NCHW) is made contiguous first, else reshape would copy and the copy alone be updated.
    y = np.ascontiguousarray(y)
    y3 = y.reshape(n, c, -1)  # a view now
    if bias is None:
        bias = np.zeros(c, dtype=y.dtype)
    run_jobs(_bias_relu_planes, n * c, 2.0 * y.size, y3, bias.astype(y.dtype, copy=False))
    return y


# fastmath "reassoc" lets LLVM add the sum in several lanes at once (SIMD) instead of strictly
# one value after the other: 10x faster here (0.89 -> 0.09 ms for 32x32x16x16 float32, one
# thread), the sum only rounded in another order. No other fast-math flag: NaN must stay NaN.
@njit(cache=True, nogil=True, fastmath={"reassoc"})
def _relu_backward_planes(grad_out, out, grad_z, bias_partial, job_lo, job_hi):
    """``grad_z = grad_out · (out > 0)`` and each plane's sum of it (``bias_partial[b, ch]``, in
    float64), for the planes ``job = b·C + ch`` in ``[job_lo, job_hi)``."""
    c = grad_out.shape[1]
    zero = grad_out.dtype.type(0)
    for job in range(job_lo, job_hi):
        b, ch = job // c, job % c
        g_row, o_row, z_row = grad_out[b, ch], out[b, ch], grad_z[b, ch]
        total = 0.0
        for i in range(g_row.size):
            g = g_row[i] if o_row[i] > zero else zero
            z_row[i] = g
            total += g
        bias_partial[b, ch] = total


@threaded_version_of(_relu_backward_planes)
@njit(parallel=True, nogil=True, cache=True)
def _relu_backward_planes_threaded(bounds, *args):
    """:func:`_relu_backward_planes`, one block of jobs per thread (``run_jobs``)."""
    for t in prange(bounds.size - 1):
        _relu_backward_planes(*args, bounds[t], bounds[t + 1])


def relu_backward(grad_out: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ReLU's backward and the bias gradient in one pass: ``grad_out, out: (N, C, H, W)``
    (``out`` = the ReLU's output) -> ``(grad_z, grad_bias)`` with ``grad_z = grad_out · (out >
    0)`` (fresh, C-contiguous) and ``grad_bias = Σ grad_z`` over the batch and the positions."""
    settings.ensure_applied()
    n, c = out.shape[0], out.shape[1]
    grad_z = np.empty(out.shape, dtype=out.dtype)  # C-contiguous whatever out's layout
    bias_partial = np.empty((n, c), dtype=np.float64)
    run_jobs(_relu_backward_planes, n * c, 2.0 * out.size,
             np.ascontiguousarray(grad_out).reshape(n, c, -1),
             np.ascontiguousarray(out).reshape(n, c, -1), grad_z.reshape(n, c, -1), bias_partial)
    return grad_z, bias_partial.sum(axis=0).astype(out.dtype)
