"""The ``"direct_cout"`` plan: direct convolution with the OUTPUT CHANNELS in the innermost loop.

Read next to ``reference.conv2d_forward``. The reference computes, for every output value,

    y[b, co, oh, ow] = Σ_(ci, ki, kj) w[co, ci, ki, kj] · x[b, ci, oh·sH + ki·dH, ow·sW + kj·dW]

(on the zero-padded input; with groups, ``ci`` runs over the group's input channels). This plan
runs the same sums in another loop order, with the weights re-laid out as
``wt[g, ci, ki, kj, co]`` (output channels last, contiguous) and a job-local accumulator
``acc[ow, co]`` for one output row::

    for b, oh:                                  # one job (run_jobs splits the jobs over threads)
      for g:                                    # groups: C_out/g lanes per group
        acc[:, :] = 0
        for ci, ki, kj:                         # the reduction
          w_lanes = wt[g, ci, ki, kj, :]        # C_out/g weights, ONE contiguous load
          for ow:
            x_value = xp[b, ci, oh·sH + ki·dH, ow·sW + kj·dW]      # one scalar, broadcast
            acc[ow, :] += x_value · w_lanes     # the innermost loop: over the output channels
        y[b, g·C_out/g + co, oh, ow] = acc[ow, co]                # back to NCHW as it is stored

**Why the output channels are the lanes.** The "direct" and "unrolled" plans vectorise along an
output row: on LeNet's second layer that row is 10 values, and each multiply-add group needs a
fresh shifted load of the input. Here one weight vector ``w_lanes`` serves a whole row of
outputs, the input value is a broadcast scalar, and the innermost loop is a contiguous ``+=``
over ``C_out/g`` values: LeNet c3's 16 output channels are exactly one AVX-512 register of
float32. This is what oneDNN (PyTorch's CPU convolution) does, and no column matrix is built.
The weight gradient is the same loop nest with the roles turned:
``grad_wt[g, ci, ki, kj, :] += x_value · δ[b, oh, ow, g·C_out/g:]`` (δ laid out with the channels
last), each thread summing its own samples into a partial that is added up afterwards.

**What Numba makes of it (measured, and the limit of this plan).** oneDNN keeps a block of
``acc`` (say 8 pixels × 16 channels) in registers for the whole reduction. LLVM does that only if
it can prove that the stores to ``acc`` never change ``wt`` or ``x``; Numba gives it no way to say
so (no ``noalias`` on array arguments or on ``np.empty``), and written with constant-size blocks
(so that LLVM unrolls them) the code was compiled to scalar multiply-adds: 6.6 GFLOP/s on LeNet
c3's forward, one thread. With the lanes loop of run-time length ``C_out/g`` LLVM vectorises it
behind a run-time overlap check, and each ``acc[ow, :]`` update is a load, a vector FMA and a
store in L1: 17.8 GFLOP/s (1.73 ms). Tuples of weights, stack buffers and one shared scratch array
for weights and accumulators were all slower (1.3-6.3 GFLOP/s).

**The input gradient is im2col's.** Measured first: the forward kernel run on δ padded by
``d·(k-1)`` with the rotated, channel-swapped kernel (``unrolled_plan._rotated_transposed``, as
``unrolled_plan`` and ``winograd`` do it). Its lanes are then the *input* channels, 6 on LeNet c3,
too short for the vectorised loop: 16.8 ms against im2col's 1.11 ms (1 thread), and slower than
im2col on every layer measured (e.g. 16→16 5×5 at 10×10: 5.3 vs 1.3 ms). So it delegates.

**Measured** (ms, float32, forward / input grad (native version) / weight grad, medians of
interleaved runs, 1 thread | 2 threads), against the plan the heuristic picks:
LeNet c3 64×(6→16, 5×5, 14×14): 2.03 / 16.8 / 3.26 | 2.00 / 16.0 / 2.90, unrolled 1.24 / 1.59 /
1.65 | 1.09 / 1.40 / 1.39, im2col 1.48 / 1.11 / 1.64 | 1.37 / 0.98 / 1.40; 64×(16→16, 5×5,
10×10): 1.94 / 5.32 / 2.82 | 1.07 / 2.82 / 1.44 vs im2col 1.91 / 1.28 / 1.84 | 1.19 / 0.78 /
1.05; 64×(16→32): 2.50 / 10.2 / 3.38 | 2.28 / 8.79 / 3.07 vs im2col 2.22 / 1.58 / 2.14 | 2.05 /
1.29 / 1.66. With im2col's input gradient, LeNet c3 fwd+bwd in a later (busier) run: 9.4 | 4.9
ms, against unrolled 6.3 | 3.6 and im2col 6.0 | 3.5. On layers with fewer output channels (LeNet c1's 6, 3→16 or 8→8 3×3, depthwise's 1
per group) it is 3-30× slower than the unrolled kernels. So the heuristic never picks this plan
(``dispatch.py``); it is kept as the lesson and as a measured baseline for a future version with
explicit SIMD (register-blocked accumulators), which is what it would take to win.

Everything is supported (any stride, padding, dilation, groups, float32/float64); the forward pass
and weight gradient natively. Inputs are read through a zero-padded copy (``direct.padded``):
no bounds tests in the loops; rows are sliced at their first element (no wraparound checks).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import direct, im2col
from ._runtime import run_jobs, workspace


def supports(w_shape, stride, dilation, groups) -> bool:
    """Every convolution: the forward pass and the weight gradient natively, the input gradient
    by ``im2col``."""
    return True


def _flops(y_shape, w_shape) -> float:
    n, c_out, h_out, w_out = y_shape
    return 2.0 * n * c_out * h_out * w_out * w_shape[1] * w_shape[2] * w_shape[3]


def _channels_last_weights(w, groups, name):
    """``w: (C_out, C_in_g, kH, kW)`` -> ``wt: (groups, C_in_g, kH, kW, C_out_g)`` (a workspace
    buffer): the output channels of each group last, so that one tap's weights are contiguous."""
    c_out, c_in_g, kh, kw = w.shape
    wt = workspace.get(name, (groups, c_in_g, kh, kw, c_out // groups), w.dtype)
    wt[...] = w.reshape(groups, c_out // groups, c_in_g, kh, kw).transpose(0, 2, 3, 4, 1)
    return wt


@njit(cache=True, nogil=True, fastmath={"contract"})
def forward_rows(xp, wt, y, sh, sw, dh, dw, job_lo, job_hi):
    """``y[b, g·C_out_g + co, oh, ow] = Σ_(ci, ki, kj) wt[g, ci, ki, kj, co] ·
    xp[b, g·C_in_g + ci, oh·sH + ki·dH, ow·sW + kj·dW]`` for the output rows
    ``job = b·H_out + oh`` in ``[job_lo, job_hi)``.

    ``xp: (N, C_in, Hp, Wp)`` (zero-padded input), ``wt: (groups, C_in_g, kH, kW, C_out_g)``,
    ``y: (N, C_out, H_out, W_out)`` (written).
    """
    n, c_out, h_out, w_out = y.shape
    groups, c_in_g, kh, kw, c_out_g = wt.shape
    acc = np.empty((w_out, c_out_g), dtype=y.dtype)  # one output row x the group's channels
    zero = y.dtype.type(0)
    for job in range(job_lo, job_hi):
        b = job // h_out
        oh = job % h_out
        for g in range(groups):
            acc[:, :] = zero
            for ci in range(c_in_g):
                for ki in range(kh):
                    x_row = xp[b, g * c_in_g + ci, oh * sh + ki * dh]
                    for kj in range(kw):
                        w_lanes = wt[g, ci, ki, kj]  # C_out_g weights, contiguous
                        x_tap = x_row[kj * dw:]
                        for ow in range(w_out):
                            x_value = x_tap[ow * sw]
                            acc_lanes = acc[ow]
                            for co in range(c_out_g):  # the SIMD lanes: output channels
                                acc_lanes[co] += x_value * w_lanes[co]
            for co in range(c_out_g):  # back to NCHW: a strided read of the L1-resident acc
                y_row = y[b, g * c_out_g + co, oh]
                for ow in range(w_out):
                    y_row[ow] = acc[ow, co]


@njit(cache=True, nogil=True, fastmath={"contract"})
def weight_grad_samples(xp, d_last, grad_wt, sh, sw, dh, dw, b_lo, b_hi):
    """``grad_wt[g, ci, ki, kj, co] = Σ_(b, oh, ow) xp[b, g·C_in_g + ci, oh·sH + ki·dH,
    ow·sW + kj·dW] · d_last[b, oh, ow, g·C_out_g + co]`` over the samples ``[b_lo, b_hi)``.

    ``xp: (N, C_in, Hp, Wp)`` padded, ``d_last: (N, H_out, W_out, C_out)`` (δ with the channels
    last), ``grad_wt: (groups, C_in_g, kH, kW, C_out_g)`` (written: this block's partial sum).
    """
    n, h_out, w_out, c_out = d_last.shape
    groups, c_in_g, kh, kw, c_out_g = grad_wt.shape
    grad_wt[...] = grad_wt.dtype.type(0)
    for b in range(b_lo, b_hi):
        for oh in range(h_out):
            d_row = d_last[b, oh]  # (W_out, C_out)
            for g in range(groups):
                for ci in range(c_in_g):
                    for ki in range(kh):
                        x_row = xp[b, g * c_in_g + ci, oh * sh + ki * dh]
                        for kj in range(kw):
                            gw_lanes = grad_wt[g, ci, ki, kj]
                            x_tap = x_row[kj * dw:]
                            for ow in range(w_out):
                                x_value = x_tap[ow * sw]
                                d_lanes = d_row[ow, g * c_out_g:]
                                for co in range(c_out_g):  # the SIMD lanes: output channels
                                    gw_lanes[co] += x_value * d_lanes[co]
    return grad_wt


def _weight_grad_block(xp, d_last, wt_shape, sh, sw, dh, dw, b_lo, b_hi):
    """One thread's samples: its partial sum in a fresh array (the blocks run at once)."""
    partial = np.empty(wt_shape, dtype=xp.dtype)
    return weight_grad_samples(xp, d_last, partial, sh, sw, dh, dw, b_lo, b_hi)


# ------------------------------------------------------------------------------------------------
# The contract functions (inputs already checked and C-contiguous; see dispatch.py)
# ------------------------------------------------------------------------------------------------


def forward(x, w, y_shape, stride, padding, dilation, groups):
    """``x: (N, C_in, H, W)``, ``w: (C_out, C_in/g, kH, kW)`` -> fresh ``y: (N, C_out, H_out,
    W_out)``. One job per output row ``(b, oh)``."""
    y = np.empty(y_shape, dtype=x.dtype)
    xp = direct.padded(x, padding)
    wt = _channels_last_weights(w, groups, "direct_cout_w")
    run_jobs(forward_rows, y_shape[0] * y_shape[2], _flops(y_shape, w.shape),
             xp, wt, y, stride[0], stride[1], dilation[0], dilation[1])
    return y


def backward_input(grad_y, w, x_shape, stride, padding, dilation, groups):
    """``grad_y: (N, C_out, H_out, W_out)`` -> fresh ``grad_x`` of ``x_shape``, by
    ``im2col.backward_input`` (see the module docstring for why not natively)."""
    return im2col.backward_input(grad_y, w, x_shape, stride, padding, dilation, groups)


def backward_weight(x, grad_y, w_shape, stride, padding, dilation, groups):
    """``x: (N, C_in, H, W)``, ``grad_y: (N, C_out, H_out, W_out)`` -> fresh ``grad_w`` of
    ``w_shape``. Parallel over samples; the per-thread partial sums are added in job order."""
    c_out, c_in_g, kh, kw = w_shape
    xp = direct.padded(x, padding)
    d_last = workspace.get("direct_cout_grad_y_last", grad_y.shape[:1] + grad_y.shape[2:]
                           + grad_y.shape[1:2], grad_y.dtype)
    d_last[...] = grad_y.transpose(0, 2, 3, 1)
    wt_shape = (groups, c_in_g, kh, kw, c_out // groups)
    partials = run_jobs(_weight_grad_block, x.shape[0], _flops(grad_y.shape, w_shape),
                        xp, d_last, wt_shape, stride[0], stride[1], dilation[0], dilation[1])
    grad_wt = partials[0]
    for partial in partials[1:]:
        grad_wt += partial
    # (groups, C_in_g, kh, kw, C_out_g) -> (C_out, C_in_g, kh, kw), a fresh array
    return np.ascontiguousarray(grad_wt.transpose(0, 4, 1, 2, 3).reshape(w_shape))
