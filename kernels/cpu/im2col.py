"""Convolution as matrix multiplication: im2col + GEMM (the path for dense layers).

Why: a dense convolution does ``C_in·kH·kW`` multiply-adds per output value, the same work as a
matrix product. BLAS multiplies matrices near the machine's peak (register blocking, cache
tiling, SIMD) — far better than any loop nest we would write. So we *copy* the input into a
matrix whose columns are the windows (im2col), and let BLAS do the arithmetic::

    cols[(ci, ki, kj), b, oh, ow] = x[b, ci, oh*sH + ki*dH - top, ow*sW + kj*dW - left]  (0 outside)

    forward          y[b]   (C_out, P)        = W (C_out, C_in·k²)   @ cols[:, b]  (C_in·k², P)
    grad weight      grad_W (C_out, C_in·k²)  = δᵀ (C_out, nb·P)     @ colsᵀ  (nb·P, C_in·k²)
    grad input       dcols  (C_in·k², nb·P)   = Wᵀ (C_in·k², C_out)  @ δᵀ    (C_out, nb·P)
                     grad_x = col2im(dcols)   (each input pixel gets back what its copies earned)

with ``P = H_out·W_out`` and δᵀ the output gradient reordered to ``(C_out, nb, P)``. Groups use
block ``g`` of the rows of ``cols`` and of ``W``. The copy costs memory traffic (k² copies of the
input), which is why a layer with few FLOPs per value (one input channel, depthwise) is better
served by the direct kernels of ``direct.py``; ``dispatch.py`` chooses.

**Bounded memory.** The column matrix is ``k²`` times the input: the batch is processed in chunks
of ``nb`` samples so that ``cols`` stays below :data:`COLUMN_BYTES_LIMIT` (and in cache-friendly
sizes). Buffers come from the workspace and are reused across calls.

The GEMMs run in Python, between the Numba kernels, not inside ``@njit``: a kernel that calls BLAS
cannot be cached by Numba, and compiling it again in every process would cost seconds.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._runtime import gemm, workspace

#: Largest column matrix (bytes) built at once; the batch is chunked to stay under it.
COLUMN_BYTES_LIMIT = 4 * 2**20


def batch_chunk(n: int, rows: int, positions: int, itemsize: int) -> int:
    """How many samples fit in one column matrix of ``rows x positions`` per sample."""
    per_sample = max(1, rows * positions * itemsize)
    return max(1, min(n, COLUMN_BYTES_LIMIT // per_sample))


@njit(cache=True, inline="always")
def _valid_range(k_offset, stride, size, out):
    """Outputs ``o`` in ``[0, out)`` whose input index ``o*stride + k_offset`` lies in
    ``[0, size)``: returns ``(lo, hi)`` with ``hi >= lo`` (``k_offset`` = tap offset − padding)."""
    lo = 0
    if k_offset < 0:
        lo = (-k_offset + stride - 1) // stride
    hi = 0
    if size - 1 - k_offset >= 0:
        hi = (size - 1 - k_offset) // stride + 1
    hi = min(hi, out)
    lo = min(lo, hi)
    return lo, hi


@njit(parallel=True, cache=True)
def im2col(x, cols, n0, kh, kw, sh, sw, dh, dw, top, left):
    """Fill ``cols: (C·kH·kW, nb, H_out, W_out)`` with the windows of samples ``n0 .. n0+nb`` of
    ``x: (N, C, H, W)`` (C-contiguous, unpadded: taps outside the image are written as 0).

    One parallel job per (row of cols, sample): a row is one (channel, tap) pair, and its copy
    reads one input plane with a fixed offset, row by row (contiguous when the stride is 1).
    """
    rows, nb, h_out, w_out = cols.shape
    h, w = x.shape[2], x.shape[3]
    zero = cols.dtype.type(0)
    for job in prange(rows * nb):
        r = job // nb
        b = job % nb
        ci = r // (kh * kw)
        ki = (r // kw) % kh
        kj = r % kw
        col_offset = kj * dw - left  # input column of output column 0 for this tap
        ow_lo, ow_hi = _valid_range(col_offset, sw, w, w_out)
        for oh in range(h_out):
            dst = cols[r, b, oh]
            ih = oh * sh + ki * dh - top
            if ih < 0 or ih >= h:
                dst[:] = zero  # the whole row is padding
                continue
            dst[:ow_lo] = zero
            dst[ow_hi:] = zero
            src = x[n0 + b, ci, ih, ow_lo * sw + col_offset:]  # starts at the first real tap
            real = dst[ow_lo:]  # slice, don't offset: indices from 0 need no wraparound checks
            count = ow_hi - ow_lo
            if sw == 1:  # contiguous copy (the common case): a slice assignment, a memcpy
                real[:count] = src[:count]
            else:
                for ow in range(count):
                    real[ow] = src[ow * sw]


@njit(parallel=True, cache=True)
def col2im(dcols, grad_x, n0, kh, kw, sh, sw, dh, dw, top, left):
    """The adjoint of :func:`im2col`: ``grad_x[n0+b, ci]`` = the sum of every entry of ``dcols``
    that was copied from that pixel. ``dcols: (C·kH·kW, nb, H_out, W_out)``,
    ``grad_x: (N, C, H, W)`` (planes ``n0 .. n0+nb`` are overwritten).

    One parallel job per input plane ``(b, ci)``: the job owns its plane, so its ``+=`` cannot race
    with another job, and the plane (a few KiB) stays in L1 while its k² rows of ``dcols`` stream
    past. (A whole-array scatter, k² strided passes over all of grad_x, is what makes a NumPy
    col2im slow: every pass misses the cache.)
    """
    rows, nb, h_out, w_out = dcols.shape
    c, h, w = grad_x.shape[1], grad_x.shape[2], grad_x.shape[3]
    zero = grad_x.dtype.type(0)
    for job in prange(nb * c):
        b = job // c
        ci = job % c
        plane = grad_x[n0 + b, ci]
        plane[:, :] = zero
        for ki in range(kh):
            oh_lo, oh_hi = _valid_range(ki * dh - top, sh, h, h_out)
            for kj in range(kw):
                r = (ci * kh + ki) * kw + kj
                col_offset = kj * dw - left
                ow_lo, ow_hi = _valid_range(col_offset, sw, w, w_out)
                for oh in range(oh_lo, oh_hi):
                    src = dcols[r, b, oh, ow_lo:]
                    dst = plane[oh * sh + ki * dh - top, ow_lo * sw + col_offset:]
                    if sw == 1:
                        for ow in range(ow_hi - ow_lo):
                            dst[ow] += src[ow]
                    else:
                        for ow in range(ow_hi - ow_lo):
                            dst[ow * sw] += src[ow]


def to_channel_major(a, n0, out):
    """``out[c, b, p] = a[n0 + b, c, p]``: ``a: (N, C, P)`` -> ``out: (C, nb, P)``, so the gradient
    of a chunk is one ``(C, nb·P)`` matrix for the GEMMs. A plain NumPy copy (memory-bound; a Numba
    kernel would be no faster and would cost another second of compilation on first use)."""
    np.copyto(out, a[n0:n0 + out.shape[1]].transpose(1, 0, 2))


def _geometry(x_shape, w_shape, y_shape, stride, padding, dilation):
    n, c_in, h, w = x_shape
    c_out, c_in_g, kh, kw = w_shape
    h_out, w_out = y_shape[2], y_shape[3]
    return n, c_in, c_out, c_in_g, kh, kw, h_out, w_out


def forward(x, w, y_shape, stride, padding, dilation, groups):
    """``y = x ⋆ w`` by im2col + GEMM. ``x: (N, C_in, H, W)`` C-contiguous,
    ``w: (C_out, C_in/g, kH, kW)`` -> fresh ``y: (N, C_out, H_out, W_out)``."""
    n, c_in, c_out, c_in_g, kh, kw, h_out, w_out = _geometry(x.shape, w.shape, y_shape, stride,
                                                             padding, dilation)
    rows, p = c_in * kh * kw, h_out * w_out
    rows_g, c_out_g = c_in_g * kh * kw, c_out // groups
    y = np.empty(y_shape, dtype=x.dtype)
    y3 = y.reshape(n, c_out, p)
    w2 = w.reshape(c_out, rows_g)
    nb = batch_chunk(n, rows, p, x.itemsize)
    for n0 in range(0, n, nb):
        m = min(nb, n - n0)
        cols = workspace.get("cols", (rows, m, h_out, w_out), x.dtype)
        im2col(x, cols, n0, kh, kw, stride[0], stride[1], dilation[0], dilation[1],
               padding[0], padding[2])
        out = workspace.get("y_cm", (c_out, m * p), x.dtype)  # channel-major: (C_out, nb·P)
        cols2 = cols.reshape(rows, m * p)
        for g in range(groups):
            gemm(w2[g * c_out_g:(g + 1) * c_out_g], cols2[g * rows_g:(g + 1) * rows_g],
                 out[g * c_out_g:(g + 1) * c_out_g])
        # (C_out, nb, P) -> (nb, C_out, P)
        y3[n0:n0 + m] = out.reshape(c_out, m, p).transpose(1, 0, 2)
    return y


def backward_input(grad_y, w, x_shape, stride, padding, dilation, groups):
    """``grad_x = col2im(Wᵀ @ δᵀ)``. ``grad_y: (N, C_out, H_out, W_out)`` C-contiguous."""
    n, c_in, c_out, c_in_g, kh, kw, h_out, w_out = _geometry(x_shape, w.shape, grad_y.shape,
                                                             stride, padding, dilation)
    rows, p = c_in * kh * kw, h_out * w_out
    rows_g, c_out_g = c_in_g * kh * kw, c_out // groups
    grad_x = np.empty(x_shape, dtype=grad_y.dtype)
    w2 = w.reshape(c_out, rows_g)
    gy3 = grad_y.reshape(n, c_out, p)
    nb = batch_chunk(n, rows + c_out, p, grad_y.itemsize)
    for n0 in range(0, n, nb):
        m = min(nb, n - n0)
        delta = workspace.get("delta_cm", (c_out, m, p), grad_y.dtype)
        to_channel_major(gy3, n0, delta)
        delta2 = delta.reshape(c_out, m * p)
        dcols = workspace.get("cols", (rows, m, h_out, w_out), grad_y.dtype)
        dcols2 = dcols.reshape(rows, m * p)
        for g in range(groups):
            gemm(w2[g * c_out_g:(g + 1) * c_out_g].T, delta2[g * c_out_g:(g + 1) * c_out_g],
                 dcols2[g * rows_g:(g + 1) * rows_g])
        col2im(dcols, grad_x, n0, kh, kw, stride[0], stride[1], dilation[0], dilation[1],
               padding[0], padding[2])
    return grad_x


def backward_weight(x, grad_y, w_shape, stride, padding, dilation, groups):
    """``grad_W = Σ_chunks δᵀ @ colsᵀ``. ``x`` and ``grad_y`` C-contiguous."""
    n, c_in, c_out, c_in_g, kh, kw, h_out, w_out = _geometry(x.shape, w_shape, grad_y.shape,
                                                             stride, padding, dilation)
    rows, p = c_in * kh * kw, h_out * w_out
    rows_g, c_out_g = c_in_g * kh * kw, c_out // groups
    grad_w = np.zeros(tuple(w_shape), dtype=x.dtype)
    gw2 = grad_w.reshape(c_out, rows_g)
    gy3 = grad_y.reshape(n, c_out, p)
    nb = batch_chunk(n, rows + c_out, p, x.itemsize)
    for n0 in range(0, n, nb):
        m = min(nb, n - n0)
        cols = workspace.get("cols", (rows, m, h_out, w_out), x.dtype)
        im2col(x, cols, n0, kh, kw, stride[0], stride[1], dilation[0], dilation[1],
               padding[0], padding[2])
        delta = workspace.get("delta_cm", (c_out, m, p), x.dtype)
        to_channel_major(gy3, n0, delta)
        cols2, delta2 = cols.reshape(rows, m * p), delta.reshape(c_out, m * p)
        for g in range(groups):
            gemm(delta2[g * c_out_g:(g + 1) * c_out_g], cols2[g * rows_g:(g + 1) * rows_g].T,
                 gw2[g * c_out_g:(g + 1) * c_out_g], accumulate=n0 > 0)
    return grad_w
