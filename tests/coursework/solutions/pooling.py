# tinyconv assignment: pooling
"""A correct solution of assignment 3 (the grader's test; never shipped to students): one loop
over the windows, PyTorch's rules for the output size, ties, NaN and the divisor."""

import math

import numpy as np


def _length(n, k, s, before, after, d, ceil_mode):
    span = n + before + after - d * (k - 1) - 1
    out = (math.ceil(span / s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + before:
        out -= 1
    return out


def max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode):
    n, c, h, width = x.shape
    h_out = _length(h, kernel[0], stride[0], padding[0], padding[1], dilation[0], ceil_mode)
    w_out = _length(width, kernel[1], stride[1], padding[2], padding[3], dilation[1], ceil_mode)
    y = np.empty((n, c, h_out, w_out), dtype=x.dtype)
    indices = np.empty((n, c, h_out, w_out), dtype=np.int64)
    for i in range(h_out):
        rows = [i * stride[0] - padding[0] + m * dilation[0] for m in range(kernel[0])]
        for j in range(w_out):
            cols = [j * stride[1] - padding[2] + m * dilation[1] for m in range(kernel[1])]
            flat = [r * width + q for r in rows for q in cols if 0 <= r < h and 0 <= q < width]
            values = x.reshape(n, c, -1)[:, :, flat]
            best = np.argmax(values, axis=2)  # the first maximum on ties
            nan = np.isnan(values)
            last_nan = nan.shape[2] - 1 - np.argmax(nan[:, :, ::-1], axis=2)
            best = np.where(nan.any(axis=2), last_nan, best)  # NaN wins: the last one
            indices[:, :, i, j] = np.asarray(flat)[best]
            y[:, :, i, j] = np.take_along_axis(values, best[:, :, None], axis=2)[:, :, 0]
    return y, indices


def max_pool2d_backward(grad_y, indices, x_shape):
    n, c, h, width = x_shape
    grad_x = np.zeros((n * c, h * width), dtype=grad_y.dtype)
    rows = np.repeat(np.arange(n * c), grad_y[0, 0].size)
    np.add.at(grad_x, (rows, np.asarray(indices).reshape(-1)), grad_y.reshape(-1))
    return grad_x.reshape(x_shape)


def _avg_windows(x_shape, kernel, stride, padding, ceil_mode, count_include_pad):
    _, _, h, width = x_shape
    top, bottom, left, right = padding
    h_out = _length(h, kernel[0], stride[0], top, bottom, 1, ceil_mode)
    w_out = _length(width, kernel[1], stride[1], left, right, 1, ceil_mode)
    for i in range(h_out):
        r0 = i * stride[0] - top
        r1 = min(r0 + kernel[0], h + bottom)
        for j in range(w_out):
            c0 = j * stride[1] - left
            c1 = min(c0 + kernel[1], width + right)
            rows, cols = slice(max(r0, 0), min(r1, h)), slice(max(c0, 0), min(c1, width))
            real = (rows.stop - rows.start) * (cols.stop - cols.start)
            yield i, j, rows, cols, (r1 - r0) * (c1 - c0) if count_include_pad else real


def avg_pool2d_forward(x, kernel, stride, padding, ceil_mode, count_include_pad):
    windows = list(_avg_windows(x.shape, kernel, stride, padding, ceil_mode, count_include_pad))
    y = np.empty(x.shape[:2] + (windows[-1][0] + 1, windows[-1][1] + 1), dtype=x.dtype)
    for i, j, rows, cols, divisor in windows:
        y[:, :, i, j] = x[:, :, rows, cols].sum(axis=(2, 3)) / divisor
    return y


def avg_pool2d_backward(grad_y, x_shape, kernel, stride, padding, ceil_mode, count_include_pad):
    grad_x = np.zeros(x_shape, dtype=grad_y.dtype)
    for i, j, rows, cols, divisor in _avg_windows(x_shape, kernel, stride, padding, ceil_mode,
                                                  count_include_pad):
        grad_x[:, :, rows, cols] += grad_y[:, :, i, j][:, :, None, None] / divisor
    return grad_x
