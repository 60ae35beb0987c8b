"""Direct convolution: loops over the taps, for layers with little work per output value.

When ``C_in/groups · kH · kW`` is small (LeNet's first layer: 1·5·5; a depthwise layer: 1·3·3),
a GEMM would be a thin matrix product and im2col would copy the input k² times to save almost no
arithmetic. Looping over the taps directly wins there (``dispatch.py`` decides).

The loop order is what makes these fast (compare with ``conv.py``, which mirrors the reference):
the innermost loop always runs along a row of outputs (``ow``), reading a row of the input with
stride ``sW`` and updating a row that stays in L1 cache, with one weight held in a scalar. For
``sW = 1`` that loop is a plain ``y_row[i] += w * x_row[i]``, which LLVM turns into SIMD
multiply-adds. The parallel jobs own disjoint output planes, so there are no races.

Inputs are read through a zero-padded copy (``layout.zero_padded``, a workspace buffer reused
between calls): no "is this tap inside the image?" tests in the loops. Windows are taken as
slices starting at their first element and indexed with non-negative offsets, so Numba emits no
wraparound checks.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._runtime import workspace
from .layout import zero_padded
from .problem import ConvProblem, Step

__all__ = ["DirectPlan"]


@njit(parallel=True, cache=True, fastmath=True)
def forward_kernel(xp: np.ndarray, w: np.ndarray, y: np.ndarray, sh: int, sw: int, dh: int, dw: int,
                   groups: int) -> None:
    """``y[b, co] = Σ_{ci, ki, kj} w[co, ci, ki, kj] · xp[b, g·C_in_g + ci, oh·sH + ki·dH,
    ow·sW + kj·dW]``. ``xp: (N, C_in, Hp, Wp)`` padded, ``w: (C_out, C_in_g, kH, kW)``,
    ``y: (N, C_out, H_out, W_out)`` (written). One parallel job per output plane ``(b, co)``."""
    n, c_out, h_out, w_out = y.shape
    c_in_g, kh, kw = w.shape[1], w.shape[2], w.shape[3]
    c_out_g = c_out // groups
    zero = y.dtype.type(0)
    for job in prange(n * c_out):
        b = job // c_out
        co = job % c_out
        first = (co // c_out_g) * c_in_g  # first input channel of this group
        for oh in range(h_out):
            y_row = y[b, co, oh]
            y_row[:] = zero
            for ci in range(c_in_g):
                for ki in range(kh):
                    x_row = xp[b, first + ci, oh * sh + ki * dh]
                    for kj in range(kw):
                        weight = w[co, ci, ki, kj]
                        x_tap = x_row[kj * dw:]  # the tap's first input column
                        if sw == 1:
                            for ow in range(w_out):
                                y_row[ow] += weight * x_tap[ow]
                        else:
                            for ow in range(w_out):
                                y_row[ow] += weight * x_tap[ow * sw]


@njit(parallel=True, cache=True, fastmath=True)
def backward_input_kernel(grad_y: np.ndarray, w: np.ndarray, gxp: np.ndarray, sh: int, sw: int,
                          dh: int, dw: int, groups: int) -> None:
    """The transpose of :func:`forward_kernel`: every output gradient sends ``w · δ`` back to the
    inputs its window read. ``gxp: (N, C_in, Hp, Wp)`` (padded; written). One job per input plane
    ``(b, ci)``, looping over the output channels that read it, so the ``+=`` stay inside the
    job's own plane."""
    n, c_out, h_out, w_out = grad_y.shape
    c_in, c_in_g, kh, kw = gxp.shape[1], w.shape[1], w.shape[2], w.shape[3]
    c_out_g = c_out // groups
    zero = gxp.dtype.type(0)
    for job in prange(n * c_in):
        b = job // c_in
        ci_all = job % c_in
        g = ci_all // c_in_g
        ci = ci_all % c_in_g
        plane = gxp[b, ci_all]
        plane[:, :] = zero
        for co in range(g * c_out_g, (g + 1) * c_out_g):
            for oh in range(h_out):
                d_row = grad_y[b, co, oh]
                for ki in range(kh):
                    gx_row = plane[oh * sh + ki * dh]
                    for kj in range(kw):
                        weight = w[co, ci, ki, kj]
                        gx_tap = gx_row[kj * dw:]
                        if sw == 1:
                            for ow in range(w_out):
                                gx_tap[ow] += weight * d_row[ow]
                        else:
                            for ow in range(w_out):
                                gx_tap[ow * sw] += weight * d_row[ow]


@njit(parallel=True, cache=True, fastmath=True)
def backward_weight_kernel(xp: np.ndarray, grad_y: np.ndarray, grad_w: np.ndarray, sh: int, sw: int,
                           dh: int, dw: int, groups: int) -> None:
    """``grad_w[co, ci, ki, kj] = Σ_{b, oh, ow} xp[b, ·, oh·sH + ki·dH, ow·sW + kj·dW] ·
    δ[b, co, oh, ow]``. One job per filter ``(co, ci)``; it sums over the batch itself. The
    innermost loop is a dot product along a row (``fastmath`` lets LLVM reassociate it into SIMD
    partial sums; the accumulator has the arrays' dtype)."""
    n, c_out, h_out, w_out = grad_y.shape
    c_in_g, kh, kw = grad_w.shape[1], grad_w.shape[2], grad_w.shape[3]
    c_out_g = c_out // groups
    for job in prange(c_out * c_in_g):
        co = job // c_in_g
        ci = job % c_in_g
        channel = (co // c_out_g) * c_in_g + ci
        for ki in range(kh):
            for kj in range(kw):
                acc = grad_w.dtype.type(0)
                for b in range(n):
                    for oh in range(h_out):
                        d_row = grad_y[b, co, oh]
                        x_tap = xp[b, channel, oh * sh + ki * dh, kj * dw:]
                        if sw == 1:
                            for ow in range(w_out):
                                acc += x_tap[ow] * d_row[ow]
                        else:
                            for ow in range(w_out):
                                acc += x_tap[ow * sw] * d_row[ow]
                grad_w[co, ci, ki, kj] = acc


# ------------------------------------------------------------------------------------------------
# Stride 1: the "flat plane" kernels
# ------------------------------------------------------------------------------------------------
# With stride 1, flatten each padded plane (row length Wp). Output (oh, ow) of a "wide" output
# whose rows are also Wp long sits at flat index i = oh*Wp + ow, and tap (ki, kj) reads the flat
# input at i + ki*dH*Wp + kj*dW: every tap is the SAME shifted read for all outputs. So one tap is
# one long loop ``y_wide[i] += w * x_flat[i + shift]`` over H_out*Wp values (instead of H_out
# short rows) — long, contiguous, and vectorised by LLVM. The wide output has Wp - W_out extra
# columns per row that are computed and thrown away (they read across the row end): 6-30 % extra
# work on the layers this path serves, much less than the loop overhead of short rows.


@njit(parallel=True, cache=True, fastmath=True)
def forward_flat_kernel(xp: np.ndarray, w: np.ndarray, y: np.ndarray, dh: int, dw: int,
                        groups: int) -> None:
    """Stride-1 forward. ``xp: (N, C_in, Hp, Wp)`` padded, ``w: (C_out, C_in_g, kH, kW)``,
    ``y: (N, C_out, H_out, W_out)`` (written). One job per output plane ``(b, co)``; the wide
    plane ``H_out x Wp`` is accumulated in a job-local buffer that stays in L1."""
    n, c_out, h_out, w_out = y.shape
    c_in_g, kh, kw = w.shape[1], w.shape[2], w.shape[3]
    wp = xp.shape[3]
    length = (h_out - 1) * wp + w_out  # last useful flat index + 1
    c_out_g = c_out // groups
    for job in prange(n * c_out):
        b = job // c_out
        co = job % c_out
        first = (co // c_out_g) * c_in_g
        acc = np.zeros(length, dtype=y.dtype)  # the wide output plane, flattened
        for ci in range(c_in_g):
            x_flat = xp[b, first + ci].ravel()
            for ki in range(kh):
                for kj in range(kw):
                    weight = w[co, ci, ki, kj]
                    x_tap = x_flat[ki * dh * wp + kj * dw:]  # the tap's shift
                    for i in range(length):
                        acc[i] += weight * x_tap[i]
        for oh in range(h_out):  # keep the W_out real columns of each wide row
            y_row = y[b, co, oh]
            a_row = acc[oh * wp:]
            for ow in range(w_out):
                y_row[ow] = a_row[ow]


@njit(parallel=True, cache=True, fastmath=True)
def backward_input_flat_kernel(d_wide: np.ndarray, w: np.ndarray, gxp: np.ndarray, dh: int, dw: int,
                               groups: int) -> None:
    """Stride-1 input gradient: each tap sends ``w · δ`` back along its shift,
    ``gx_flat[i + shift] += w · δ_wide[i]``. ``d_wide: (N, C_out, H_out, Wp)`` (zero extra
    columns), ``gxp: (N, C_in, Hp, Wp)`` padded (written). One job per input plane."""
    n, c_out, h_out, wp = d_wide.shape
    c_in, c_in_g, kh, kw = gxp.shape[1], w.shape[1], w.shape[2], w.shape[3]
    c_out_g = c_out // groups
    length = h_out * wp
    zero = gxp.dtype.type(0)
    for job in prange(n * c_in):
        b = job // c_in
        ci_all = job % c_in
        g = ci_all // c_in_g
        ci = ci_all % c_in_g
        gx_flat = gxp[b, ci_all].ravel()
        gx_flat[:] = zero
        for co in range(g * c_out_g, (g + 1) * c_out_g):
            d_flat = d_wide[b, co].ravel()
            for ki in range(kh):
                for kj in range(kw):
                    weight = w[co, ci, ki, kj]
                    gx_tap = gx_flat[ki * dh * wp + kj * dw:]
                    # the last wide row may hang past the plane's end by its extra columns,
                    # which are zeros of d_wide: stop at the plane's end
                    stop = min(length, gx_tap.shape[0])
                    for i in range(stop):
                        gx_tap[i] += weight * d_flat[i]


@njit(parallel=True, cache=True, fastmath=True)
def backward_weight_flat_kernel(xp: np.ndarray, d_wide: np.ndarray, grad_w: np.ndarray, dh: int,
                                dw: int, groups: int) -> None:
    """Stride-1 weight gradient: ``grad_w[co, ci, ki, kj] = Σ_b Σ_i x_flat[i + shift] ·
    δ_wide[i]`` (a dot product per tap and sample). One job per filter ``(co, ci)``."""
    n, c_out, h_out, wp = d_wide.shape
    c_in_g, kh, kw = grad_w.shape[1], grad_w.shape[2], grad_w.shape[3]
    c_out_g = c_out // groups
    for job in prange(c_out * c_in_g):
        co = job // c_in_g
        ci = job % c_in_g
        channel = (co // c_out_g) * c_in_g + ci
        for ki in range(kh):
            for kj in range(kw):
                shift = ki * dh * wp + kj * dw
                acc = grad_w.dtype.type(0)
                for b in range(n):
                    x_tap = xp[b, channel].ravel()[shift:]
                    d_flat = d_wide[b, co].ravel()
                    stop = min(h_out * wp, x_tap.shape[0])
                    for i in range(stop):
                        acc += x_tap[i] * d_flat[i]
                grad_w[co, ci, ki, kj] = acc


# ------------------------------------------------------------------------------------------------
# The plan (stride 1 takes the flat-plane kernels)
# ------------------------------------------------------------------------------------------------


def _wide_grad(grad_y: np.ndarray, wp: int) -> np.ndarray:
    """``grad_y: (N, C_out, H_out, W_out)`` widened to rows of ``wp``, ``(N, C_out, H_out, wp)``
    with zeros in the extra columns, so that the thrown-away wide columns contribute nothing to
    the backward sums."""
    return zero_padded(grad_y, (0, 0, 0, wp - grad_y.shape[3]), "grad_y_wide")


class DirectPlan:
    """Loops over the taps, the innermost along an output row: every problem, every step."""

    name = "direct"

    def supports(self, problem: ConvProblem, step: Step) -> bool:
        return True

    def forward(self, x: np.ndarray, w: np.ndarray, problem: ConvProblem) -> np.ndarray:
        """``x: (N, C_in, H, W)``, ``w: (C_out, C_in/g, kH, kW)`` -> fresh
        ``y: (N, C_out, H_out, W_out)``."""
        y = np.empty(problem.y_shape, dtype=x.dtype)
        xp = zero_padded(x, problem.padding, "x_padded")
        if problem.stride == (1, 1):
            forward_flat_kernel(xp, w, y, *problem.dilation, problem.groups)
        else:
            forward_kernel(xp, w, y, *problem.stride, *problem.dilation, problem.groups)
        return y

    def backward_input(self, grad_y: np.ndarray, w: np.ndarray,
                       problem: ConvProblem) -> np.ndarray:
        """``grad_y: (N, C_out, H_out, W_out)`` -> fresh ``grad_x: (N, C_in, H, W)``: the kernels
        write the gradient of the padded input, whose padding is then cropped."""
        top, bottom, left, right = problem.padding
        n, c, h, width = problem.x_shape
        unpadded = top == bottom == left == right == 0
        if unpadded:
            gxp = np.empty(problem.x_shape, dtype=grad_y.dtype)
        else:
            gxp = workspace.get("grad_x_padded", (n, c, top + h + bottom, left + width + right),
                                grad_y.dtype)
        if problem.stride == (1, 1):
            backward_input_flat_kernel(_wide_grad(grad_y, gxp.shape[3]), w, gxp,
                                       *problem.dilation, problem.groups)
        else:
            backward_input_kernel(grad_y, w, gxp, *problem.stride, *problem.dilation,
                                  problem.groups)
        if unpadded:
            return gxp
        return gxp[:, :, top:top + h, left:left + width].copy()  # crop the padding (fresh)

    def backward_weight(self, x: np.ndarray, grad_y: np.ndarray,
                        problem: ConvProblem) -> np.ndarray:
        """``x: (N, C_in, H, W)``, ``grad_y: (N, C_out, H_out, W_out)`` -> fresh ``grad_w``."""
        grad_w = np.empty(problem.w_shape, dtype=x.dtype)
        xp = zero_padded(x, problem.padding, "x_padded")
        if problem.stride == (1, 1):
            backward_weight_flat_kernel(xp, _wide_grad(grad_y, xp.shape[3]), grad_w,
                                        *problem.dilation, problem.groups)
        else:
            backward_weight_kernel(xp, grad_y, grad_w, *problem.stride, *problem.dilation,
                                   problem.groups)
        return grad_w

