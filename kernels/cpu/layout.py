"""Layout helpers the convolution plans share: zero padding, the rotated kernel, the dilated δ.

Each exists once, here. They copy arrays into the layout a plan's loops want, so that the loops
need no "is this tap inside the image?" tests:

- :func:`zero_padded`: ``x: (N, C, H, W)`` inside a border of zeros (plus spare zero rows at the
  bottom for plans whose passes run over whole SIMD registers);
- :func:`zero_padded_batch_last`: the same with the batch innermost, ``(C, Hp, Wp, N)``;
- :func:`rotated_transposed`: the input gradient's kernel (each filter turned by 180°, input and
  output channels swapped within each group);
- :func:`dilated_delta`: δ with ``s - 1`` zeros between its entries (the stride) and a border.

Padded copies go into a named workspace buffer (reused between calls, see ``_runtime``) or, with
``name=None``, into a fresh array.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..contract import Padding4, Pair
from ._runtime import run_jobs, threaded_version_of, workspace

__all__ = ["dilated_delta", "rotated_transposed", "zero_padded", "zero_padded_batch_last"]


def _buffer(name: str | None, shape: tuple, dtype: np.dtype) -> np.ndarray:
    """A C-contiguous array of ``shape`` with garbage in it: the workspace's ``name``, or new."""
    return np.empty(shape, dtype=dtype) if name is None else workspace.get(name, shape, dtype)


def zero_padded(a: np.ndarray, padding: Padding4, name: str | None = None,
                extra_rows: int = 0) -> np.ndarray:
    """``a: (N, C, H, W)`` (any strides) copied into the middle of zeros
    ``(N, C, top + H + bottom + extra_rows, left + W + right)``.

    ``extra_rows`` zero rows below the bottom padding let a pass rounded up to whole SIMD
    registers read past the last row and stay inside the plane. Without padding or extra rows a
    C-contiguous ``a`` is returned as it is (the plans only read it).
    """
    top, bottom, left, right = padding
    n, c, h, w = a.shape
    if top == bottom == left == right == extra_rows == 0 and a.flags.c_contiguous:
        return a
    shape = (n, c, top + h + bottom + extra_rows, left + w + right)
    padded = _buffer(name, shape, a.dtype)
    # a big copy is split over the threads, a small one runs here (a parallel region would cost
    # more than the copy: 34 µs against 7 for LeNet's first layer)
    run_jobs(_pad_planes, n * c, float(padded.size), a, padded, top, left)
    return padded


@njit(cache=True, nogil=True)
def _pad_planes(a: np.ndarray, padded: np.ndarray, top: int, left: int, job_lo: int,
                job_hi: int) -> None:
    """Zero the planes ``job = b·C + ch`` in ``[job_lo, job_hi)`` of ``padded`` and copy ``a``'s
    into them at ``(top, left)``."""
    c, h, w = a.shape[1], a.shape[2], a.shape[3]
    zero = padded.dtype.type(0)
    for job in range(job_lo, job_hi):
        b = job // c
        ch = job % c
        plane = padded[b, ch]
        plane[:, :] = zero
        for i in range(h):
            dst = plane[top + i, left:]
            src = a[b, ch, i]
            for j in range(w):
                dst[j] = src[j]


@threaded_version_of(_pad_planes)
@njit(parallel=True, nogil=True, cache=True)
def _pad_planes_threaded(bounds, *args):
    """:func:`_pad_planes`, one block of jobs per thread (``run_jobs``)."""
    for t in prange(bounds.size - 1):
        _pad_planes(*args, bounds[t], bounds[t + 1])


def zero_padded_batch_last(a: np.ndarray, padding: Padding4, name: str) -> np.ndarray:
    """``a: (N, C, H, W)`` -> ``(C, top + H + bottom, left + W + right, N)``: the batch innermost
    (each pixel a run of N samples, the SIMD lanes of ``batch_lanes.py``), zero-padded, in the
    workspace buffer ``name``."""
    top, bottom, left, right = padding
    n, c, h, w = a.shape
    padded = workspace.get(name, (c, top + h + bottom, left + w + right, n), a.dtype)
    padded[:, :top] = 0
    padded[:, top + h:] = 0
    padded[:, top:top + h, :left] = 0
    padded[:, top:top + h, left + w:] = 0
    padded[:, top:top + h, left:left + w] = a.transpose(1, 2, 3, 0)
    return padded


def rotated_transposed(w: np.ndarray, groups: int) -> np.ndarray:
    """The input gradient's kernel: ``w: (C_out, C_in/g, kH, kW)`` -> fresh
    ``(C_in, C_out/g, kH, kW)``, input and output channels swapped within each group and each
    filter turned by 180° (``reference.conv2d_backward_input``, step 3). A forward pass with it
    over the fully padded δ is the input gradient."""
    c_out, c_in_g, kh, kw = w.shape
    per_group = w.reshape(groups, c_out // groups, c_in_g, kh, kw).transpose(0, 2, 1, 3, 4)
    return np.ascontiguousarray(per_group[..., ::-1, ::-1]).reshape(groups * c_in_g,
                                                                   c_out // groups, kh, kw)


def dilated_delta(grad_y: np.ndarray, stride: Pair, border: Pair) -> np.ndarray:
    """Steps 1 and 2 of ``reference.conv2d_backward_input``: ``grad_y: (N, C, H_out, W_out)``
    with ``s - 1`` zeros between neighbouring entries (the stride) and ``border`` zeros on each
    side (``(along H, along W)``), as a fresh ``(N, C, (H_out-1)·sH + 1 + 2·border_h, ...)``."""
    n, c, h_out, w_out = grad_y.shape
    (sh, sw), (bh, bw) = stride, border
    dilated_h, dilated_w = (h_out - 1) * sh + 1, (w_out - 1) * sw + 1
    delta = np.zeros((n, c, dilated_h + 2 * bh, dilated_w + 2 * bw), dtype=grad_y.dtype)
    delta[:, :, bh:bh + dilated_h:sh, bw:bw + dilated_w:sw] = grad_y
    return delta
