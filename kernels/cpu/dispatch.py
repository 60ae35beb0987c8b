"""Which algorithm computes a convolution: the documented heuristic, and the contract wrappers.

Six implementations of the same three contract functions live side by side:

- ``"direct"`` (``direct.py``): loops over taps, innermost loop along an output row. Best when
  each output value needs little arithmetic: ``C_in/groups · kH · kW`` small, e.g. LeNet's first
  layer (1·5·5 = 25) or a depthwise layer (1·3·3 = 9). There a GEMM is thin and im2col would copy
  the input k² times to save nothing.
- ``"im2col"`` (``im2col.py``): copy windows into a column matrix, multiply with BLAS. Best for
  dense layers (``C_in·k²`` in the hundreds or more): the copy is paid once and the arithmetic runs
  near the machine's matmul peak.
- ``"unrolled"`` (``unrolled_plan.py``, kernels generated into ``unrolled.py``): the direct
  idea for stride 1 and the kernel sizes in ``gen_unrolled.SIZES`` (3×3, 5×5), with all k² taps
  written out so one pass over a plane applies them all, the weights in registers. Its input
  gradient is the same kernel run on the padded δ with the rotated kernel.
- ``"batch_lanes"`` (``batch_lanes.py``, kernels generated into ``unrolled.py`` too): the
  unrolled taps with the data laid out batch innermost, ``(C, H, W, N)``, so the SIMD lanes run
  over the samples and one pass per (c_out, c_in) covers every pixel of every sample. Wins where
  the planes are small and ``R`` is too big for ``"unrolled"`` (LeNet's second layer).
- ``"winograd"`` (``winograd.py``): dense 3×3 stride-1 layers, each 2×2 output tile from a 4×4
  input tile with 16 multiplications instead of 36, as 16 GEMMs over the channels (F(2×2, 3×3));
  its gradients are the same machinery (the input gradient a forward pass on the padded δ, the
  weight gradient the transposed products). Other calls go to im2col.
- ``"loops"`` (``conv.py``): the reference's loops compiled by Numba; never chosen by the heuristic,
  kept as the readable baseline and for tests.

Tried and dropped: direct loops with the *output channels* in the SIMD lanes (oneDNN's layout,
one weight vector serving many multiply-adds, no column matrix). Numba gives no way to tell LLVM
that the accumulator block does not alias the inputs, so the block lived in memory, not in
registers (17.8 GFLOP/s at best); forward+backward it lost on every layer tried, e.g. LeNet's
second layer 4.9 ms vs 3.6 (unrolled) and 3.5 (im2col) at 2 threads.

**The heuristic** (:func:`choose_plan`), with ``R = C_in/groups · kH · kW`` the reduction length:

1. 3×3, stride 1, dilation 1, no groups, ``R >=`` :data:`WINOGRAD_MIN_REDUCTION` (at least
   12 input channels) and at least :data:`WINOGRAD_MIN_TILES` 2×2 output tiles
   (``N·⌈H_out/2⌉·⌈W_out/2⌉``): ``"winograd"``;
2. else stride 1, dilation 1, a kernel size that has unrolled kernels, and ``R <=``
   :data:`UNROLLED_MAX_REDUCTION`: ``"unrolled"``;
3. else stride 1, dilation 1, a 5×5 kernel, no groups, ``R <=``
   :data:`BATCH_LANES_MAX_REDUCTION` and a batch of at least :data:`BATCH_LANES_MIN_BATCH`:
   ``"batch_lanes"``;
4. else ``R <`` :data:`DIRECT_MAX_REDUCTION` (every depthwise layer with kernels up to 8×8),
   unless the kernel is 1×1 without groups: ``"direct"``;
5. else ``"im2col"``. A 1×1 convolution is a plain matrix product (im2col is then only the
   strided copy of the input, or nothing): a ResNet's 16→32 1×1/stride-2 shortcut took 1.8 ms
   fwd+bwd this way and 12.8 ms with the direct kernels.

The thresholds come from forward+backward timings (medians of interleaved runs on the 2-core
benchmark machine; ``benchmarks/run.py`` has the cases). Unrolled vs im2col, ms, 2 threads |
1 thread, after im2col's per-thread sample ranges: LeNet's second layer 64×(6→16, 5×5, 14×14)
(R = 150) 2.89 vs 2.58 | 5.14 vs 4.70; 64×(4→16, 5×5) (R = 100) 2.84 vs 2.51 | 2.99 vs 3.23;
1×(32→32, 3×3, 8×8) (R = 288, too few tiles for Winograd) 0.34 vs 0.18; 32×(3→16, 3×3) (R = 27)
2.16 vs 4.33. The unrolled pass is bound by loading its k² shifted input vectors; from about a
hundred multiply-adds per output, BLAS's register blocking wins. Depthwise 3×3 (R = 9):
unrolled 9 ms, direct 13 ms, im2col 77 ms.

Batch lanes vs im2col vs unrolled, forward+backward (forward / input grad / weight grad), ms,
2 threads | 1 thread, medians of 15 interleaved runs (a loaded host: im2col ran ~1.3× slower than
in the figures above): LeNet's second layer 64×(6→16, 5×5, 14×14) (R = 150) 2.22 (0.65 / 1.07 /
0.50) vs 3.28 (1.11 / 0.87 / 1.30) vs 3.24 | 3.56 vs 5.97 vs 6.03; the same at batch 16 0.87 vs
1.05 vs 1.05 | 1.08 vs 1.58 vs 1.52, at batch 8 0.66 vs 0.70 vs 0.67 | 0.70 vs 0.78 vs 0.78;
64×(16→16, 5×5, 10×10) (R = 400) 2.45 vs 4.37 vs 5.37 | 3.96 vs 7.63 vs 10.27. Its input
gradient is im2col's (faster there, see ``batch_lanes.py``); the plan as registered vs im2col,
another run: c3 2.30 vs 3.33 | 2.31 vs 3.86; batch 16 0.98 vs 1.14 | 0.92 vs 1.48; batch 8 0.67
vs 0.74 | 0.39 vs 0.49; 16→16 2.16 vs 3.68 | 2.53 vs 4.75 (2 threads barely beat 1 on that
host: measure again on a quiet one). Where ``"unrolled"`` applies it loses: LeNet's first
layer 64×(1→6, 5×5, 32×32) 2.41 vs 1.58 (unrolled) | 2.88 vs 2.09; 32×(3→16, 3×3, 32×32) 5.25
vs 2.36 | 7.96 vs 3.31; 64×(8→8, 3×3, 16×16) 3.25 vs 1.90 | 3.84 vs 2.66. Not measured: 3×3 kernels with R >= 100
on few tiles, 5×5 with R > 400, batches below 8, groups.

Winograd vs im2col, forward+backward, float32, medians of interleaved runs (ms, 1 thread | 2
threads): VGG-like 32×(64→64, 32×32) 72 vs 143 | 38 vs 73; ResNet-like 16×(128→128, 16×16)
28 vs 52 | 18 vs 33; 32×(64→64, 8×8) 10.0 vs 12.5 | 5.5 vs 6.7; 32×(128→128, 8×8) 25 vs 35 |
15 vs 18; 32×(256→256, 4×4) 22 vs 31 | 14 vs 17; 8×(128→128, 8×8) (128 tiles) 5.2 vs 7.2 | 4.0
vs 4.2; batch 1 at 32×32 (64→64, 256 tiles) 3.3 vs 4.7 | 2.6 vs 3.3. With few tiles the 16 GEMMs
are too thin: batch 1, 128→128 at 16×16 (64 tiles) 2.5 vs 2.9 | 2.3 vs 2.1 (a tie); batch 1 at
8×8 (16 tiles) 1.7 vs 1.1 (128 channels), 5.1 vs 3.1 (256); 8×(256→256, 4×4) (32 tiles) 7.7 vs
7.1 | 7.0 vs 4.2. Hence the threshold of 128 tiles.

``force_plan(name)`` (a context manager) overrides the heuristic; the tests use it to run every
path against the reference.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from ..contract import check_conv2d, check_conv2d_grad_y, check_same_dtype
from . import batch_lanes, direct, im2col, unrolled_plan, winograd
from . import conv as loops

#: Below this ``C_in/groups · kH · kW``, the direct kernels beat im2col + GEMM.
DIRECT_MAX_REDUCTION = 64

#: Up to this ``C_in/groups · kH · kW``, the unrolled kernels beat im2col + GEMM (where they apply):
#: 3×3 kernels up to 11 input channels, 5×5 up to 3.
UNROLLED_MAX_REDUCTION = 99

#: From this ``C_in · 3 · 3`` up, Winograd beats the unrolled kernels on dense 3×3 layers
#: (forward+backward, 2 threads, ms, unrolled vs winograd: 32×(12→12, 32×32) 4.0 vs 3.3;
#: 32×(16→16, 32×32) 7.5 vs 5.8; 32×(16→16, 8×8) 1.5 vs 1.0; 32×(32→32, 16×16) 9.1 vs 4.4; at
#: 8 channels, 64×(8→8, 16×16), 2.0 vs 2.1, and at 3 channels unrolled wins, 2.2 vs 2.7).
WINOGRAD_MIN_REDUCTION = 12 * 9

#: A dense 3×3 stride-1 layer with at least this many 2×2 output tiles (``N·⌈H_out/2⌉·⌈W_out/2⌉``)
#: goes to Winograd; below it the 16 GEMMs are too thin and im2col's one GEMM wins.
WINOGRAD_MIN_TILES = 128

#: Up to this ``C_in · 5 · 5`` (and above :data:`UNROLLED_MAX_REDUCTION`), the batch-lanes
#: kernels beat im2col on 5×5 stride-1 layers (measured from R = 150 to 400; module docstring).
BATCH_LANES_MAX_REDUCTION = 400

#: The batch-lanes plan needs this many samples: they are its SIMD lanes (at batch 8 it still
#: won, 0.66 vs 0.70 ms at 2 threads; smaller batches were not measured).
BATCH_LANES_MIN_BATCH = 8

PLANS = {"batch_lanes": batch_lanes, "direct": direct, "im2col": im2col, "loops": loops,
         "unrolled": unrolled_plan, "winograd": winograd}

_forced: list = [None]


@contextlib.contextmanager
def force_plan(name: str | None) -> Iterator[None]:
    """Use plan ``name`` for every convolution inside the block (``None``: the heuristic)."""
    if name is not None and name not in PLANS:
        raise ValueError(f"force_plan: unknown plan {name!r}; known: {sorted(PLANS)}")
    previous = _forced[0]
    _forced[0] = name
    try:
        yield
    finally:
        _forced[0] = previous


def choose_plan(x_shape, w_shape, stride, padding, dilation, groups) -> str:
    """The heuristic (see the module docstring). All arguments as in the contract."""
    if _forced[0] is not None:
        return _forced[0]
    c_in_g, kh, kw = w_shape[1], w_shape[2], w_shape[3]
    reduction = c_in_g * kh * kw
    if reduction >= WINOGRAD_MIN_REDUCTION and winograd.supports(w_shape, stride, dilation, groups):
        h_out = x_shape[2] + padding[0] + padding[1] - 2
        w_out = x_shape[3] + padding[2] + padding[3] - 2
        if x_shape[0] * -(-h_out // 2) * -(-w_out // 2) >= WINOGRAD_MIN_TILES:
            return "winograd"
    if reduction <= UNROLLED_MAX_REDUCTION and unrolled_plan.supports(w_shape, stride, dilation):
        return "unrolled"
    if (kh == kw == 5 and groups == 1 and reduction <= BATCH_LANES_MAX_REDUCTION
            and x_shape[0] >= BATCH_LANES_MIN_BATCH
            and batch_lanes.supports(w_shape, stride, dilation)):
        return "batch_lanes"
    if reduction < DIRECT_MAX_REDUCTION and not (kh == kw == 1 and groups == 1):
        return "direct"
    return "im2col"


def plan_name(x_shape, w_shape, stride, padding, dilation, groups) -> str:
    """The plan a convolution with these arguments would use now (for benchmarks and curious
    students)."""
    return choose_plan(tuple(x_shape), tuple(w_shape), stride, padding, dilation, groups)


def _contiguous(a: np.ndarray) -> np.ndarray:
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


# ------------------------------------------------------------------------------------------------
# The contract functions
# ------------------------------------------------------------------------------------------------


def conv2d_forward(x, w, stride, padding, dilation, groups):
    """``y = x ⋆ w``; ``x: (N, C_in, H, W)``, ``w: (C_out, C_in/groups, kH, kW)``
    -> ``y: (N, C_out, H_out, W_out)`` (see ``reference.conv2d_forward``)."""
    op = "conv2d_forward"
    check_same_dtype(op, x=x, w=w)
    y_shape = check_conv2d(op, x.shape, w.shape, stride, padding, dilation, groups)
    plan = choose_plan(x.shape, w.shape, stride, padding, dilation, groups)
    if plan == "loops":
        return loops.conv2d_forward(x, w, stride, padding, dilation, groups)
    if y_shape[0] == 0:
        return np.zeros(y_shape, dtype=x.dtype)
    return PLANS[plan].forward(_contiguous(x), _contiguous(w), y_shape, stride, padding,
                               dilation, groups)


def conv2d_backward_input(grad_y, w, x_shape, stride, padding, dilation, groups):
    """``grad_x = full_corr(δ, rot180(w))`` cropped by the padding; ``grad_y: (N, C_out, H_out,
    W_out)``, ``x_shape = (N, C_in, H, W)`` -> ``grad_x`` (see ``reference``)."""
    op = "conv2d_backward_input"
    check_same_dtype(op, grad_y=grad_y, w=w)
    y_shape = check_conv2d(op, x_shape, w.shape, stride, padding, dilation, groups)
    check_conv2d_grad_y(op, grad_y.shape, y_shape)
    x_shape = tuple(x_shape)
    plan = choose_plan(x_shape, w.shape, stride, padding, dilation, groups)
    if plan == "loops":
        return loops.conv2d_backward_input(grad_y, w, x_shape, stride, padding, dilation, groups)
    if x_shape[0] == 0:
        return np.zeros(x_shape, dtype=grad_y.dtype)
    return PLANS[plan].backward_input(_contiguous(grad_y), _contiguous(w), x_shape, stride,
                                      padding, dilation, groups)


def conv2d_backward_weight(x, grad_y, w_shape, stride, padding, dilation, groups):
    """``grad_w = x ⋆ δ`` summed over the batch; -> ``grad_w`` of shape ``w_shape``."""
    op = "conv2d_backward_weight"
    check_same_dtype(op, x=x, grad_y=grad_y)
    y_shape = check_conv2d(op, x.shape, w_shape, stride, padding, dilation, groups)
    check_conv2d_grad_y(op, grad_y.shape, y_shape)
    w_shape = tuple(w_shape)
    plan = choose_plan(x.shape, w_shape, stride, padding, dilation, groups)
    if plan == "loops":
        return loops.conv2d_backward_weight(x, grad_y, w_shape, stride, padding, dilation, groups)
    if x.shape[0] == 0:
        return np.zeros(w_shape, dtype=x.dtype)
    return PLANS[plan].backward_weight(_contiguous(x), _contiguous(grad_y), w_shape, stride,
                                       padding, dilation, groups)
