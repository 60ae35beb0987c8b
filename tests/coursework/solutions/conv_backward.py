# tinyconv assignment: conv-backward
"""A correct solution of assignment 2 (the grader's test; never shipped to students): the chain
rule read directly, one kernel tap at a time, on a zero-padded buffer cropped at the end."""

import numpy as np


def _windows(h_out, w_out, p, q, stride, dilation):
    """The rows and columns of the padded input that tap (p, q) read, as slices."""
    (sh, sw), (dh, dw) = stride, dilation
    return (slice(p * dh, p * dh + (h_out - 1) * sh + 1, sh),
            slice(q * dw, q * dw + (w_out - 1) * sw + 1, sw))


def conv2d_backward_input(grad_y, w, x_shape, stride, padding, dilation, groups):
    n, c_in, h, width = x_shape
    top, bottom, left, right = padding
    c_out, c_group, kh, kw = w.shape
    out_group = c_out // groups
    grad_padded = np.zeros((n, c_in, top + h + bottom, left + width + right), dtype=grad_y.dtype)
    for o in range(c_out):
        first = (o // out_group) * c_group
        for p in range(kh):
            for q in range(kw):
                rows, cols = _windows(grad_y.shape[2], grad_y.shape[3], p, q, stride, dilation)
                grad_padded[:, first:first + c_group, rows, cols] += (
                    grad_y[:, o, None] * w[o, :, p, q][None, :, None, None])
    return grad_padded[:, :, top:top + h, left:left + width].copy()


def conv2d_backward_weight(x, grad_y, w_shape, stride, padding, dilation, groups):
    top, bottom, left, right = padding
    c_out, c_group, kh, kw = w_shape
    out_group = c_out // groups
    x_padded = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    grad_w = np.zeros(w_shape, dtype=x.dtype)
    for o in range(c_out):
        first = (o // out_group) * c_group
        for p in range(kh):
            for q in range(kw):
                rows, cols = _windows(grad_y.shape[2], grad_y.shape[3], p, q, stride, dilation)
                seen = x_padded[:, first:first + c_group, rows, cols]
                grad_w[o, :, p, q] = np.einsum("nchw,nhw->c", seen, grad_y[:, o])
    return grad_w
