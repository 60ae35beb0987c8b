"""Pooling kernels for the CPU, compiled by Numba.

Same structure as ``conv.py``: a Python wrapper per contract function validates (``contract.py``),
makes the inputs C-contiguous and allocates the output, then calls one Numba kernel whose loops
mirror ``reference.py``. Every job owns one ``(n, c)`` plane, of the output in the forward passes
and of the input gradient in the backward passes, so the backward scatters (``+=`` into
overlapping windows) cannot race. The general kernels are ``prange`` kernels; the written-out
ones and the max-pooling backward are serial ``nogil`` functions over a range of planes, split
over threads by ``_runtime.run_jobs`` (small calls stay on the calling thread, which a ``prange``
kernel cannot do). Moving the general average-pooling kernels to ``run_jobs`` measured no better
(3×3 windows: forward the same, backward 5-20 % slower), so they stayed as they were.

The common 2×2 / stride-2 / unpadded case has written-out kernels for both max and average
pooling: no window clipping, no divisor, four taps in straight-line code. Average pooling
2×2, general kernel → written-out kernel (ms, 2 threads, interleaved in one process; ranges over
four runs on a noisy host): (64, 16, 28, 28) forward 1.2-2.1 → 0.13-0.21, backward 1.2-1.9 →
0.25-0.35; (32, 64, 32, 32) forward 2.8-4.6 → 0.25-0.30, backward 2.9-4.7 → 0.6-1.0.

Pooling needs no padded copy of the input: padding is not a value here (max pooling treats it as
-inf, so it never wins; average pooling leaves it out of the sum). Instead each window is clipped
once to the taps that land on real input elements, and the inner loops run over those taps only,
with no bounds tests. The reference skips padding taps one by one; the result is the same.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..contract import (
    Padding4,
    Pair,
    check_conv2d_grad_y,
    check_float_array,
    check_max_pool2d_backward,
    check_pool2d,
)
from . import settings
from ._runtime import run_jobs, threaded_version_of

__all__ = ["avg_pool2d_backward", "avg_pool2d_forward", "max_pool2d_backward",
           "max_pool2d_forward"]


@njit(cache=True)
def _real_taps(start, k, dilation, size):
    """Taps ``i < k`` of a window whose taps sit at ``start + i*dilation``: returns
    ``(first, stop)``, the range of taps that land inside ``[0, size)``, the real input (the others
    are padding, or overhang in ceil_mode). The taps inside are consecutive in ``i``."""
    first = 0
    while first < k and start + first * dilation < 0:
        first += 1
    stop = k
    while stop > first and start + (stop - 1) * dilation >= size:
        stop -= 1
    return first, stop


@njit(cache=True)
def _avg_pool_window(start, k, size, pad_after):
    """One axis of an average-pooling window (same as ``reference._avg_pool_window``): returns
    ``(first, stop, padded_length)``, the real elements ``[first, stop)`` of ``[start, start + k)``
    and the window's length clipped to the padded extent (ceil_mode overhang never counts)."""
    end_in_padding = min(start + k, size + pad_after)
    return max(start, 0), min(end_in_padding, size), end_in_padding - start


@njit(cache=True, inline="always")
def _avg_pool_cell(row_start, col_start, kernel_h, kernel_w, h, width, pad_bottom, pad_right,
                   count_include_pad):
    """The window of one average-pooling output whose corner sits at ``(row_start, col_start)``
    of the unpadded input: ``(row0, row1, col0, col1, divisor)``, its real elements
    ``[row0, row1) x [col0, col1)`` and PyTorch's divisor (``reference.avg_pool2d_forward``)."""
    row0, row1, padded_rows = _avg_pool_window(row_start, kernel_h, h, pad_bottom)
    col0, col1, padded_cols = _avg_pool_window(col_start, kernel_w, width, pad_right)
    if count_include_pad:
        return row0, row1, col0, col1, padded_rows * padded_cols
    return row0, row1, col0, col1, (row1 - row0) * (col1 - col0)


# ------------------------------------------------------------------------------------------------
# Max pooling
# ------------------------------------------------------------------------------------------------

@njit(parallel=True, cache=True)
def _max_pool2d_forward_kernel(x, y, indices, kernel_h, kernel_w, stride_h, stride_w,
                               pad_top, pad_left, dilation_h, dilation_w):
    """Max and first argmax of every window; one ``(n, c)`` plane per parallel job.

    ``x: (N, C, H, W)``; ``y: (N, C, H_out, W_out)`` and ``indices`` (int64, flat ``h*W + w`` in
    the unpadded plane) are written.
    """
    n, c, h, width = x.shape
    h_out, w_out = y.shape[2], y.shape[3]
    for job in prange(n * c):
        b = job // c
        ch = job % c
        for oh in range(h_out):
            row0 = oh * stride_h - pad_top  # window corner, unpadded coordinates
            ki0, ki1 = _real_taps(row0, kernel_h, dilation_h, h)
            for ow in range(w_out):
                col0 = ow * stride_w - pad_left
                kj0, kj1 = _real_taps(col0, kernel_w, dilation_w, width)
                first_row, first_col = row0 + ki0 * dilation_h, col0 + kj0 * dilation_w
                window = x[b, ch, first_row:, first_col:]  # starts at the first real tap
                best_value = x.dtype.type(-np.inf)
                best_index = -1
                for i in range(ki1 - ki0):
                    for j in range(kj1 - kj0):
                        value = window[i * dilation_h, j * dilation_w]
                        # The first real element starts the race (even if it is -inf); later
                        # ones must be strictly greater (ties go to the first), or NaN.
                        if best_index < 0 or value > best_value or np.isnan(value):
                            best_value = value
                            best_index = ((first_row + i * dilation_h) * width
                                          + first_col + j * dilation_w)
                y[b, ch, oh, ow] = best_value
                indices[b, ch, oh, ow] = best_index


@njit(cache=True, nogil=True)
def _max_pool2d_2x2_kernel(x, y, indices, job_lo, job_hi):
    """The common case, 2×2 windows with stride 2, no padding, no dilation, written out: the four
    taps of a window are ``r0[2ow], r0[2ow+1], r1[2ow], r1[2ow+1]`` with ``r0, r1`` input rows
    ``2oh, 2oh+1``; the race is the one of :func:`_max_pool2d_forward_kernel` (first element
    starts, a later one takes over if strictly greater or NaN), with no clipping to compute.
    Planes ``job = b·C + ch`` in ``[job_lo, job_hi)``; shapes as there."""
    c, width = x.shape[1], x.shape[3]
    h_out, w_out = y.shape[2], y.shape[3]
    for job in range(job_lo, job_hi):
        b = job // c
        ch = job % c
        for oh in range(h_out):
            r0 = x[b, ch, 2 * oh]
            r1 = x[b, ch, 2 * oh + 1]
            y_row = y[b, ch, oh]
            i_row = indices[b, ch, oh]
            first = 2 * oh * width  # flat index of the window row's first element
            for ow in range(w_out):
                # Each step: does tap v take over? Written with `|` and `a if c else b` rather
                # than `if ... or ...:` so that LLVM emits selects instead of branches that
                # mispredict on random data (3x faster here). `v != v` is the NaN test.
                j = 2 * ow
                best = r0[j]
                tap = 0
                v = r0[j + 1]
                take = (v > best) | (v != v)
                best = v if take else best
                tap = 1 if take else tap
                v = r1[j]
                take = (v > best) | (v != v)
                best = v if take else best
                tap = width if take else tap  # one row down
                v = r1[j + 1]
                take = (v > best) | (v != v)
                best = v if take else best
                tap = width + 1 if take else tap
                y_row[ow] = best
                i_row[ow] = first + j + tap


@threaded_version_of(_max_pool2d_2x2_kernel)
@njit(parallel=True, nogil=True, cache=True)
def _max_pool2d_2x2_kernel_threaded(bounds, *args):
    """:func:`_max_pool2d_2x2_kernel`, one block of jobs per thread (``run_jobs``)."""
    for t in prange(bounds.size - 1):
        _max_pool2d_2x2_kernel(*args, bounds[t], bounds[t + 1])


def max_pool2d_forward(x: np.ndarray, kernel: Pair, stride: Pair, padding: Padding4,
                       dilation: Pair, ceil_mode: bool) -> tuple[np.ndarray, np.ndarray]:
    """Max pooling (see ``reference.max_pool2d_forward`` for the rules).

    ``x: (N, C, H, W)`` -> ``(y, indices)``, both ``(N, C, H_out, W_out)``, indices int64.
    """
    op = "max_pool2d_forward"
    check_float_array(op, "x", x)
    y_shape = check_pool2d(op, x.shape, kernel, stride, padding, dilation, ceil_mode)
    settings.ensure_applied()
    y = np.empty(y_shape, dtype=x.dtype)
    indices = np.empty(y_shape, dtype=np.int64)
    x = np.ascontiguousarray(x)
    n, c, h_out, w_out = y_shape
    if (tuple(kernel) == tuple(stride) == (2, 2) and tuple(padding) == (0, 0, 0, 0)
            and tuple(dilation) == (1, 1) and 2 * h_out <= x.shape[2] and 2 * w_out <= x.shape[3]):
        # every window whole (no ceil_mode overhang): the written-out 2x2 kernel
        run_jobs(_max_pool2d_2x2_kernel, n * c, 4.0 * y.size, x, y, indices)
        return y, indices
    # ceil_mode only changes the output size; the clipping of each window handles the overhang.
    _max_pool2d_forward_kernel(x, y, indices, kernel[0], kernel[1],
                               stride[0], stride[1], padding[0], padding[2],
                               dilation[0], dilation[1])
    return y, indices


@njit(cache=True, nogil=True)
def _max_pool2d_backward_kernel(grad_y, indices, grad_x_flat, job_lo, job_hi):
    """Route each window's δ to its winner, for the planes ``job = b·C + ch`` in
    ``[job_lo, job_hi)``: zero the plane, then add. (Zeroing here, not with ``np.zeros`` up front,
    writes each plane while it is in cache, once.)

    ``grad_y, indices: (N, C, H_out, W_out)``; ``grad_x_flat: (N, C, H*W)`` (written).
    """
    c, h_out, w_out = grad_y.shape[1], grad_y.shape[2], grad_y.shape[3]
    zero = grad_x_flat.dtype.type(0)
    for job in range(job_lo, job_hi):
        b = job // c
        ch = job % c
        plane = grad_x_flat[b, ch]
        plane[:] = zero
        for oh in range(h_out):
            d_row = grad_y[b, ch, oh]
            i_row = indices[b, ch, oh]
            for ow in range(w_out):
                plane[i_row[ow]] += d_row[ow]


@threaded_version_of(_max_pool2d_backward_kernel)
@njit(parallel=True, nogil=True, cache=True)
def _max_pool2d_backward_kernel_threaded(bounds, *args):
    """:func:`_max_pool2d_backward_kernel`, one block of jobs per thread (``run_jobs``)."""
    for t in prange(bounds.size - 1):
        _max_pool2d_backward_kernel(*args, bounds[t], bounds[t + 1])


def max_pool2d_backward(grad_y: np.ndarray, indices: np.ndarray,
                        x_shape: tuple) -> np.ndarray:
    """``grad_x`` of max pooling: each δ goes to its window's winner (overlapping windows add).

    ``grad_y, indices: (N, C, H_out, W_out)``, ``x_shape = (N, C, H, W)``
    -> ``grad_x: (N, C, H, W)``.
    The wrapper checks every index lies in ``[0, H*W)``, so the kernel cannot write out of bounds.
    """
    op = "max_pool2d_backward"
    check_max_pool2d_backward(op, grad_y, indices, x_shape)
    settings.ensure_applied()
    n, c, h, width = x_shape
    grad_x_flat = np.empty((n, c, h * width), dtype=grad_y.dtype)
    run_jobs(_max_pool2d_backward_kernel, n * c, float(n * c * h * width),
             np.ascontiguousarray(grad_y), np.ascontiguousarray(indices), grad_x_flat)
    return grad_x_flat.reshape(n, c, h, width)


# ------------------------------------------------------------------------------------------------
# Average pooling
# ------------------------------------------------------------------------------------------------

@njit(parallel=True, cache=True)
def _avg_pool2d_forward_kernel(x, y, kernel_h, kernel_w, stride_h, stride_w,
                               pad_top, pad_bottom, pad_left, pad_right, count_include_pad):
    """Mean of every window, PyTorch's divisor; one ``(n, c)`` plane per parallel job.

    ``x: (N, C, H, W)``; ``y: (N, C, H_out, W_out)`` is written.
    """
    n, c, h, width = x.shape
    h_out, w_out = y.shape[2], y.shape[3]
    for job in prange(n * c):
        b = job // c
        ch = job % c
        for oh in range(h_out):
            for ow in range(w_out):
                row0, row1, col0, col1, divisor = _avg_pool_cell(
                    oh * stride_h - pad_top, ow * stride_w - pad_left, kernel_h, kernel_w, h,
                    width, pad_bottom, pad_right, count_include_pad)
                window = x[b, ch, row0:, col0:]
                acc = y.dtype.type(0)
                for i in range(row1 - row0):
                    for j in range(col1 - col0):
                        acc += window[i, j]
                y[b, ch, oh, ow] = acc / y.dtype.type(divisor)



@njit(cache=True, nogil=True)
def _avg_pool2d_2x2_kernel(x, y, job_lo, job_hi):
    """The common case, 2×2 windows with stride 2, no padding, every window whole, written out:
    ``y[oh, ow] = (r0[2ow] + r0[2ow+1] + r1[2ow] + r1[2ow+1]) / 4`` with ``r0, r1`` input rows
    ``2oh, 2oh+1``. The divisor is 4 whatever ``count_include_pad`` says (no padding, no
    overhang), and ``* 0.25`` is exactly ``/ 4`` (a power of two). No window clipping, no divisor
    to compute: the loop is four loads, three adds and a multiply, which LLVM vectorises.
    Planes ``job = b·C + ch`` in ``[job_lo, job_hi)``; ``x: (N, C, H, W)``,
    ``y: (N, C, H_out, W_out)`` (written).
    """
    c = x.shape[1]
    h_out, w_out = y.shape[2], y.shape[3]
    quarter = y.dtype.type(0.25)
    for job in range(job_lo, job_hi):
        b = job // c
        ch = job % c
        for oh in range(h_out):
            r0 = x[b, ch, 2 * oh]
            r1 = x[b, ch, 2 * oh + 1]
            y_row = y[b, ch, oh]
            for ow in range(w_out):
                j = 2 * ow
                y_row[ow] = ((r0[j] + r0[j + 1]) + (r1[j] + r1[j + 1])) * quarter


@threaded_version_of(_avg_pool2d_2x2_kernel)
@njit(parallel=True, nogil=True, cache=True)
def _avg_pool2d_2x2_kernel_threaded(bounds, *args):
    """:func:`_avg_pool2d_2x2_kernel`, one block of jobs per thread (``run_jobs``)."""
    for t in prange(bounds.size - 1):
        _avg_pool2d_2x2_kernel(*args, bounds[t], bounds[t + 1])


def _is_whole_2x2(x_shape: tuple, kernel: Pair, stride: Pair, padding: Padding4,
                  y_shape: tuple) -> bool:
    """2×2 windows, stride 2, no padding, and no ceil_mode overhang: every window has 4 real
    elements (an odd last row or column is simply not covered, as in the reference)."""
    return (tuple(kernel) == tuple(stride) == (2, 2) and tuple(padding) == (0, 0, 0, 0)
            and 2 * y_shape[2] <= x_shape[2] and 2 * y_shape[3] <= x_shape[3])


def avg_pool2d_forward(x: np.ndarray, kernel: Pair, stride: Pair, padding: Padding4,
                       ceil_mode: bool, count_include_pad: bool) -> np.ndarray:
    """Average pooling (see ``reference.avg_pool2d_forward`` for the divisor rules).

    ``x: (N, C, H, W)`` -> ``y: (N, C, H_out, W_out)``.
    """
    op = "avg_pool2d_forward"
    check_float_array(op, "x", x)
    y_shape = check_pool2d(op, x.shape, kernel, stride, padding, (1, 1), ceil_mode)
    settings.ensure_applied()
    y = np.empty(y_shape, dtype=x.dtype)
    x = np.ascontiguousarray(x)
    n, c = y_shape[0], y_shape[1]
    if _is_whole_2x2(x.shape, kernel, stride, padding, y_shape):
        run_jobs(_avg_pool2d_2x2_kernel, n * c, 4.0 * y.size, x, y)
        return y
    top, bottom, left, right = padding
    _avg_pool2d_forward_kernel(x, y, kernel[0], kernel[1], stride[0], stride[1], top, bottom,
                               left, right, bool(count_include_pad))
    return y


@njit(parallel=True, cache=True)
def _avg_pool2d_backward_kernel(grad_y, grad_x, kernel_h, kernel_w, stride_h, stride_w,
                                pad_top, pad_bottom, pad_left, pad_right, count_include_pad):
    """Spread ``δ / divisor`` over every window's real elements; one ``(n, c)`` plane per job.

    ``grad_y: (N, C, H_out, W_out)``; ``grad_x: (N, C, H, W)`` zeros, accumulated.
    """
    n, c, h, width = grad_x.shape
    h_out, w_out = grad_y.shape[2], grad_y.shape[3]
    for job in prange(n * c):
        b = job // c
        ch = job % c
        for oh in range(h_out):
            for ow in range(w_out):
                row0, row1, col0, col1, divisor = _avg_pool_cell(
                    oh * stride_h - pad_top, ow * stride_w - pad_left, kernel_h, kernel_w, h,
                    width, pad_bottom, pad_right, count_include_pad)
                share = grad_y[b, ch, oh, ow] / grad_x.dtype.type(divisor)
                window = grad_x[b, ch, row0:, col0:]
                for i in range(row1 - row0):
                    for j in range(col1 - col0):
                        window[i, j] += share



@njit(cache=True, nogil=True)
def _avg_pool2d_2x2_backward_kernel(grad_y, grad_x, job_lo, job_hi):
    """The adjoint of :func:`_avg_pool2d_2x2_kernel`: each ``δ[oh, ow] / 4`` is written to the
    four elements of its window (the windows tile the plane, nothing overlaps, so this is a plain
    store, no ``+=``); an odd last row or column, covered by no window, gets 0. Every element of
    the planes ``job = b·C + ch`` in ``[job_lo, job_hi)`` is written once.

    ``grad_y: (N, C, H_out, W_out)``; ``grad_x: (N, C, H, W)`` (written).
    """
    c = grad_x.shape[1]
    h_out, w_out = grad_y.shape[2], grad_y.shape[3]
    quarter = grad_x.dtype.type(0.25)
    zero = grad_x.dtype.type(0)
    for job in range(job_lo, job_hi):
        b = job // c
        ch = job % c
        for oh in range(h_out):
            d_row = grad_y[b, ch, oh]
            g0 = grad_x[b, ch, 2 * oh]
            g1 = grad_x[b, ch, 2 * oh + 1]
            for ow in range(w_out):
                share = d_row[ow] * quarter
                g0[2 * ow] = share
                g0[2 * ow + 1] = share
                g1[2 * ow] = share
                g1[2 * ow + 1] = share
            g0[2 * w_out:] = zero  # the uncovered last column (odd width)
            g1[2 * w_out:] = zero
        grad_x[b, ch, 2 * h_out:] = zero  # the uncovered last row (odd height)


@threaded_version_of(_avg_pool2d_2x2_backward_kernel)
@njit(parallel=True, nogil=True, cache=True)
def _avg_pool2d_2x2_backward_kernel_threaded(bounds, *args):
    """:func:`_avg_pool2d_2x2_backward_kernel`, one block of jobs per thread (``run_jobs``)."""
    for t in prange(bounds.size - 1):
        _avg_pool2d_2x2_backward_kernel(*args, bounds[t], bounds[t + 1])


def avg_pool2d_backward(grad_y: np.ndarray, x_shape: tuple, kernel: Pair, stride: Pair,
                        padding: Padding4, ceil_mode: bool,
                        count_include_pad: bool) -> np.ndarray:
    """``grad_x`` of average pooling: each window spreads ``δ / divisor`` over its real elements.

    ``grad_y: (N, C, H_out, W_out)``, ``x_shape = (N, C, H, W)`` -> ``grad_x: (N, C, H, W)``.
    """
    op = "avg_pool2d_backward"
    check_float_array(op, "grad_y", grad_y)
    y_shape = check_pool2d(op, x_shape, kernel, stride, padding, (1, 1), ceil_mode)
    check_conv2d_grad_y(op, grad_y.shape, y_shape)
    settings.ensure_applied()
    grad_y = np.ascontiguousarray(grad_y)
    n, c = y_shape[0], y_shape[1]
    if _is_whole_2x2(x_shape, kernel, stride, padding, y_shape):
        grad_x = np.empty(tuple(x_shape), dtype=grad_y.dtype)  # the kernel writes every element
        run_jobs(_avg_pool2d_2x2_backward_kernel, n * c, float(grad_x.size), grad_y, grad_x)
        return grad_x
    grad_x = np.zeros(tuple(x_shape), dtype=grad_y.dtype)
    top, bottom, left, right = padding
    _avg_pool2d_backward_kernel(grad_y, grad_x, kernel[0], kernel[1], stride[0], stride[1], top,
                                bottom, left, right, bool(count_include_pad))
    return grad_x
