"""The ``"batch_lanes"`` plan: tap-unrolled stride-1 kernels whose SIMD lanes run over the batch.

The ``"unrolled"`` plan makes one pass over a flattened *plane* per (sample, c_out, c_in). On a
small image that pass is short (LeNet's second layer, 14×14 input: 144 values, 9 vectors) and
the per-pass setup (k² weight loads, k² slice views) costs as much as the arithmetic. Here the
data is laid out with the batch innermost, ``xt = x.transpose(1, 2, 3, 0)``: ``(C_in, H, W, N)``.
Pixel (r, c) of a channel is then a run of N values (one per sample), tap (ki, kj) is the shift
``(ki·Wp + kj)·N`` of the flattened channel, and one pass per (c_out, c_in) covers every output
pixel of every sample: 64 samples × 10 rows × 14 wide columns = 8,960 values instead of 144.

The kernels are generated with the others (``gen_unrolled.py`` → ``unrolled.py``:
``correlate_batch_lanes_*``, ``weight_grad_batch_lanes_*``):

- forward: ``correlate`` on the padded input, transposed to ``(C_in, Hp, Wp, N)``; it writes
  ``y`` in the usual ``(N, C_out, H_out, W_out)`` layout as it finishes each output channel.
- input gradient: im2col's (``im2col.backward_input``), because it was as fast or faster
  wherever ``dispatch`` chooses this plan (ms, 2 threads | 1 thread, batch lanes vs im2col:
  LeNet's second layer 64×(6→16, 5×5, 14×14) 1.07 vs 0.87 | 1.64 vs 1.54; the same at batch 16
  0.38 vs 0.29 | 0.48 vs 0.40; 64×(16→16, 5×5, 10×10) 1.33 vs 1.21 | 2.01 vs 2.15). The batch
  lanes version is kept (``OWN_INPUT_GRADIENT``; the tests run it): the same correlate kernel on
  δ transposed and padded by ``k - 1`` on every side with the rotated, channel-swapped kernel
  (the full correlation of ``unrolled_plan.py``). Its output plane is the input's, larger than
  the forward's, and its accumulator no longer fits in L1.
- weight gradient: one dot product per tap over (pixels × samples) per (c_out, c_in).

Calls the kernels do not cover (another kernel size, a stride or dilation other than 1) go to
the ``"im2col"`` plan, so forcing this plan is always correct.
"""

from __future__ import annotations

import numpy as np

from . import im2col, unrolled
from ._runtime import run_jobs, workspace
from .unrolled_plan import _flops, _rotated_transposed

#: Compute the input gradient with the batch-lanes kernel (True) or hand it to im2col (False,
#: faster; see the module docstring). The tests switch it on to check the kernel.
OWN_INPUT_GRADIENT = False


def supports(w_shape, stride, dilation) -> bool:
    """True when the generated kernels cover this convolution."""
    return (stride == (1, 1) and dilation == (1, 1)
            and (w_shape[2], w_shape[3]) in unrolled.CORRELATE_BATCH_LANES)


def _batch_last(a, name, top, bottom, left, right):
    """``a: (N, C, H, W)`` -> ``(C, top + H + bottom, left + W + right, N)``: the batch
    innermost, zero-padded (a workspace buffer, fully rewritten on each call)."""
    n, c, h, width = a.shape
    at = workspace.get(name, (c, top + h + bottom, left + width + right, n), a.dtype)
    at[:, :top] = 0
    at[:, top + h:] = 0
    at[:, top:top + h, :left] = 0
    at[:, top:top + h, left + width:] = 0
    at[:, top:top + h, left:left + width] = a.transpose(1, 2, 3, 0)
    return at


def forward(x, w, y_shape, stride, padding, dilation, groups):
    """``x: (N, C_in, H, W)``, ``w: (C_out, C_in/g, k, k)`` -> fresh
    ``y: (N, C_out, H_out, W_out)``."""
    if not supports(w.shape, stride, dilation):
        return im2col.forward(x, w, y_shape, stride, padding, dilation, groups)
    y = np.empty(y_shape, dtype=x.dtype)
    top, bottom, left, right = padding
    # one spare zero row: the kernel computes output rows in pairs
    xt = _batch_last(x, "x_batch_last", top, bottom + 1, left, right)
    kernel = unrolled.CORRELATE_BATCH_LANES[(w.shape[2], w.shape[3])]
    run_jobs(kernel, y_shape[1], _flops(y_shape, w.shape), xt, w, y, 0, 0, groups)
    return y


def backward_input(grad_y, w, x_shape, stride, padding, dilation, groups):
    """``grad_y: (N, C_out, H_out, W_out)`` -> fresh ``grad_x`` of ``x_shape``."""
    if not (OWN_INPUT_GRADIENT and supports(w.shape, stride, dilation)):
        return im2col.backward_input(grad_y, w, x_shape, stride, padding, dilation, groups)
    kh, kw = w.shape[2], w.shape[3]
    # δ padded by k-1 zeros on every side (plus the spare row): the full correlation of
    # unrolled_plan.backward_input, batch innermost
    dt = _batch_last(grad_y, "grad_y_batch_last", kh - 1, kh, kw - 1, kw - 1)
    grad_x = np.empty(tuple(x_shape), dtype=grad_y.dtype)
    kernel = unrolled.CORRELATE_BATCH_LANES[(kh, kw)]
    run_jobs(kernel, x_shape[1], _flops(grad_y.shape, w.shape),
             dt, _rotated_transposed(w, groups), grad_x, padding[0], padding[2], groups)
    return grad_x


def backward_weight(x, grad_y, w_shape, stride, padding, dilation, groups):
    """``x: (N, C_in, H, W)``, ``grad_y: (N, C_out, H_out, W_out)`` -> fresh ``grad_w``."""
    w_shape = tuple(w_shape)
    if not supports(w_shape, stride, dilation):
        return im2col.backward_weight(x, grad_y, w_shape, stride, padding, dilation, groups)
    grad_w = np.empty(w_shape, dtype=x.dtype)
    top, bottom, left, right = padding
    xt = _batch_last(x, "x_batch_last", top, bottom + 1, left, right)
    # δ batch innermost, with a zero row below when H_out is odd (the kernel takes row pairs)
    dt = _batch_last(grad_y, "grad_y_batch_last", 0, grad_y.shape[2] % 2, 0, 0)
    kernel = unrolled.WEIGHT_GRAD_BATCH_LANES[(w_shape[2], w_shape[3])]
    run_jobs(kernel, w_shape[0] * w_shape[1], _flops(grad_y.shape, w_shape),
             xt, dt, grad_w, groups)
    return grad_w
