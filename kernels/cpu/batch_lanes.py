"""The ``"batch_lanes"`` plan: tap-unrolled stride-1 kernels whose SIMD lanes run over the batch.

The ``"unrolled"`` plan makes one pass over a flattened *plane* per (sample, c_out, c_in). On a
small image that pass is short (LeNet's second layer, 14×14 input: 144 values, 9 vectors) and
the per-pass setup (k² weight loads, k² slice views) costs as much as the arithmetic. Here the
data is laid out with the batch innermost, ``xt = x.transpose(1, 2, 3, 0)``: ``(C_in, H, W, N)``.
Pixel (r, c) of a channel is then a run of N values (one per sample), tap (ki, kj) is the shift
``(ki·Wp + kj)·N`` of the flattened channel, and one pass per (c_out, c_in) covers every output
pixel of every sample: 64 samples × 10 rows × 14 wide columns = 8,960 values instead of 144.

The kernels are generated with the others (``gen_unrolled.py`` → ``unrolled.py``:
``correlate_batch_lanes_5x5``, ``weight_grad_batch_lanes_5x5``):

- forward: ``correlate`` on the padded input, transposed to ``(C_in, Hp, Wp, N)``; it writes
  ``y`` in the usual ``(N, C_out, H_out, W_out)`` layout as it finishes each output channel.
- input gradient: not computed here (:meth:`BatchLanesPlan.supports` says so), the dispatcher
  takes the next plan of its table, im2col: it was as fast or faster wherever this plan is
  chosen (ms, 2 threads | 1 thread, a batch-lanes input gradient vs im2col's: LeNet's second
  layer 64×(6→16, 5×5, 14×14) 1.07 vs 0.87 | 1.64 vs 1.54; 64×(16→16, 5×5, 10×10) 1.33 vs 1.21
  | 2.01 vs 2.15). Its output plane is the input's, larger than the forward's, and its
  accumulator no longer fits in L1.
- weight gradient: one dot product per tap over (pixels × samples) per (c_out, c_in).

The kernels exist for the sizes in ``gen_unrolled.BATCH_LANES_SIZES`` (5×5: the heuristic picks
this plan for LeNet-style layers only), stride 1 and dilation 1.
"""

from __future__ import annotations

import numpy as np

from . import unrolled
from ._runtime import run_jobs
from .layout import zero_padded_batch_last
from .problem import ConvProblem, Step

__all__ = ["BatchLanesPlan"]


class BatchLanesPlan:
    """Tap-unrolled stride-1 kernels with the batch in the SIMD lanes: forward and weight
    gradient."""

    name = "batch_lanes"

    def supports(self, problem: ConvProblem, step: Step) -> bool:
        return (step != "backward_input" and problem.unit_stride_and_dilation
                and problem.kernel_size in unrolled.CORRELATE_BATCH_LANES)

    def forward(self, x: np.ndarray, w: np.ndarray, problem: ConvProblem) -> np.ndarray:
        """``x: (N, C_in, H, W)``, ``w: (C_out, C_in/g, k, k)`` -> fresh
        ``y: (N, C_out, H_out, W_out)``."""
        y = np.empty(problem.y_shape, dtype=x.dtype)
        top, bottom, left, right = problem.padding
        # one spare zero row: the kernel computes output rows in pairs
        xt = zero_padded_batch_last(x, (top, bottom + 1, left, right), "x_batch_last")
        kernel = unrolled.CORRELATE_BATCH_LANES[problem.kernel_size]
        run_jobs(kernel, y.shape[1], problem.flops, xt, w, y, 0, 0, problem.groups)
        return y

    #: Not computed by this plan (``supports`` is False for it): the dispatcher uses im2col's.
    backward_input = None

    def backward_weight(self, x: np.ndarray, grad_y: np.ndarray,
                        problem: ConvProblem) -> np.ndarray:
        """``x: (N, C_in, H, W)``, ``grad_y: (N, C_out, H_out, W_out)`` -> fresh ``grad_w``."""
        grad_w = np.empty(problem.w_shape, dtype=x.dtype)
        top, bottom, left, right = problem.padding
        xt = zero_padded_batch_last(x, (top, bottom + 1, left, right), "x_batch_last")
        # δ batch innermost, with a zero row below when H_out is odd (the kernel takes row pairs)
        dt = zero_padded_batch_last(grad_y, (0, grad_y.shape[2] % 2, 0, 0), "grad_y_batch_last")
        kernel = unrolled.WEIGHT_GRAD_BATCH_LANES[problem.kernel_size]
        run_jobs(kernel, grad_w.shape[0] * grad_w.shape[1], problem.flops, xt, dt, grad_w,
                 problem.groups)
        return grad_w
