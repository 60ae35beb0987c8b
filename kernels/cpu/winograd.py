"""Winograd F(2×2, 3×3): a dense 3×3 stride-1 convolution with 2.25× fewer multiplications.

**The idea, in one dimension.** Two outputs of a 3-tap correlation, ``y0 = d0·g0 + d1·g1 + d2·g2``
and ``y1 = d1·g0 + d2·g1 + d3·g2``, cost 6 multiplications done directly. Winograd's F(2, 3)
gets them with 4::

    m0 = (d0 - d2)·g0          m1 = (d1 + d2)·(g0 + g1 + g2)/2
    m3 = (d1 - d3)·g2          m2 = (d2 - d1)·(g0 - g1 + g2)/2
    y0 = m0 + m1 + m2          y1 = m1 - m2 - m3

or, as matrices, ``y = Aᵀ [(G g) ⊙ (Bᵀ d)]`` with ``⊙`` the element-wise product and::

         ┌ 1  0 -1  0 ┐          ┌ 1    0    0  ┐
    Bᵀ = │ 0  1  1  0 │     G =  │ 1/2  1/2  1/2│     Aᵀ = ┌ 1  1  1  0 ┐
         │ 0 -1  1  0 │          │ 1/2 -1/2  1/2│          └ 0  1 -1 -1 ┘
         └ 0  1  0 -1 ┘          └ 0    0    1  ┘

**Why it is exact.** Multiplying a polynomial with 2 coefficients by one with 3 gives a
product of degree 3, which is fixed by its values at 4 points: evaluate both factors at 0, 1, −1
and ∞ (the leading coefficient), multiply the 4 pairs of values, interpolate back, and you have
the *linear convolution* of the two coefficient vectors for 4 multiplications (Toom–Cook; the
1/2 comes from interpolating between 1 and −1). Two outputs of a 3-tap *correlation* are the
transpose of that linear map (the input now has 4 values, the output 2); transposing a bilinear
algorithm swaps the roles of its evaluation and interpolation matrices and keeps its
multiplications: that is F(2, 3), ``Aᵀ`` being the transposed evaluation at the 4 points and
``Bᵀ`` the transposed interpolation. So the identity holds for all inputs in exact arithmetic;
only the rounding differs. Nesting F(2, 3) along rows and columns
gives the 2-D version, ``Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A``: a 4×4 input tile ``d`` (overlapping its
neighbours by 2 rows and 2 columns) gives a 2×2 output tile ``Y`` for 16 multiplications instead
of 2·2·9 = 36. The tests check both identities (``tests/kernels/test_winograd.py``).

**A layer is 16 matrix products.** Summed over input channels, the products at each of the 16
positions ``ξ = 4i + j`` of the transformed tile form a matrix product over ``C_in``::

    U[ξ]  (C_out, C_in)  = (G g Gᵀ)[ξ]  for every filter            filter_transform
    V[ξ]  (C_in, T)      = (Bᵀ d B)[ξ]  for every tile and channel  input_transform
    M[ξ]  (C_out, T)     = U[ξ] @ V[ξ]                              16 GEMMs (BLAS)
    y tile               = Aᵀ M[:, co, t] A                          output_transform

with ``T`` the tiles of a chunk of the batch (``N·⌈H_out/2⌉·⌈W_out/2⌉`` in all). An odd
``H_out`` or ``W_out`` gets a last, partial tile: its input past the image reads as zeros and the
outputs past the edge are computed and dropped.

**The three contract functions.**

- forward: the above.
- input gradient: as in ``unrolled_plan``, a *forward* pass on δ padded by 2 with the kernel turned
  by 180° and its channels swapped (``layout.rotated_transposed``), cropped by the
  padding. The crop is free: output row ``h`` of the input gradient reads δ from row
  ``h - (2 - top)``, so the pass simply runs with padding ``2 - top`` (negative when the padding
  is above 2: it then starts inside δ) and produces exactly ``H × W``.
- weight gradient: the forward pass is linear in ``U``, tile by tile
  ``⟨δ_tile, Aᵀ (U ⊙ V) A⟩ = ⟨U, (A δ_tile Aᵀ) ⊙ V⟩``, so with ``M̂ = A δ Aᵀ`` (the 2×2 δ tiles
  taken to 4×4: ``grad_output_transform``) ``grad_U[ξ] = Σ_tiles M̂[ξ] V[ξ]ᵀ``, 16 GEMMs
  ``(C_out, T) @ (T, C_in)``, and ``grad_w = Gᵀ grad_U G`` (``filter_transform_adjoint``). No
  approximation: it is the exact gradient of the exact forward identity.

**The cost arithmetic.** Per 2×2 output tile and (input, output) channel pair: direct or im2col,
36 multiply-adds; Winograd, 16 in the GEMMs (2.25× fewer), plus the transforms, which do not
depend on the other channel count: per input channel and tile 32 additions (``Bᵀ d B``, shared
work between overlapping tiles), per output channel and tile 24 (``Aᵀ M A``), per filter pair 16
values (``G g Gᵀ``). For the VGG-like layer (N=32, 64→64, 32×32: 8192 tiles) the GEMMs are
1.07 GFLOP instead of 2.42; the transforms write and read 16 values per tile and channel (33 MB
for ``V`` and 33 MB for ``M``), which is why the batch is cut into chunks of tile rows of at most
:data:`CHUNK_BYTES_LIMIT`: each chunk's ``V`` and ``M`` stay in cache between the transform that
writes them and the one that reads them (L2 is 1 MiB a core here, L3 32 MiB; chunks of 1, 2 and
4 MiB measured the same within the noise). The arithmetic does not pay when the
GEMMs are thin (few tiles: batch 1 on an 8×8 image has 16): ``dispatch.choose_plan`` sends a
layer here only with at least ``WINOGRAD_MIN_TILES`` tiles.

Measured on the 2-core benchmark machine (medians of interleaved runs, float32, ms, Winograd vs
im2col; fwd / input grad / weight grad)::

                                        1 thread                  2 threads
    VGG-like (32, 64→64, 32×32)  winograd  22.3 / 22.1 / 27.7 =  72   12.0 / 11.6 / 14.8 = 38
                                 im2col    44.2 / 45.3 / 53.9 = 143   22.9 / 23.0 / 26.8 = 73
    ResNet-like (16, 128→128,    winograd   9.0 /  8.9 / 10.2 =  28    5.8 /  5.7 /  6.7 = 18
                 16×16)          im2col    17.9 / 15.5 / 18.4 =  52   11.3 /  9.6 / 12.1 = 33

(PyTorch, same machine, fwd+bwd on 2 threads: about 70 and 18 ms.) Where the time goes, VGG-like
forward on 1 thread: GEMMs ≈ 13 ms (≈ 80 GFLOP/s: K = 64 is a thin product), input transform
≈ 5, output transform ≈ 3.

**Threads.** A chunk is transformed, multiplied and transformed back by one thread (a Python
function run by ``_runtime.run_jobs`` on the pool: the Numba kernels are ``nogil`` and NumPy's
matmul releases the GIL, so the threads run at once), with buffers from that thread's workspace.
No thread waits for another between the three steps, and a chunk's data never leaves its core.
The weight gradient sums one ``grad_U`` per thread, added up at the end in a fixed order.

**Accuracy.** The transforms add and subtract a few more terms (and ``G`` halves), so float32
rounds slightly differently from a direct sum, not measurably worse here: on the two benchmark
layers the largest float32 error against a float64 computation was 5.4e-7 of the largest value
(im2col: 7.8e-7), well inside the tests' ``rtol = 1e-5``. (Larger tiles, F(4×4, 3×3) with the points
±2 and ±1/2 as well, save more multiplications but are reported to lose about a digit in float32;
not tried here.)

The kernels are serial and cacheable (no BLAS inside ``@njit``); the GEMMs are NumPy calls between
them.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._runtime import get_num_threads, run_jobs, workspace
from .layout import rotated_transposed
from .problem import ConvProblem, Step

__all__ = ["WinogradPlan", "filter_transform", "filter_transform_adjoint", "tile_count"]

#: ``Bᵀ`` (4×4): the input transform, ``V = Bᵀ d B`` for a 4×4 input tile ``d``.
B_T = np.array([[1, 0, -1, 0],
                [0, 1, 1, 0],
                [0, -1, 1, 0],
                [0, 1, 0, -1]], dtype=np.float64)

#: ``G`` (4×3): the filter transform, ``U = G g Gᵀ`` for a 3×3 filter ``g``.
G = np.array([[1, 0, 0],
              [0.5, 0.5, 0.5],
              [0.5, -0.5, 0.5],
              [0, 0, 1]], dtype=np.float64)

#: ``Aᵀ`` (2×4): the output transform, ``Y = Aᵀ M A`` for the 4×4 product ``M = U ⊙ V``.
A_T = np.array([[1, 1, 1, 0],
                [0, 1, -1, -1]], dtype=np.float64)

#: Largest transformed chunk (bytes of ``V`` plus ``M``, or ``V`` plus ``M̂``) a thread works on at
#: once; the tile rows of the batch are cut into chunks that stay under it.
CHUNK_BYTES_LIMIT = 2 * 2**20


# ------------------------------------------------------------------------------------------------
# The transforms: small matrices in NumPy (filters), Numba kernels (tiles)
# ------------------------------------------------------------------------------------------------


#: ``G ⊗ G`` as a (16, 9) matrix: ``U[4i + j] = Σ_(k,l) G[i, k]·G[j, l]·g[k, l]``, i.e.
#: ``vec(G g Gᵀ) = (G ⊗ G) vec(g)``, so transforming every filter is ONE matrix product.
G_KRON = np.kron(G, G)


def filter_transform(w: np.ndarray) -> np.ndarray:
    """``U[ξ] = (G g Gᵀ)`` for every filter: ``w: (C_out, C_in, 3, 3)`` -> ``U: (16, C_out, C_in)``
    with ``ξ = 4·i + j`` the position in the 4×4 transformed tile (C-contiguous, w's dtype).

    ``(16, 9) @ (9, C_out·C_in)``: one BLAS call, not 16·C_out·C_in little 4×3 products (on
    256→256 channels two ``tensordot``s took ~3 ms, as long as the layer's GEMMs at batch 1)."""
    c_out, c_in = w.shape[0], w.shape[1]
    u = np.empty((16, c_out, c_in), dtype=w.dtype)
    np.matmul(G_KRON.astype(w.dtype), w.reshape(c_out * c_in, 9).T, out=u.reshape(16, -1))
    return u


def filter_transform_adjoint(grad_u: np.ndarray) -> np.ndarray:
    """``grad_g = Gᵀ grad_U G`` for every filter (the adjoint of :func:`filter_transform`):
    ``grad_u: (16, C_out, C_in)`` -> fresh ``(C_out, C_in, 3, 3)``."""
    c_out, c_in = grad_u.shape[1], grad_u.shape[2]
    grad_w = np.empty((c_out, c_in, 3, 3), dtype=grad_u.dtype)
    # (C_out·C_in, 16) @ (16, 9)
    np.matmul(grad_u.reshape(16, -1).T, G_KRON.astype(grad_u.dtype), out=grad_w.reshape(-1, 9))
    return grad_w


# Element-wise loops over whole segments of tiles. Each writes ONE array and reads at most three:
# LLVM vectorises a loop only when it can rule out (or check at run time) that a store overwrites
# what a later iteration reads, and it gives up beyond a few pointers: one loop writing 16 outputs
# ran scalar, 5x slower than the 24 small loops that replaced it.


@njit(cache=True, inline="always")
def _copy(out, a, n):
    for k in range(n):
        out[k] = a[k]


@njit(cache=True, inline="always")
def _neg(out, a, n):
    for k in range(n):
        out[k] = -a[k]


@njit(cache=True, inline="always")
def _add(out, a, b, n):
    for k in range(n):
        out[k] = a[k] + b[k]


@njit(cache=True, inline="always")
def _sub(out, a, b, n):
    for k in range(n):
        out[k] = a[k] - b[k]


@njit(cache=True, inline="always")
def _add3(out, a, b, c, n):
    for k in range(n):
        out[k] = a[k] + b[k] + c[k]


@njit(cache=True, inline="always")
def _sub3(out, a, b, c, n):
    """``a - b - c``."""
    for k in range(n):
        out[k] = a[k] - b[k] - c[k]


@njit(cache=True, inline="always")
def _segment(r0, r1, th, sample):
    """The tile rows ``[a_lo, a_hi)`` of ``sample`` inside the chunk of tile rows ``[r0, r1)``
    (its tiles start at chunk position ``(sample·th + a_lo - r0)·tw``)."""
    a_lo = max(r0 - sample * th, 0)
    a_hi = min(r1 - sample * th, th)
    return a_lo, a_hi


@njit(cache=True, nogil=True)
def input_transform(x: np.ndarray, v: np.ndarray, r0: int, r1: int, th: int, tw: int, top: int,
                    left: int) -> None:
    """``V[4i + j, c, t] = (Bᵀ d B)[i, j]`` for the 4×4 input tiles ``d`` of the tile rows
    ``r0 .. r1`` of the batch, every channel.

    ``x: (N, C, H, W)`` (C-contiguous, unpadded), ``v: (16, C, (r1 - r0)·tw)`` (written).
    Tile row ``r`` is row ``a = r % th`` of tiles of sample ``r // th``; its tile ``b`` (``t =
    (r - r0)·tw + b``) covers input rows ``2a - top .. 2a - top + 3`` and columns
    ``2b - left .. 2b - left + 3``; anything outside the image reads 0 (the padding), and so does
    anything past it (the last, partial tile of an odd output size). ``top``/``left`` may be
    negative (the input gradient with a padding above 2 reads from inside δ).

    Tiles overlap by two rows and two columns, so the work is shared: ``B`` (on the columns) is
    applied once per input row for all its tiles, ``Bᵀ`` (on the rows) once per tile row.

    1. Each input row the segment needs is copied with its padding and split into its even and
       odd columns, ``E[k] = row[2k]``, ``O[k] = row[2k+1]`` (``k <= tw``), so that tile ``b``'s
       four columns are ``E[b], O[b], E[b+1], O[b+1]``: every later loop is unit-stride.
    2. ``B`` on the columns, all rows at once: ``C0 = E - E⁺``, ``C1 = O + E⁺``,
       ``C2 = E⁺ - O``, ``C3 = O - O⁺`` (``⁺``: shifted by one). The rows are stored ``tw + 1``
       long, so one flat loop covers the whole segment (the extra column is never read).
    3. ``Bᵀ`` on the rows of each tile row, straight into ``v``: rows ``0 - 2``, ``1 + 2``,
       ``2 - 1``, ``1 - 3`` of the four ``C`` rows ``2a .. 2a + 3``.
    """
    h, w = x.shape[2], x.shape[3]
    c_in = x.shape[1]
    wide = tw + 1                    # even (or odd) columns the tiles of a row read
    max_rows = 2 * (r1 - r0) + 2     # input rows of the longest segment
    row = np.empty(2 * wide, dtype=x.dtype)  # one padded input row
    # even and odd columns of the rows (row ρ at ρ·wide), one slack value for the shifted reads
    even = np.empty(max_rows * wide + 1, dtype=x.dtype)
    odd = np.empty(max_rows * wide + 1, dtype=x.dtype)
    cols = np.empty((4, max_rows * wide), dtype=x.dtype)  # B on the columns: cols[j]
    zero = x.dtype.type(0)
    even[max_rows * wide] = zero
    odd[max_rows * wide] = zero
    # column j of `row` is input column j - left: the real ones are [j_lo, j_hi)
    j_lo = min(max(left, 0), 2 * wide)
    j_hi = max(min(left + w, 2 * wide), j_lo)
    for c in range(c_in):
        for sample in range(r0 // th, (r1 - 1) // th + 1):
            a_lo, a_hi = _segment(r0, r1, th, sample)
            base = (sample * th + a_lo - r0) * tw
            rows = 2 * (a_hi - a_lo) + 2
            for rho in range(rows):  # step 1
                e = even[rho * wide:]
                o = odd[rho * wide:]
                ih = 2 * a_lo + rho - top
                if ih < 0 or ih >= h:
                    e[:wide] = zero
                    o[:wide] = zero
                    continue
                row[:j_lo] = zero
                row[j_hi:] = zero
                src = x[sample, c, ih, j_lo - left:]  # slice, don't offset (see the notes)
                real = row[j_lo:]
                for j in range(j_hi - j_lo):
                    real[j] = src[j]
                for k in range(wide):
                    e[k] = row[2 * k]
                    o[k] = row[2 * k + 1]
            n = rows * wide  # step 2
            even1, odd1 = even[1:], odd[1:]
            _sub(cols[0], even, even1, n)
            _add(cols[1], odd, even1, n)
            _sub(cols[2], even1, odd, n)
            _sub(cols[3], odd, odd1, n)
            for a in range(a_lo, a_hi):  # step 3
                t = base + (a - a_lo) * tw
                f = 2 * (a - a_lo) * wide
                for j in range(4):
                    c0, c1 = cols[j, f:], cols[j, f + wide:]
                    c2, c3 = cols[j, f + 2 * wide:], cols[j, f + 3 * wide:]
                    _sub(v[j, c, t:], c0, c2, tw)
                    _add(v[4 + j, c, t:], c1, c2, tw)
                    _sub(v[8 + j, c, t:], c2, c1, tw)
                    _sub(v[12 + j, c, t:], c1, c3, tw)


@njit(cache=True, nogil=True)
def output_transform(m: np.ndarray, y: np.ndarray, r0: int, r1: int, th: int, tw: int) -> None:
    """``y[tile] = Aᵀ M A``: the 2×2 outputs of every tile of the tile rows ``r0 .. r1``.

    ``m: (16, C_out, (r1 - r0)·tw)`` (``M[ξ] = U[ξ] @ V[ξ]``, ``ξ = 4i + j``),
    ``y: (N, C_out, H_out, W_out)`` (rows ``2a, 2a+1`` of each tile row written). Outputs past
    ``H_out``/``W_out`` (an odd size's partial last tile) are computed and dropped.

    The tiles of one sample's tile rows are consecutive in ``m``, so each step is one long
    element-wise loop over all of them: first ``P = Aᵀ M`` (8 arrays ``P[i, j]``), then the four
    output *phases* ``Y[i, 0] = P[i,0] + P[i,1] + P[i,2]`` (even output columns of row ``2a + i``)
    and ``Y[i, 1] = P[i,1] - P[i,2] - P[i,3]`` (odd columns), which are finally interleaved into
    the rows of ``y``.
    """
    c_out, h_out, w_out = y.shape[1], y.shape[2], y.shape[3]
    p = np.empty((8, (r1 - r0) * tw), dtype=y.dtype)      # Aᵀ M: p[4i + j]
    phase = np.empty((4, (r1 - r0) * tw), dtype=y.dtype)  # Y[i, parity]: phase[2i + parity]
    pairs = w_out // 2
    for co in range(c_out):
        for sample in range(r0 // th, (r1 - 1) // th + 1):
            a_lo, a_hi = _segment(r0, r1, th, sample)
            base = (sample * th + a_lo - r0) * tw
            n = (a_hi - a_lo) * tw
            for j in range(4):  # Aᵀ on the rows: row 0 = M0 + M1 + M2, row 1 = M1 - M2 - M3
                m0, m1 = m[j, co, base:], m[4 + j, co, base:]
                m2, m3 = m[8 + j, co, base:], m[12 + j, co, base:]
                _add3(p[j], m0, m1, m2, n)
                _sub3(p[4 + j], m1, m2, m3, n)
            for i in range(2):  # A on the columns: the same combinations
                _add3(phase[2 * i], p[4 * i], p[4 * i + 1], p[4 * i + 2], n)
                _sub3(phase[2 * i + 1], p[4 * i + 1], p[4 * i + 2], p[4 * i + 3], n)
            for a in range(a_lo, a_hi):
                for i in range(2):
                    if 2 * a + i >= h_out:
                        continue  # the partial tile's extra row
                    row = y[sample, co, 2 * a + i]
                    even = phase[2 * i, (a - a_lo) * tw:]
                    odd = phase[2 * i + 1, (a - a_lo) * tw:]
                    for b in range(pairs):
                        row[2 * b] = even[b]
                        row[2 * b + 1] = odd[b]
                    if w_out % 2:
                        row[w_out - 1] = even[pairs]


@njit(cache=True, nogil=True)
def grad_output_transform(grad_y: np.ndarray, mh: np.ndarray, r0: int, r1: int, th: int,
                          tw: int) -> None:
    """``M̂[4i + j, co, t] = (A δ Aᵀ)[i, j]`` for the 2×2 tiles ``δ`` of the output gradient in
    the tile rows ``r0 .. r1`` (the adjoint of :func:`output_transform`, for the weight gradient).

    ``grad_y: (N, C_out, H_out, W_out)``, ``mh: (16, C_out, (r1 - r0)·tw)`` (written). A partial
    last tile (odd ``H_out``/``W_out``) reads 0 where the output does not exist: those outputs
    were dropped in the forward pass, so they send back no gradient.

    The 2×2 tiles do not overlap, so splitting δ into its four phases ``D[p, q][a, b] =
    δ[2a + p, 2b + q]`` lays them out exactly like the tiles in ``mh``; then ``Q = A D`` (rows
    ``D0, D0 + D1, D0 - D1, -D1``) and ``M̂ = Q Aᵀ`` (the same on the columns) are long
    element-wise loops.
    """
    c_out, h_out, w_out = grad_y.shape[1], grad_y.shape[2], grad_y.shape[3]
    d = np.empty((4, (r1 - r0) * tw), dtype=grad_y.dtype)  # δ phases: d[2p + q]
    q = np.empty((8, (r1 - r0) * tw), dtype=grad_y.dtype)  # A D: q[2i + column parity]
    zero = grad_y.dtype.type(0)
    pairs = w_out // 2
    for co in range(c_out):
        for sample in range(r0 // th, (r1 - 1) // th + 1):
            a_lo, a_hi = _segment(r0, r1, th, sample)
            base = (sample * th + a_lo - r0) * tw
            n = (a_hi - a_lo) * tw
            for a in range(a_lo, a_hi):
                for i in range(2):
                    even = d[2 * i, (a - a_lo) * tw:]
                    odd = d[2 * i + 1, (a - a_lo) * tw:]
                    if 2 * a + i >= h_out:  # the partial tile's missing row
                        even[:tw] = zero
                        odd[:tw] = zero
                        continue
                    row = grad_y[sample, co, 2 * a + i]
                    for b in range(pairs):
                        even[b] = row[2 * b]
                        odd[b] = row[2 * b + 1]
                    if w_out % 2:  # the partial tile's missing column
                        even[pairs] = row[w_out - 1]
                        odd[pairs] = zero
            for parity in range(2):  # A D on the rows: D0, D0 + D1, D0 - D1, -D1
                d0, d1 = d[parity], d[2 + parity]
                _copy(q[parity], d0, n)
                _add(q[2 + parity], d0, d1, n)
                _sub(q[4 + parity], d0, d1, n)
                _neg(q[6 + parity], d1, n)
            for i in range(4):  # (A D) Aᵀ on the columns: the same combinations
                even, odd = q[2 * i], q[2 * i + 1]
                _copy(mh[4 * i, co, base:], even, n)
                _add(mh[4 * i + 1, co, base:], even, odd, n)
                _sub(mh[4 * i + 2, co, base:], even, odd, n)
                _neg(mh[4 * i + 3, co, base:], odd, n)


# ------------------------------------------------------------------------------------------------
# The plan: chunks of tile rows, each transformed, multiplied and transformed back by one thread
# ------------------------------------------------------------------------------------------------


def _tiles(h_out: int, w_out: int) -> tuple[int, int]:
    """Tiles per column and per row of an ``h_out × w_out`` output (a partial last tile counts)."""
    return -(-h_out // 2), -(-w_out // 2)


def _chunking(tile_rows: int, tw: int, channels: int, itemsize: int) -> tuple[int, int]:
    """``(rows per chunk, number of chunks)``: chunks of whole tile rows whose transformed arrays
    (16 values per tile for each of ``channels`` channels) stay under :data:`CHUNK_BYTES_LIMIT`,
    and at least one chunk per thread when there are enough rows (the threads work on whole
    chunks). The count is rounded up to a multiple of the threads so that they get equal shares."""
    per_row = 16 * channels * tw * itemsize
    rows = max(1, min(tile_rows, CHUNK_BYTES_LIMIT // per_row))
    threads = get_num_threads()
    chunks = -(-tile_rows // rows)
    if threads > 1 and tile_rows >= threads:
        chunks = -(-chunks // threads) * threads
    rows = -(-tile_rows // chunks)
    return rows, -(-tile_rows // rows)


def tile_count(problem: ConvProblem) -> int:
    """The 2×2 output tiles of a problem, ``N·⌈H_out/2⌉·⌈W_out/2⌉`` (a partial tile counts): the
    columns of the 16 GEMMs, which ``dispatch`` weighs."""
    th, tw = _tiles(problem.y_shape[2], problem.y_shape[3])
    return problem.batch * th * tw


def _gemm_flops(tiles: int, c_out: int, c_in: int) -> float:
    """Multiply-adds (×2) of the 16 GEMMs: what ``run_jobs`` weighs to decide on threads."""
    return 2.0 * 16 * tiles * c_out * c_in


def _transformed_chunk(src: np.ndarray, c_out: int, job: int, rows: int, tile_rows: int, th: int,
                       tw: int, top: int, left: int) -> tuple[int, int, np.ndarray, np.ndarray]:
    """Chunk ``job`` (tile rows ``[r0, r1)``): ``(r0, r1, V, M)`` with ``V = Bᵀ d B`` of its input
    tiles, ``(16, C_in, T)``, and an uninitialised ``(16, c_out, T)`` buffer for the products,
    both from this thread's workspace."""
    r0 = job * rows
    r1 = min(tile_rows, r0 + rows)
    tiles = (r1 - r0) * tw
    v = workspace.get("winograd_v", (16, src.shape[1], tiles), src.dtype)
    m = workspace.get("winograd_m", (16, c_out, tiles), src.dtype)
    input_transform(src, v, r0, r1, th, tw, top, left)
    return r0, r1, v, m


def _correlate_chunks(src, u, out, th, tw, top, left, rows, tile_rows, job_lo, job_hi):
    """Chunks ``job_lo .. job_hi`` of :func:`_correlate` (run by one thread; NumPy's matmul and
    the ``nogil`` kernels release the GIL, so the threads really run at once). The buffers come
    from this thread's own workspace."""
    for job in range(job_lo, job_hi):
        r0, r1, v, m = _transformed_chunk(src, u.shape[1], job, rows, tile_rows, th, tw, top,
                                          left)
        np.matmul(u, v, out=m)  # the 16 GEMMs  M[ξ] (C_out, T) = U[ξ] (C_out, C_in) @ V[ξ]
        output_transform(m, out, r0, r1, th, tw)


def _correlate(src, u, out_shape, top, left):
    """``out[n, co, oh, ow] = Σ_(ci, ki, kj) g[co, ci, ki, kj] · src[n, ci, oh + ki - top,
    ow + kj - left]`` (0 outside ``src``) by Winograd, with ``u = filter_transform(g)``.

    ``src: (N, C_in, H, W)`` C-contiguous, ``u: (16, C_out, C_in)`` -> fresh ``out`` of
    ``out_shape = (N, C_out, H_out, W_out)``."""
    n, c_out, h_out, w_out = out_shape
    c_in = src.shape[1]
    th, tw = _tiles(h_out, w_out)
    tile_rows = n * th
    rows, chunks = _chunking(tile_rows, tw, c_in + c_out, src.itemsize)
    out = np.empty(tuple(out_shape), dtype=src.dtype)
    run_jobs(_correlate_chunks, chunks, _gemm_flops(tile_rows * tw, c_out, c_in),
             src, u, out, th, tw, top, left, rows, tile_rows)
    return out


def _weight_chunks(x, grad_y, th, tw, top, left, rows, tile_rows, job_lo, job_hi):
    """Chunks ``job_lo .. job_hi`` of the weight gradient (one thread): ``grad_U[ξ] += M̂[ξ] @
    V[ξ]ᵀ``, summed in this thread's workspace and returned."""
    c_in, c_out = x.shape[1], grad_y.shape[1]
    grad_u = workspace.get("winograd_grad_u", (16, c_out, c_in), x.dtype)
    product = workspace.get("winograd_grad_u_chunk", (16, c_out, c_in), x.dtype)
    for job in range(job_lo, job_hi):
        r0, r1, v, mh = _transformed_chunk(x, c_out, job, rows, tile_rows, th, tw, top, left)
        grad_output_transform(grad_y, mh, r0, r1, th, tw)
        # the 16 GEMMs  grad_U[ξ] (C_out, C_in) += M̂[ξ] (C_out, T) @ V[ξ]ᵀ (T, C_in)
        np.matmul(mh, v.transpose(0, 2, 1), out=grad_u if job == job_lo else product)
        if job != job_lo:
            grad_u += product
    return grad_u


class WinogradPlan:
    """F(2×2, 3×3) for dense 3×3 stride-1 layers: every step."""

    name = "winograd"

    def supports(self, problem: ConvProblem, step: Step) -> bool:
        return (problem.kernel_size == (3, 3) and problem.unit_stride_and_dilation
                and problem.groups == 1)

    def forward(self, x: np.ndarray, w: np.ndarray, problem: ConvProblem) -> np.ndarray:
        """``y = x ⋆ w``: ``x: (N, C_in, H, W)``, ``w: (C_out, C_in, 3, 3)`` -> fresh
        ``y: (N, C_out, H_out, W_out)``."""
        return _correlate(x, filter_transform(w), problem.y_shape, problem.padding[0],
                          problem.padding[2])

    def backward_input(self, grad_y: np.ndarray, w: np.ndarray,
                       problem: ConvProblem) -> np.ndarray:
        """``grad_x``: the forward pass on δ padded by 2 with the rotated, channel-swapped
        kernel, cropped by the padding (see the module docstring). ``grad_y: (N, C_out, H_out,
        W_out)`` -> fresh ``grad_x: (N, C_in, H, W)``."""
        u = filter_transform(rotated_transposed(w, 1))  # (16, C_in, C_out)
        return _correlate(grad_y, u, problem.x_shape, 2 - problem.padding[0],
                          2 - problem.padding[2])

    def backward_weight(self, x: np.ndarray, grad_y: np.ndarray,
                        problem: ConvProblem) -> np.ndarray:
        """``grad_w = Gᵀ (Σ_tiles M̂[ξ] V[ξ]ᵀ) G`` with ``M̂ = A δ Aᵀ`` (see the module
        docstring). ``x: (N, C_in, H, W)``, ``grad_y: (N, C_out, H_out, W_out)`` -> fresh
        ``grad_w: (C_out, C_in, 3, 3)``."""
        n, c_out, h_out, w_out = grad_y.shape
        c_in = x.shape[1]
        th, tw = _tiles(h_out, w_out)
        tile_rows = n * th
        rows, chunks = _chunking(tile_rows, tw, c_in + c_out, x.itemsize)
        partials = run_jobs(_weight_chunks, chunks, _gemm_flops(tile_rows * tw, c_out, c_in),
                            x, grad_y, th, tw, problem.padding[0], problem.padding[2], rows,
                            tile_rows)
        # in job order (not the order the threads finished in), into a fresh array: the
        # partials are workspace buffers
        grad_u = sum(partials[1:], partials[0].copy())
        return filter_transform_adjoint(grad_u)
