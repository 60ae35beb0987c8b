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

**Strided windows are contiguous in a phase plane.** With stride ``s``, the taps of one kernel
position read every ``s``-th input element: a gather, which runs at a fraction of a copy's speed.
Split each input plane into its ``sH·sW`` *phases*, ``phase[pi, pj][i, j] = x[i·sH + pi,
j·sW + pj]``. A tap at input offset ``o = k·d - pad`` along an axis reads ``x[out·s + o]`` =
``phase[o mod s][out + o div s]``: one phase plane, consecutive elements. im2col then splits the
plane once (one pass over the input) and copies every tap as contiguous runs; col2im adds into
phase planes and interleaves them back once. With stride 1 there is one phase, the plane itself.

**A 1×1 convolution with stride 1 and no padding needs no im2col**: its column matrix is the
input itself, ``(C_in, P)`` per sample, so the chunk's columns are the input reordered to
channel-major (or, for a one-sample chunk, the sample itself, no copy at all).

**Bounded memory.** The column matrix is ``k²`` times the input: the batch is processed in chunks
of ``nb`` samples so that ``cols`` stays below :data:`COLUMN_BYTES_LIMIT` and, where one sample
allows, :data:`CACHE_CHUNK_BYTES` (L2-sized), in chunks of equal size. Buffers come from the
workspace (one per thread) and are reused across calls.

**Threads: samples first.** With at least two samples per thread, each thread takes a range of
samples and runs the whole pipeline (im2col, GEMM, reorder / col2im) on it alone, with serial
kernels and single-threaded BLAS: no hand-off between steps, no thread waiting on another's GEMM
half, and each GEMM keeps all its rows and columns. Smaller batches run on the calling thread
and split each step instead (kernels over jobs with ``run_jobs``, GEMMs by :func:`gemm`).
Forward+backward kernels (ms, same process, medians of 9 interleaved runs), before → after, at
2 threads / 1 thread: 1×1 256→64 at 14×14 (N=32) 12.7 → 7.6 / 14.1 → 10.5; 3×3/stride 2 64→128
at 32×32 (N=16) 27.8 → 17.9 / 29.3 → 26.0; AlexNet's 11×11/stride 4 (N=8) 58 → 41 / 85 → 73
(see the docstring of :func:`forward` for where the time went).

The GEMMs run in Python, between the Numba kernels, not inside ``@njit``: a kernel that calls BLAS
cannot be cached by Numba, and compiling it again in every process would cost seconds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numba import njit, prange

from ._runtime import gemm, gemm_block, get_num_threads, run_jobs, threaded_version_of, workspace
from .problem import ConvProblem, Step

__all__ = ["Im2colPlan", "batch_chunk", "col2im_kernel", "im2col_kernel", "to_channel_major"]

#: Largest column matrix (bytes) built at once; the batch is chunked to stay under it.
COLUMN_BYTES_LIMIT = 4 * 2**20

#: Preferred column matrix size (bytes): about one core's L2 cache (1 MiB here), so that the
#: matrix im2col has just written is still in L2 when the GEMM reads it. Forward+backward at 2
#: threads, chunks of at most 4 / 1 MiB: 1×1 256→64 at 14×14 5.8 / 4.9 ms, 3×3/stride 2 64→128
#: 16.0 / 13.3 ms, 3×3 128→128 at 16×16 27.4 / 25.1 ms (same process, medians of 9).
CACHE_CHUNK_BYTES = 2**20


def batch_chunk(n: int, rows: int, positions: int, itemsize: int) -> int:
    """How many samples fit in one column matrix of ``rows x positions`` per sample: at most
    :data:`COLUMN_BYTES_LIMIT` and :data:`CACHE_CHUNK_BYTES`, never less than one sample."""
    per_sample = max(1, rows * positions * itemsize)
    limit = min(COLUMN_BYTES_LIMIT, CACHE_CHUNK_BYTES)
    return max(1, min(n, limit // per_sample))


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


@njit(cache=True, inline="always")
def _tap_along(offset, stride, size, out):
    """Where a tap lands along one axis, ``offset = k·d - pad`` being the input index it reads
    for output 0: ``(lo, hi, phase, shift)``, the outputs ``[lo, hi)`` that read a real input
    element, and the phase plane (``offset mod s``) and shift in it (``offset div s``, Python's
    floor semantics: ``0 <= phase < s``) that output ``o`` reads at ``o + shift``."""
    lo, hi = _valid_range(offset, stride, size, out)
    return lo, hi, offset % stride, offset // stride


@njit(cache=True, inline="always")
def _phase_buffer(h, w, sh, sw, strided, dtype):
    """Room for the ``sH·sW`` phase planes of an ``h x w`` plane (empty without a stride)."""
    hp, wp = ((h + sh - 1) // sh, (w + sw - 1) // sw) if strided else (0, 0)
    return np.empty((sh, sw, hp, wp), dtype=dtype)


@njit(cache=True, inline="always")
def _split_phases(plane, phases, sh, sw):
    """``phases[pi, pj, i, j] = plane[i·sH + pi, j·sW + pj]``: ``plane: (H, W)``,
    ``phases: (sH, sW, ceil(H/sH), ceil(W/sW))``. Entries past the plane's edge (when ``H`` or
    ``W`` is not a multiple of the stride) are left as they are: no tap reads them."""
    h, w = plane.shape
    for pi in range(sh):
        for i in range((h - pi + sh - 1) // sh):
            src = plane[i * sh + pi]
            for pj in range(sw):
                dst = phases[pi, pj, i]
                row = src[pj:]  # slice, don't offset
                for j in range((w - pj + sw - 1) // sw):
                    dst[j] = row[j * sw]


@njit(cache=True, nogil=True)
def im2col_kernel(x: np.ndarray, cols: np.ndarray, n0: int, kh: int, kw: int, sh: int, sw: int,
                  dh: int, dw: int, top: int, left: int, job_lo: int, job_hi: int) -> None:
    """Fill ``cols: (C·kH·kW, nb, H_out, W_out)`` with the windows of samples ``n0 .. n0+nb`` of
    ``x: (N, C, H, W)`` (C-contiguous, unpadded: taps outside the image are written as 0), for
    the jobs ``job = b·C + ci`` in ``[job_lo, job_hi)``.

    A job is one input plane: it is split into phases (see the module docstring; with stride 1
    the plane is used as it is), then each of its ``kH·kW`` taps fills its ``(H_out, W_out)``
    plane of ``cols`` from one phase plane: zeros where the tap falls in the padding, a
    rectangle of contiguous row copies elsewhere.
    """
    rows, nb, h_out, w_out = cols.shape
    c, h, w = x.shape[1], x.shape[2], x.shape[3]
    zero = cols.dtype.type(0)
    strided = sh != 1 or sw != 1
    phase_buffer = _phase_buffer(h, w, sh, sw, strided, x.dtype)
    for job in range(job_lo, job_hi):
        b = job // c
        ci = job % c
        plane = x[n0 + b, ci]
        if strided:
            _split_phases(plane, phase_buffer, sh, sw)
            phases = phase_buffer
        else:
            phases = plane.reshape((1, 1, h, w))
        for ki in range(kh):
            oh_lo, oh_hi, pi, qi = _tap_along(ki * dh - top, sh, h, h_out)
            for kj in range(kw):
                ow_lo, ow_hi, pj, qj = _tap_along(kj * dw - left, sw, w, w_out)
                dst = cols[(ci * kh + ki) * kw + kj, b]
                dst[:oh_lo] = zero  # rows of the tap that fall in the top / bottom padding
                dst[oh_hi:] = zero
                dst[oh_lo:oh_hi, :ow_lo] = zero  # left / right padding
                dst[oh_lo:oh_hi, ow_hi:] = zero
                if oh_hi == oh_lo or ow_hi == ow_lo:
                    continue
                # output (oh, ow) reads phase (pi, pj) at (oh + qi, ow + qj)
                src = phases[pi, pj, oh_lo + qi:, ow_lo + qj:]
                inner = dst[oh_lo:, ow_lo:]
                for i in range(oh_hi - oh_lo):
                    src_row = src[i]
                    dst_row = inner[i]
                    for j in range(ow_hi - ow_lo):
                        dst_row[j] = src_row[j]


@threaded_version_of(im2col_kernel)
@njit(parallel=True, nogil=True, cache=True)
def im2col_kernel_threaded(bounds, *args):
    """:func:`im2col_kernel`, one block of jobs per thread (``run_jobs``)."""
    for t in prange(bounds.size - 1):
        im2col_kernel(*args, bounds[t], bounds[t + 1])


@njit(cache=True, nogil=True)
def col2im_kernel(dcols: np.ndarray, grad_x: np.ndarray, n0: int, kh: int, kw: int, sh: int,
                  sw: int, dh: int, dw: int, top: int, left: int, job_lo: int, job_hi: int) -> None:
    """The adjoint of :func:`im2col_kernel`: ``grad_x[n0+b, ci]`` = the sum of every entry of
    ``dcols`` that was copied from that pixel, for the jobs ``job = b·C + ci`` in
    ``[job_lo, job_hi)``. ``dcols: (C·kH·kW, nb, H_out, W_out)``, ``grad_x: (N, C, H, W)``
    (planes ``n0 .. n0+nb`` are overwritten).

    A job owns its plane, so its ``+=`` cannot race with another job, and the plane (a few KiB)
    stays in L1 while its k² rows of ``dcols`` stream past. (A whole-array scatter, k² strided
    passes over all of grad_x, is what makes a NumPy col2im slow: every pass misses the cache.)
    With a stride, the taps add into the plane's phases (contiguous runs, like im2col's copies),
    which are then interleaved into the plane once.
    """
    rows, nb, h_out, w_out = dcols.shape
    c, h, w = grad_x.shape[1], grad_x.shape[2], grad_x.shape[3]
    zero = grad_x.dtype.type(0)
    strided = sh != 1 or sw != 1
    phase_buffer = _phase_buffer(h, w, sh, sw, strided, grad_x.dtype)
    for job in range(job_lo, job_hi):
        b = job // c
        ci = job % c
        plane = grad_x[n0 + b, ci]
        if strided:
            phases = phase_buffer
        else:
            phases = plane.reshape((1, 1, h, w))
        phases[:] = zero
        for ki in range(kh):
            oh_lo, oh_hi, pi, qi = _tap_along(ki * dh - top, sh, h, h_out)
            for kj in range(kw):
                ow_lo, ow_hi, pj, qj = _tap_along(kj * dw - left, sw, w, w_out)
                if oh_hi == oh_lo or ow_hi == ow_lo:
                    continue
                src = dcols[(ci * kh + ki) * kw + kj, b, oh_lo:, ow_lo:]
                dst = phases[pi, pj, oh_lo + qi:, ow_lo + qj:]
                for i in range(oh_hi - oh_lo):
                    src_row = src[i]
                    dst_row = dst[i]
                    for j in range(ow_hi - ow_lo):
                        dst_row[j] += src_row[j]
        if strided:  # plane[i·sH + pi, j·sW + pj] = phases[pi, pj, i, j]: covers every pixel
            for pi in range(sh):
                for i in range((h - pi + sh - 1) // sh):
                    dst = plane[i * sh + pi]
                    for pj in range(sw):
                        src = phases[pi, pj, i]
                        row = dst[pj:]
                        for j in range((w - pj + sw - 1) // sw):
                            row[j * sw] = src[j]


@threaded_version_of(col2im_kernel)
@njit(parallel=True, nogil=True, cache=True)
def col2im_kernel_threaded(bounds, *args):
    """:func:`col2im_kernel`, one block of jobs per thread (``run_jobs``)."""
    for t in prange(bounds.size - 1):
        col2im_kernel(*args, bounds[t], bounds[t + 1])


def to_channel_major(a: np.ndarray, n0: int, out: np.ndarray) -> None:
    """``out[c, b, p] = a[n0 + b, c, p]``: ``a: (N, C, P)`` -> ``out: (C, nb, P)``, so the gradient
    of a chunk is one ``(C, nb·P)`` matrix for the GEMMs. A plain NumPy copy (memory-bound; a Numba
    kernel would be no faster and would cost another second of compilation on first use)."""
    np.copyto(out, a[n0:n0 + out.shape[1]].transpose(1, 0, 2))


# ------------------------------------------------------------------------------------------------
# The three passes. Each runs ``_*_samples(..., split, lo, hi)`` over sample ranges: either one
# range per thread with ``split=False`` (everything inside runs serially on that thread), or the
# whole batch on the calling thread with ``split=True`` (each step split over the threads).
# ------------------------------------------------------------------------------------------------


class _Conv:
    """The im2col geometry of one convolution, and the two ways of running its steps."""

    def __init__(self, problem: ConvProblem) -> None:
        self.itemsize = problem.dtype.itemsize
        self.n, self.c_in, self.h, self.w = problem.x_shape
        self.c_out, self.c_in_g, self.kh, self.kw = problem.w_shape
        self.h_out, self.w_out = problem.y_shape[2], problem.y_shape[3]
        self.stride, self.dilation, self.groups = problem.stride, problem.dilation, problem.groups
        self.top, self.left = problem.padding[0], problem.padding[2]
        self.rows, self.p = self.c_in * self.kh * self.kw, self.h_out * self.w_out
        self.rows_g, self.c_out_g = problem.reduction, self.c_out // self.groups
        # 1x1, stride 1, no padding: cols[ci, b, p] = x[b, ci, p], no im2col needed
        self.pointwise = (self.kh == self.kw == 1 and self.stride == (1, 1)
                          and problem.padding == (0, 0, 0, 0))
        self.flops = problem.flops

    def by_samples(self) -> bool:
        """One sample range per thread (``True``) or one range split step by step."""
        return get_num_threads() > 1 and self.n >= 2 * get_num_threads()

    def run(self, work: Callable, *args: object) -> list:
        """``work(self, *args, split, lo, hi)`` over the batch; the list of its results."""
        if self.by_samples():
            return run_jobs(work, self.n, self.flops, self, *args, False)
        return [work(self, *args, True, 0, self.n)]

    def chunks(self, lo: int, hi: int, rows: int) -> list[tuple[int, int]]:
        """``(n0, m)``: chunks of samples ``[lo, hi)`` whose ``rows x P`` matrices fit the limit."""
        count = hi - lo
        pieces = -(-count // batch_chunk(count, rows, self.p, self.itemsize))  # ceil
        # equal sizes (7 samples under the limit, 8 to do: 4 + 4, not 7 + 1)
        bounds = [lo + count * i // pieces for i in range(pieces + 1)]
        return [(bounds[i], bounds[i + 1] - bounds[i]) for i in range(pieces)]

    def kernel(self, kernel: Callable, a: np.ndarray, b: np.ndarray, n0: int, m: int,
               split: bool) -> None:
        """Run im2col (``a = x, b = cols``) or col2im (``a = dcols, b = grad_x``) on a chunk."""
        args = (a, b, n0, self.kh, self.kw, self.stride[0], self.stride[1], self.dilation[0],
                self.dilation[1], self.top, self.left)
        if split:
            run_jobs(kernel, m * self.c_in, float(self.rows * m * self.p), *args)
        else:
            kernel(*args, 0, m * self.c_in)

    def columns(self, x: np.ndarray, n0: int, m: int, split: bool) -> np.ndarray:
        """The column matrix ``(rows, m·P)`` of samples ``n0 .. n0+m``."""
        if self.pointwise:
            if m == 1:
                return x[n0].reshape(self.c_in, self.p)  # the sample itself
            cols = workspace.get("cols", (self.c_in, m, self.p), x.dtype)
            to_channel_major(x.reshape(self.n, self.c_in, self.p), n0, cols)
        else:
            cols = workspace.get("cols", (self.rows, m, self.h_out, self.w_out), x.dtype)
            self.kernel(im2col_kernel, x, cols, n0, m, split)
        return cols.reshape(self.rows, m * self.p)

    def delta(self, grad_y: np.ndarray, n0: int, m: int) -> np.ndarray:
        """δᵀ of samples ``n0 .. n0+m`` as one ``(C_out, m·P)`` matrix."""
        gy3 = grad_y.reshape(self.n, self.c_out, self.p)
        if m == 1:
            return gy3[n0]
        delta = workspace.get("delta_cm", (self.c_out, m, self.p), grad_y.dtype)
        to_channel_major(gy3, n0, delta)
        return delta.reshape(self.c_out, m * self.p)

    def multiply(self, split: bool) -> Callable:
        """The GEMM to use: split over the threads (:func:`gemm`) or on this thread only."""
        return gemm if split else gemm_block

    def out_rows(self, g: int) -> slice:
        """Rows of group ``g`` in ``W``, δ and ``y``: output channels."""
        return slice(g * self.c_out_g, (g + 1) * self.c_out_g)

    def col_rows(self, g: int) -> slice:
        """Rows of group ``g`` in ``cols``: its input channels' taps."""
        return slice(g * self.rows_g, (g + 1) * self.rows_g)


def _forward_samples(conv, x, w2, y3, split, lo, hi):
    multiply = conv.multiply(split)
    for n0, m in conv.chunks(lo, hi, conv.rows):
        cols2 = conv.columns(x, n0, m, split)
        # one sample: its (C_out, P) output is a plain slice of y; several: channel-major
        out = y3[n0] if m == 1 else workspace.get("y_cm", (conv.c_out, m * conv.p), x.dtype)
        for g in range(conv.groups):
            multiply(w2[conv.out_rows(g)], cols2[conv.col_rows(g)], out[conv.out_rows(g)])
        if m > 1:  # (C_out, nb, P) -> (nb, C_out, P)
            y3[n0:n0 + m] = out.reshape(conv.c_out, m, conv.p).transpose(1, 0, 2)


def _backward_input_samples(conv, grad_y, w2, grad_x, split, lo, hi):
    multiply = conv.multiply(split)
    for n0, m in conv.chunks(lo, hi, conv.rows + conv.c_out):
        delta2 = conv.delta(grad_y, n0, m)
        if conv.pointwise and m == 1:  # dcols is grad_x[n0] itself
            dcols2 = grad_x[n0].reshape(conv.c_in, conv.p)
        else:
            dcols = workspace.get("cols", (conv.rows, m, conv.h_out, conv.w_out), grad_y.dtype)
            dcols2 = dcols.reshape(conv.rows, m * conv.p)
        for g in range(conv.groups):
            multiply(w2[conv.out_rows(g)].T, delta2[conv.out_rows(g)], dcols2[conv.col_rows(g)])
        if not conv.pointwise:
            conv.kernel(col2im_kernel, dcols, grad_x, n0, m, split)
        elif m > 1:  # (C_in, nb, P) -> (nb, C_in, P)
            grad_x[n0:n0 + m] = dcols.reshape(conv.c_in, m, conv.h, conv.w).transpose(1, 0, 2, 3)


def _backward_weight_samples(conv, x, grad_y, split, lo, hi):
    """``Σ δᵀ @ colsᵀ`` over samples ``[lo, hi)``: a fresh ``(C_out, rows/g)`` array."""
    multiply = conv.multiply(split)
    grad_w2 = np.empty((conv.c_out, conv.rows_g), dtype=x.dtype)
    for i, (n0, m) in enumerate(conv.chunks(lo, hi, conv.rows + conv.c_out)):
        cols2 = conv.columns(x, n0, m, split)
        delta2 = conv.delta(grad_y, n0, m)
        for g in range(conv.groups):
            multiply(delta2[conv.out_rows(g)], cols2[conv.col_rows(g)].T,
                     grad_w2[conv.out_rows(g)], i > 0)  # the first chunk writes, later ones add
    return grad_w2


class Im2colPlan:
    """im2col + GEMM: every problem, every step (the heuristic's last row)."""

    name = "im2col"

    def supports(self, problem: ConvProblem, step: Step) -> bool:
        return True

    def forward(self, x: np.ndarray, w: np.ndarray, problem: ConvProblem) -> np.ndarray:
        """``y = x ⋆ w`` by im2col + GEMM. ``x: (N, C_in, H, W)``, ``w: (C_out, C_in/g, kH, kW)``
        -> fresh ``y: (N, C_out, H_out, W_out)``.

        Where the time went before this design (2 threads, ms per chunk): 1×1 256→64, im2col 1.2
        (a per-row ``prange`` copy of 14 floats) vs its GEMM 1.8; 3×3/stride 2 im2col 1.3 (a
        strided gather) vs GEMM 1.8; GEMMs split into 32-row halves ran no faster than on one
        thread.
        """
        conv = _Conv(problem)
        y = np.empty(problem.y_shape, dtype=x.dtype)
        conv.run(_forward_samples, x, w.reshape(conv.c_out, conv.rows_g),
                 y.reshape(conv.n, conv.c_out, conv.p))
        return y

    def backward_input(self, grad_y: np.ndarray, w: np.ndarray,
                       problem: ConvProblem) -> np.ndarray:
        """``grad_x = col2im(Wᵀ @ δᵀ)``: ``grad_y: (N, C_out, H_out, W_out)`` -> fresh
        ``grad_x: (N, C_in, H, W)``."""
        conv = _Conv(problem)
        grad_x = np.empty(problem.x_shape, dtype=grad_y.dtype)
        conv.run(_backward_input_samples, grad_y, w.reshape(conv.c_out, conv.rows_g), grad_x)
        return grad_x

    def backward_weight(self, x: np.ndarray, grad_y: np.ndarray,
                        problem: ConvProblem) -> np.ndarray:
        """``grad_W = Σ_chunks δᵀ @ colsᵀ``. With one sample range per thread, each thread sums
        its own chunks and the partial sums are added at the end, in sample order."""
        partials = _Conv(problem).run(_backward_weight_samples, x, grad_y)
        grad_w2 = partials[0]
        for partial in partials[1:]:
            grad_w2 += partial
        return grad_w2.reshape(problem.w_shape)
