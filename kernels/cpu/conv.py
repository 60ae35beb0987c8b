"""The ``"loops"`` plan: the reference's loops, compiled by Numba. Read it next to ``reference.py``.

Each step of the plan (:class:`LoopsPlan`) is a thin Python method that

1. makes the copies the loops need, with the shared helpers of ``layout.py``: the input inside a
   border of zeros (so the compiled loops need no "is this tap inside the image?" tests), the
   dilated and padded δ, the kernel turned by 180°, and allocates the output,
2. calls one ``@njit(parallel=True, cache=True)`` kernel whose loops mirror the loops of
   ``reference.py``: read them side by side.

The arguments were checked once, when the dispatcher built the :class:`~.problem.ConvProblem`.
The heuristic never picks this plan (the others are faster); it is the readable baseline, and
``force_plan("loops")`` runs it.

Parallelism (``prange``) runs over outputs that no other iteration writes, so there are no races:
the forward pass over ``(n, c_out)`` output planes, the input gradient over ``(n, c_in)`` planes
and the weight gradient over ``(c_out, c_in_per_group)`` filters (each sums over the batch itself).

Accumulators start at ``y.dtype.type(0)``, a zero of the arrays' own dtype: a literal ``0.0`` would
make Numba accumulate float32 data in float64. Windows are taken as slices starting at their
corner (``x_padded[b, ci, top:, left:]``) and indexed from there with non-negative offsets, which
lets the compiler drop negative-index checks from the inner loops.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .layout import dilated_delta, zero_padded
from .problem import ConvProblem, Step

__all__ = ["LoopsPlan"]


# ------------------------------------------------------------------------------------------------
# Forward
# ------------------------------------------------------------------------------------------------

@njit(parallel=True, cache=True)
def _conv2d_forward_kernel(x_padded, w, y, stride_h, stride_w, dilation_h, dilation_w, groups):
    """``y[n, co, oh, ow] = sum_{ci, ki, kj} x_padded[n, first_ci + ci, oh*sH + ki*dH,
    ow*sW + kj*dW] * w[co, ci, ki, kj]``; one ``(n, co)`` output plane per parallel job.

    ``x_padded: (N, C_in, H + top + bottom, W + left + right)``, ``w: (C_out, C_in_g, kH, kW)``,
    ``y: (N, C_out, H_out, W_out)`` (written).
    """
    n, c_out, h_out, w_out = y.shape
    c_in_per_group, kh, kw = w.shape[1], w.shape[2], w.shape[3]
    c_out_per_group = c_out // groups
    for job in prange(n * c_out):
        b = job // c_out
        co = job % c_out
        first_ci = (co // c_out_per_group) * c_in_per_group  # this group's input channels
        for oh in range(h_out):
            for ow in range(w_out):
                acc = y.dtype.type(0)
                for ci in range(c_in_per_group):
                    # The window's corner sits at (oh*sH, ow*sW) of the padded plane.
                    window = x_padded[b, first_ci + ci, oh * stride_h:, ow * stride_w:]
                    for ki in range(kh):
                        for kj in range(kw):
                            acc += window[ki * dilation_h, kj * dilation_w] * w[co, ci, ki, kj]
                y[b, co, oh, ow] = acc


# ------------------------------------------------------------------------------------------------
# Gradient with respect to the input
# ------------------------------------------------------------------------------------------------

@njit(parallel=True, cache=True)
def _conv2d_backward_input_kernel(delta, w_rotated, grad_x_padded, reached_h, reached_w,
                                  dilation_h, dilation_w, groups):
    """Full correlation of the dilated, fully padded δ with the rotated kernel (reference step 4).

    ``delta: (N, C_out, ...)`` δ dilated by the stride and padded by ``span - 1`` on each side,
    ``w_rotated: (C_out, C_in_g, kH, kW)`` the kernel turned by 180°,
    ``grad_x_padded: (N, C_in, H_padded, W_padded)`` zeros, written at ``[:reached_h, :reached_w]``
    (rows past ``reached_h`` were read by no window: their gradient stays 0).
    One ``(n, ci)`` input-gradient plane per parallel job.
    """
    n, c_in = grad_x_padded.shape[0], grad_x_padded.shape[1]
    c_out, c_in_per_group, kh, kw = w_rotated.shape
    c_out_per_group = c_out // groups
    for job in prange(n * c_in):
        b = job // c_in
        ci = job % c_in
        ci_in_group = ci % c_in_per_group
        first_co = (ci // c_in_per_group) * c_out_per_group  # the output channels that read ci
        for i in range(reached_h):
            for j in range(reached_w):
                acc = grad_x_padded.dtype.type(0)
                for co in range(first_co, first_co + c_out_per_group):
                    window = delta[b, co, i:, j:]
                    for ki in range(kh):
                        for kj in range(kw):
                            acc += (window[ki * dilation_h, kj * dilation_w]
                                    * w_rotated[co, ci_in_group, ki, kj])
                grad_x_padded[b, ci, i, j] = acc


# ------------------------------------------------------------------------------------------------
# Gradient with respect to the weight
# ------------------------------------------------------------------------------------------------

@njit(parallel=True, cache=True)
def _conv2d_backward_weight_kernel(x_padded, grad_y, grad_w, stride_h, stride_w,
                                   dilation_h, dilation_w, groups):
    """``grad_w[co, ci, ki, kj] = sum_{n, oh, ow} x_padded[n, channel, oh*sH + ki*dH,
    ow*sW + kj*dW] * δ[n, co, oh, ow]``; one ``(co, ci)`` filter per parallel job, summing over
    the whole batch itself (so no two jobs add into the same element).

    ``x_padded: (N, C_in, H_padded, W_padded)``, ``grad_y: (N, C_out, H_out, W_out)``,
    ``grad_w: (C_out, C_in_g, kH, kW)`` (written).
    """
    n, c_out, h_out, w_out = grad_y.shape
    c_in_per_group, kh, kw = grad_w.shape[1], grad_w.shape[2], grad_w.shape[3]
    c_out_per_group = c_out // groups
    for job in prange(c_out * c_in_per_group):
        co = job // c_in_per_group
        ci = job % c_in_per_group
        channel = (co // c_out_per_group) * c_in_per_group + ci  # the input channel w[co, ci] reads
        for ki in range(kh):
            for kj in range(kw):
                acc = grad_w.dtype.type(0)
                for b in range(n):
                    # What tap (ki, kj) saw: the padded plane from (ki*dH, kj*dW) on, every
                    # sH-th row and sW-th column.
                    seen = x_padded[b, channel, ki * dilation_h:, kj * dilation_w:]
                    for oh in range(h_out):
                        for ow in range(w_out):
                            acc += seen[oh * stride_h, ow * stride_w] * grad_y[b, co, oh, ow]
                grad_w[co, ci, ki, kj] = acc


# ------------------------------------------------------------------------------------------------
# The plan
# ------------------------------------------------------------------------------------------------


class LoopsPlan:
    """The reference's loops, compiled: every problem, every step."""

    name = "loops"

    def supports(self, problem: ConvProblem, step: Step) -> bool:
        return True

    def forward(self, x: np.ndarray, w: np.ndarray, problem: ConvProblem) -> np.ndarray:
        """2-D cross-correlation ``y = x ⋆ w`` (``reference.conv2d_forward``):
        ``x: (N, C_in, H, W)``, ``w: (C_out, C_in // groups, kH, kW)``
        -> ``y: (N, C_out, H_out, W_out)``."""
        y = np.empty(problem.y_shape, dtype=x.dtype)  # every element is written by the kernel
        _conv2d_forward_kernel(zero_padded(x, problem.padding), w, y, *problem.stride,
                               *problem.dilation, problem.groups)
        return y

    def backward_input(self, grad_y: np.ndarray, w: np.ndarray,
                       problem: ConvProblem) -> np.ndarray:
        """``grad_x = full_corr(δ dilated by the stride, rot180(w))``, padding cropped:
        ``grad_y: (N, C_out, H_out, W_out)`` -> ``grad_x: (N, C_in, H, W)``. The steps and why
        they are right are in ``reference.conv2d_backward_input``; steps 1-3 and 5 are array
        copies done here, step 4 (the correlation) is the compiled kernel."""
        n, c_in, h, width = problem.x_shape
        kh, kw = problem.kernel_size
        (dh, dw), (sh, sw) = problem.dilation, problem.stride
        top, bottom, left, right = problem.padding
        span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
        # Steps 1 and 2: dilate δ by the stride and pad it fully (span - 1 zeros on each side).
        delta = dilated_delta(grad_y, problem.stride, (span_h - 1, span_w - 1))
        # Step 3: rotate the kernel by 180°.
        w_rotated = np.ascontiguousarray(w[:, :, ::-1, ::-1])
        # Step 4: the correlation, over the padded-input positions some window read.
        grad_x_padded = np.zeros((n, c_in, top + h + bottom, left + width + right),
                                 dtype=grad_y.dtype)
        h_out, w_out = problem.y_shape[2], problem.y_shape[3]
        reached_h, reached_w = (h_out - 1) * sh + span_h, (w_out - 1) * sw + span_w
        _conv2d_backward_input_kernel(delta, w_rotated, grad_x_padded, reached_h, reached_w,
                                      dh, dw, problem.groups)
        # Step 5: crop the padding.
        return np.ascontiguousarray(grad_x_padded[:, :, top:top + h, left:left + width])

    def backward_weight(self, x: np.ndarray, grad_y: np.ndarray,
                        problem: ConvProblem) -> np.ndarray:
        """``grad_w = x ⋆ δ``, summed over the batch (``reference.conv2d_backward_weight``):
        ``x: (N, C_in, H, W)``, ``grad_y: (N, C_out, H_out, W_out)`` -> ``grad_w`` of
        ``problem.w_shape``."""
        grad_w = np.empty(problem.w_shape, dtype=x.dtype)  # every element is written
        _conv2d_backward_weight_kernel(zero_padded(x, problem.padding), grad_y, grad_w,
                                       *problem.stride, *problem.dilation, problem.groups)
        return grad_w
