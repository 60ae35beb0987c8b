"""Which plan computes a convolution: the heuristic (one table), and the three contract functions.

Each contract function checks its arguments once, by building a :class:`~.problem.ConvProblem`,
asks :func:`choose_plan` (the only chooser) for a plan, and calls it. The plans
(:class:`~.problem.ConvPlan` objects):

- ``"loops"`` (``conv.py``): the reference's loops compiled, the readable baseline; never chosen.
- ``"direct"`` (``direct.py``): loops over the taps, innermost along an output row; for layers
  with little arithmetic per output value (a depthwise layer with a stride, 1·3·3 products).
- ``"unrolled"`` (``unrolled_plan.py``): the same idea for stride-1 3×3 and 5×5 kernels with all
  k² taps written out (``unrolled.py``, generated), one pass per plane.
- ``"batch_lanes"`` (``batch_lanes.py``): the unrolled 5×5 taps with the batch in the SIMD lanes,
  for small planes with more products per output (LeNet's second layer); it has no input
  gradient of its own, so that step falls to the next row of the table.
- ``"winograd"`` (``winograd.py``): dense 3×3 stride-1 layers, 16 multiplications per 2×2
  output tile instead of 36, as 16 GEMMs.
- ``"im2col"`` (``im2col.py``): copy the windows into a matrix, one BLAS GEMM; dense layers.

**The heuristic** is :data:`HEURISTIC`: for each step, the first row whose rule holds and whose
plan supports the step (``plan.supports(problem, step)``) is used; its last row, im2col,
computes everything. ``R = C_in/groups · kH · kW`` is the products each output sums. The
thresholds come from forward+backward timings of every plan on the benchmark cases
(``python benchmarks/run.py --markdown`` writes them to ``benchmarks/RESULTS.md``); each
constant below quotes the measurement it rests on.

``force_plan(name)`` (a context manager) puts a plan first for the calls it supports; the other
calls, and the steps it lacks, still go through the table, so forcing a plan is always correct.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np

from ..contract import Padding4, Pair, check_conv2d_grad_y, check_same_dtype
from . import settings
from .batch_lanes import BatchLanesPlan
from .conv import LoopsPlan
from .direct import DirectPlan
from .im2col import Im2colPlan
from .problem import ConvPlan, ConvProblem, Step
from .unrolled_plan import UnrolledPlan
from .winograd import WinogradPlan, tile_count

__all__ = [
    "HEURISTIC",
    "PLANS",
    "choose_plan",
    "conv2d_backward_input",
    "conv2d_backward_weight",
    "conv2d_forward",
    "force_plan",
    "plan_name",
]

#: Dense 3×3 layers from this ``R`` (24 input channels) go to Winograd; below it, the unrolled
#: taps (their threads start faster, see ``_runtime.py``). Forward | input gradient | weight
#: gradient, ms, 2 threads: 32×(16→16, 32×32) unrolled 1.36 | 1.38 | 1.97, Winograd 1.69 | 1.67 |
#: 1.87 (1 thread: 2.83 | 2.85 | 3.68 vs 2.88 | 2.93 | 3.33); 32×(24→24, 16×16) a tie, 0.95 |
#: 0.97 | 1.19 vs 1.00 | 1.00 | 1.17; 32×(32→32, 16×16) Winograd 1.38 | 1.32 | 1.55 vs 1.69 | 1.73
#: | 2.12 (``python benchmarks/run.py --plans``: cases 3x3_c16, 3x3_c24, 3x3_c32).
WINOGRAD_MIN_REDUCTION = 24 * 9

#: ... and with at least this many 2×2 output tiles: 8×(128→128, 8×8) (128 tiles) 5.2 ms vs 7.2
#: im2col, while batch 1 at 16×16 (64 tiles) tied, 2.3 vs 2.1 (2 threads): the GEMMs are too thin.
WINOGRAD_MIN_TILES = 128

#: Unrolled kernels up to this ``R``: 64×(4→16, 5×5) (R = 100) lost to im2col, 2.84 ms vs 2.51.
#: Beyond it, a 3×3 layer with Winograd's tile count but not its reduction still takes them
#: (the row under Winograd's in :data:`HEURISTIC`; measurements at ``WINOGRAD_MIN_REDUCTION``).
UNROLLED_MAX_REDUCTION = 99

#: Batch lanes up to this ``R`` (5×5, no groups): 64×(16→16, 5×5, 10×10) (R = 400) 2.45 ms vs
#: 4.37 im2col; larger ``R`` was not measured.
BATCH_LANES_MAX_REDUCTION = 400

#: ... with at least this many samples (its SIMD lanes): batch 8 of LeNet's second layer still
#: won, 0.66 ms vs 0.70 im2col (2 threads); smaller batches were not measured.
BATCH_LANES_MIN_BATCH = 8

#: Direct loops below this ``R``: depthwise 3×3 (R = 9) 13 ms vs 77 im2col. Not for a 1×1 kernel
#: without groups, a plain matrix product: a 16→32 1×1/stride-2 shortcut 1.8 ms im2col vs 12.8.
DIRECT_MAX_REDUCTION = 64

PLANS: dict[str, ConvPlan] = {plan.name: plan for plan in (
    LoopsPlan(), DirectPlan(), UnrolledPlan(), BatchLanesPlan(), WinogradPlan(), Im2colPlan())}

#: The heuristic, in order: ``(plan name, when it wins)``; the first row whose rule holds and
#: whose plan supports the step is used.
HEURISTIC: tuple[tuple[str, Callable[[ConvProblem], bool]], ...] = (
    ("winograd", lambda p: (p.reduction >= WINOGRAD_MIN_REDUCTION
                            and tile_count(p) >= WINOGRAD_MIN_TILES)),
    ("unrolled", lambda p: (p.reduction <= UNROLLED_MAX_REDUCTION
                            or (p.kernel_size == (3, 3) and p.reduction < WINOGRAD_MIN_REDUCTION
                                and tile_count(p) >= WINOGRAD_MIN_TILES))),
    ("batch_lanes", lambda p: (p.groups == 1 and p.reduction <= BATCH_LANES_MAX_REDUCTION
                               and p.batch >= BATCH_LANES_MIN_BATCH)),
    ("direct", lambda p: (p.reduction < DIRECT_MAX_REDUCTION
                          and not (p.kernel_size == (1, 1) and p.groups == 1))),
    ("im2col", lambda p: True),
)

_forced: list[str | None] = [None]


@contextlib.contextmanager
def force_plan(name: str | None) -> Iterator[None]:
    """Use plan ``name`` for every convolution step it supports inside the block (``None``: the
    heuristic alone)."""
    if name is not None and name not in PLANS:
        raise ValueError(f"force_plan: unknown plan {name!r}; known: {sorted(PLANS)}")
    previous = _forced[0]
    _forced[0] = name
    try:
        yield
    finally:
        _forced[0] = previous


def choose_plan(problem: ConvProblem, step: Step = "forward") -> ConvPlan:
    """The plan that computes ``step`` of ``problem``: the forced plan if it supports it, else
    the first row of :data:`HEURISTIC` whose rule holds and whose plan supports it."""
    forced = _forced[0]
    if forced is not None and PLANS[forced].supports(problem, step):
        return PLANS[forced]
    for name, wins in HEURISTIC:
        plan = PLANS[name]
        if wins(problem) and plan.supports(problem, step):
            return plan
    raise AssertionError("unreachable: the last row of HEURISTIC (im2col) computes everything")


def plan_name(x_shape: tuple, w_shape: tuple, stride: Pair, padding: Padding4, dilation: Pair,
              groups: int, step: Step = "forward") -> str:
    """The name of the plan a convolution with these contract arguments would use now for
    ``step`` (for benchmarks and curious students); float32."""
    problem = ConvProblem.checked("plan_name", x_shape, w_shape, stride, padding, dilation,
                                  groups, np.float32)
    return choose_plan(problem, step).name


def _run(problem: ConvProblem, step: Step, result_shape: tuple,
         *arrays: np.ndarray) -> np.ndarray:
    """``step`` of a checked problem on ``arrays``: zeros of ``result_shape`` for an empty batch
    (no plan needed), else the chosen plan's method on C-contiguous arrays."""
    if problem.batch == 0:
        return np.zeros(result_shape, dtype=problem.dtype)
    settings.ensure_applied()
    contiguous = [a if a.flags.c_contiguous else np.ascontiguousarray(a) for a in arrays]
    return getattr(choose_plan(problem, step), step)(*contiguous, problem)


# ------------------------------------------------------------------------------------------------
# The contract functions
# ------------------------------------------------------------------------------------------------


def conv2d_forward(x: np.ndarray, w: np.ndarray, stride: Pair, padding: Padding4,
                   dilation: Pair, groups: int) -> np.ndarray:
    """``y = x ⋆ w``; ``x: (N, C_in, H, W)``, ``w: (C_out, C_in/groups, kH, kW)``
    -> ``y: (N, C_out, H_out, W_out)`` (see ``reference.conv2d_forward``)."""
    op = "conv2d_forward"
    check_same_dtype(op, x=x, w=w)
    problem = ConvProblem.checked(op, x.shape, w.shape, stride, padding, dilation, groups,
                                  x.dtype)
    return _run(problem, "forward", problem.y_shape, x, w)


def conv2d_backward_input(grad_y: np.ndarray, w: np.ndarray, x_shape: tuple, stride: Pair,
                          padding: Padding4, dilation: Pair, groups: int) -> np.ndarray:
    """``grad_x = full_corr(δ, rot180(w))`` cropped by the padding; ``grad_y: (N, C_out, H_out,
    W_out)``, ``x_shape = (N, C_in, H, W)`` -> ``grad_x`` (see ``reference``)."""
    op = "conv2d_backward_input"
    check_same_dtype(op, grad_y=grad_y, w=w)
    problem = ConvProblem.checked(op, x_shape, w.shape, stride, padding, dilation, groups,
                                  grad_y.dtype)
    check_conv2d_grad_y(op, grad_y.shape, problem.y_shape)
    return _run(problem, "backward_input", problem.x_shape, grad_y, w)


def conv2d_backward_weight(x: np.ndarray, grad_y: np.ndarray, w_shape: tuple, stride: Pair,
                           padding: Padding4, dilation: Pair, groups: int) -> np.ndarray:
    """``grad_w = x ⋆ δ`` summed over the batch; ``x: (N, C_in, H, W)``, ``grad_y: (N, C_out,
    H_out, W_out)`` -> ``grad_w`` of shape ``w_shape``."""
    op = "conv2d_backward_weight"
    check_same_dtype(op, x=x, grad_y=grad_y)
    problem = ConvProblem.checked(op, x.shape, w_shape, stride, padding, dilation, groups,
                                  x.dtype)
    check_conv2d_grad_y(op, grad_y.shape, problem.y_shape)
    return _run(problem, "backward_weight", problem.w_shape, x, grad_y)
