# tinyconv assignment: conv-forward
"""A correct solution of assignment 1 (the grader's test; never shipped to students): one
shifted-slice product per kernel tap, summed."""

import numpy as np


def conv2d_forward(x, w, stride, padding, dilation, groups):
    top, bottom, left, right = padding
    (sh, sw), (dh, dw) = stride, dilation
    n, c_in, h, width = x.shape
    c_out, c_group, kh, kw = w.shape
    h_out = (h + top + bottom - dh * (kh - 1) - 1) // sh + 1
    w_out = (width + left + right - dw * (kw - 1) - 1) // sw + 1
    x_padded = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    y = np.zeros((n, c_out, h_out, w_out), dtype=x.dtype)
    out_group = c_out // groups
    for o in range(c_out):
        first = (o // out_group) * c_group
        for p in range(kh):
            for q in range(kw):
                seen = x_padded[:, first:first + c_group,
                                p * dh:p * dh + (h_out - 1) * sh + 1:sh,
                                q * dw:q * dw + (w_out - 1) * sw + 1:sw]
                y[:, o] += np.einsum("nchw,c->nhw", seen, w[o, :, p, q])
    return y
