"""The baseline a student would write: im2col with NumPy slicing, then one matmul.

No Numba, no workspace reuse: this is what "just use NumPy" gives. Forward, input gradient
(matmul then a col2im scatter of k² strided ``+=``) and weight gradient (one matmul).
Shapes: ``x (N, C, H, W)``, ``w (C_out, C/groups, k, k)``; groups are handled with a loop.
"""

from __future__ import annotations

import numpy as np

from tinyconv.kernels.contract import conv_output_size


def im2col(x, k, stride, pad):
    """``(N, C, H, W)`` -> ``cols (N, C·k·k, H_out·W_out)``: each column is one window."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    h_out = conv_output_size(h, k, stride, pad, pad)
    w_out = conv_output_size(w, k, stride, pad, pad)
    cols = np.empty((n, c, k, k, h_out, w_out), dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            cols[:, :, i, j] = xp[:, :, i:i + stride * h_out:stride, j:j + stride * w_out:stride]
    return cols.reshape(n, c * k * k, h_out * w_out), h_out, w_out


def col2im(cols, x_shape, k, stride, pad, h_out, w_out):
    """The adjoint of im2col: add every column entry back where it was read from."""
    n, c, h, w = x_shape
    cols = cols.reshape(n, c, k, k, h_out, w_out)
    xp = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=cols.dtype)
    for i in range(k):
        for j in range(k):
            xp[:, :, i:i + stride * h_out:stride, j:j + stride * w_out:stride] += cols[:, :, i, j]
    return xp[:, :, pad:pad + h, pad:pad + w]


def conv_forward(x, w, stride, pad, groups):
    c_out, cg, k, _ = w.shape
    cols, h_out, w_out = im2col(x, k, stride, pad)
    n = x.shape[0]
    ckk = cg * k * k
    y = np.empty((n, c_out, h_out * w_out), dtype=x.dtype)
    og = c_out // groups
    for g in range(groups):
        w_g = w[g * og:(g + 1) * og].reshape(og, ckk)
        y[:, g * og:(g + 1) * og] = w_g @ cols[:, g * ckk:(g + 1) * ckk]
    return y.reshape(n, c_out, h_out, w_out), cols


def conv_backward(x_shape, w, grad_y, cols, stride, pad, groups):
    c_out, cg, k, _ = w.shape
    n, _, h_out, w_out = grad_y.shape
    ckk = cg * k * k
    og = c_out // groups
    dy = grad_y.reshape(n, c_out, h_out * w_out)
    grad_w = np.empty_like(w)
    dcols = np.empty_like(cols)
    for g in range(groups):
        wg = w[g * og:(g + 1) * og].reshape(og, ckk)
        dyg = dy[:, g * og:(g + 1) * og]
        colg = cols[:, g * ckk:(g + 1) * ckk]
        grad_wg = np.einsum("nop,ncp->oc", dyg, colg, optimize=True)
        grad_w[g * og:(g + 1) * og] = grad_wg.reshape(og, cg, k, k)
        dcols[:, g * ckk:(g + 1) * ckk] = wg.T @ dyg
    grad_x = col2im(dcols, x_shape, k, stride, pad, h_out, w_out)
    return grad_x, grad_w
