"""Oracles: what every kernel of the contract must return, computed independently of any kernel.

The grader's ground truth. Each ``expected_<function>`` takes the arguments of the kernel-contract
function of that name (:mod:`tinyconv.kernels.contract`) and returns its result in float64, built
from the identities of convolution's calculus (``docs/identities.md``) with a few small NumPy
helpers on one 2-D channel at a time: :func:`dilate`,
:func:`valid_correlate2d`, :func:`full_correlate2d`, :func:`full_convolve2d`, and the one
array-level rotation :func:`~tinyconv.kernels.reference.rot180`. They never call a kernel under
test, and they are written differently from ``kernels/reference.py`` (shifted copies and
dilations instead of loops over windows), so that the two agreeing means something.

Notation: ``Y = X ⋆ W`` is cross-correlation (what every deep-learning library calls
"convolution"), ``δ = ∂L/∂Y`` the gradient arriving from above, ``rot180(W)`` the kernel turned
by 180°, ``dilate(a, s)`` puts ``s - 1`` zeros between neighbouring entries. Padding is always
given as the contract gives it, ``(top, bottom, left, right)``.

The output-length formulas (:func:`conv_output_length`, :func:`pool_output_length`) are written
here a second time on purpose: they are the oracle for ``kernels/contract.py``'s
``conv_output_size`` and ``pool_output_size`` (``tests/testing`` compares them).
"""

from __future__ import annotations

import numpy as np

from tinyconv.kernels.reference import rot180

__all__ = [
    "conv_output_length",
    "dilate",
    "expected_avg_pool2d_backward",
    "expected_avg_pool2d_forward",
    "expected_conv2d_backward_input",
    "expected_conv2d_backward_weight",
    "expected_conv2d_forward",
    "expected_max_pool2d_backward",
    "expected_max_pool2d_forward",
    "full_convolve2d",
    "full_correlate2d",
    "pool_output_length",
    "valid_correlate2d",
]


# ================================================================================================
# Small NumPy helpers (2-D, one channel; leading axes are carried along where it is free)
# ================================================================================================

def _zero_pad_spatial(x: np.ndarray, padding: tuple[int, int, int, int]) -> np.ndarray:
    """``x: (N, C, H, W)`` in float64 with zeros added around the last two axes, padding in the
    contract's order ``(top, bottom, left, right)`` (NumPy's per-axis pairs do the work)."""
    top, bottom, left, right = padding
    return np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (top, bottom), (left, right)))


def dilate(a: np.ndarray, factor: tuple[int, int]) -> np.ndarray:
    """Insert ``factor - 1`` zeros between neighbouring entries along the last two axes.

    ``(..., h, w) -> (..., (h-1)*fH + 1, (w-1)*fW + 1)``; ``a`` sits at every ``fH``-th row and
    ``fW``-th column. Dilating δ by the stride puts each output gradient back where its window
    started; dilating a kernel by the dilation spreads its taps apart.
    """
    fh, fw = factor
    h, w = a.shape[-2:]
    out = np.zeros(a.shape[:-2] + ((h - 1) * fh + 1, (w - 1) * fw + 1), dtype=a.dtype)
    out[..., ::fh, ::fw] = a
    return out


def valid_correlate2d(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Valid 2-D cross-correlation of one channel, in float64.

    ``image: (H, W)``, ``kernel: (kH, kW)`` -> ``(H - kH + 1, W - kW + 1)``::

        out[i, j] = Σ_{p, q} image[i + p, j + q] · kernel[p, q]

    Written as a sum of shifted copies of the image, one per kernel tap.
    """
    image, kernel = np.asarray(image, np.float64), np.asarray(kernel, np.float64)
    (h, w), (kh, kw) = image.shape, kernel.shape
    out_h, out_w = h - kh + 1, w - kw + 1
    if out_h < 1 or out_w < 1:
        raise ValueError(f"valid_correlate2d: kernel {kernel.shape} larger than image "
                         f"{image.shape}")
    out = np.zeros((out_h, out_w))
    for p in range(kh):
        for q in range(kw):
            out += kernel[p, q] * image[p:p + out_h, q:q + out_w]
    return out


def full_correlate2d(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Full ("wide") 2-D cross-correlation: every overlap of kernel and image, even by one tap.

    ``(H, W), (kH, kW) -> (H + kH - 1, W + kW - 1)``: the valid correlation of the image padded
    with ``k - 1`` zeros on every side.
    """
    kh, kw = np.shape(kernel)
    image = np.pad(np.asarray(image, np.float64), ((kh - 1, kh - 1), (kw - 1, kw - 1)))
    return valid_correlate2d(image, kernel)


def full_convolve2d(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Full 2-D convolution ``(a * b)[u] = Σ_i a[i] · b[u - i]``, which is
    ``full_correlate2d(a, rot180(b))``."""
    return full_correlate2d(a, rot180(np.asarray(b)))


def conv_output_length(n: int, k: int, stride: int, pad_before: int, pad_after: int,
                       dilation: int = 1) -> int:
    """``floor((n + p_before + p_after - d·(k-1) - 1) / s) + 1``: how many windows of extent
    ``d·(k-1) + 1``, ``s`` apart, fit in the padded input."""
    return (n + pad_before + pad_after - dilation * (k - 1) - 1) // stride + 1


def pool_output_length(n: int, k: int, stride: int, pad_before: int, pad_after: int,
                       dilation: int = 1, ceil_mode: bool = False) -> int:
    """Pooling output length (PyTorch's rule).

    ``ceil_mode=False``: the convolution formula. ``ceil_mode=True``: round the division up
    (a last, partial window is kept), unless that last window would start in the trailing padding
    (``(out - 1)·s >= n + p_before``): then it is dropped.
    """
    numerator = n + pad_before + pad_after - dilation * (k - 1) - 1
    if not ceil_mode:
        return numerator // stride + 1
    out = int(np.ceil(numerator / stride)) + 1
    if (out - 1) * stride >= n + pad_before:
        out -= 1
    return out


# ================================================================================================
# Oracles: what each kernel must return, built from the helpers above
# ================================================================================================

def expected_conv2d_forward(x, w, stride, padding, dilation, groups) -> np.ndarray:
    """``y[n, o] = Σ_{c in group(o)} (pad(x[n, c]) ⋆ dilate(w[o, c], dilation))[::sH, ::sW]``.

    ``x: (N, C_in, H, W)``, ``w: (C_out, C_in/g, kH, kW)`` -> ``(N, C_out, H_out, W_out)`` float64.
    Output channel ``o`` belongs to group ``o // (C_out/g)`` and reads only that group's input
    channels. The stride keeps every ``s``-th position of the stride-1 correlation.
    """
    x_padded = _zero_pad_spatial(x, padding)
    w = np.asarray(w, np.float64)
    batch = x_padded.shape[0]
    c_out, c_per_group = w.shape[:2]
    out_per_group = c_out // groups
    top, bottom, left, right = padding
    h_out = conv_output_length(x.shape[2], w.shape[2], stride[0], top, bottom, dilation[0])
    w_out = conv_output_length(x.shape[3], w.shape[3], stride[1], left, right, dilation[1])
    y = np.zeros((batch, c_out, h_out, w_out))
    for n in range(batch):
        for o in range(c_out):
            group = o // out_per_group
            for c in range(c_per_group):
                channel = group * c_per_group + c
                stride_1 = valid_correlate2d(x_padded[n, channel], dilate(w[o, c], dilation))
                y[n, o] += stride_1[::stride[0], ::stride[1]]
    return y


def expected_conv2d_backward_weight(x, grad_y, w_shape, stride, padding, dilation,
                                    groups) -> np.ndarray:
    """``∂L/∂W = X ⋆ δ``: per group, summed over the batch.

    ``grad_w[o, c] = Σ_n (pad(x[n, c]) ⋆ dilate(δ[n, o], stride))[::dH, ::dW][:kH, :kW]``

    δ dilated by the stride sits where its windows started; correlating the padded input with it
    gives, at offset ``(a, b)``, ``Σ_{i,j} δ[i, j] · x_padded[a + i·sH, b + j·sW]``: what tap
    ``(a/dH, b/dW)`` multiplied. Taps are ``d`` apart, so keep every ``d``-th offset, first ``k``.
    """
    x_padded = _zero_pad_spatial(x, padding)
    grad_y = np.asarray(grad_y, np.float64)
    c_out, c_per_group, kh, kw = w_shape
    out_per_group = c_out // groups
    grad_w = np.zeros(tuple(w_shape))
    for o in range(c_out):
        group = o // out_per_group
        for c in range(c_per_group):
            channel = group * c_per_group + c
            for n in range(x_padded.shape[0]):
                every_offset = valid_correlate2d(x_padded[n, channel], dilate(grad_y[n, o], stride))
                grad_w[o, c] += every_offset[::dilation[0], ::dilation[1]][:kh, :kw]
    return grad_w


def expected_conv2d_backward_input(grad_y, w, x_shape, stride, padding, dilation,
                                   groups) -> np.ndarray:
    """``∂L/∂X = full_conv(δ, W) = full_corr(dilate(δ, s), rot180(dilate(W, d)))``, cropped.

    ``grad_x_padded[n, c] = Σ_{o in group(c)} full_correlate2d(dilate(δ[n, o], stride),
    rot180(dilate(w[o, c], dilation)))``, placed at the top-left of a zero array the size of the
    padded input (rows/columns past the last window were never read: their gradient stays 0),
    then the padding is cropped off: ``grad_x = grad_x_padded[top:top+H, left:left+W]``.
    """
    grad_y, w = np.asarray(grad_y, np.float64), np.asarray(w, np.float64)
    batch, c_in, h, width = x_shape
    top, bottom, left, right = padding
    c_out, c_per_group = w.shape[:2]
    out_per_group = c_out // groups
    grad_x_padded = np.zeros((batch, c_in, top + h + bottom, left + width + right))
    for n in range(batch):
        for channel in range(c_in):
            group, c = divmod(channel, c_per_group)
            for o in range(group * out_per_group, (group + 1) * out_per_group):
                full = full_correlate2d(dilate(grad_y[n, o], stride),
                                        rot180(dilate(w[o, c], dilation)))
                grad_x_padded[n, channel, :full.shape[0], :full.shape[1]] += full
    return grad_x_padded[:, :, top:top + h, left:left + width]


def _pool_windows(x_shape, kernel, stride, padding, dilation, ceil_mode):
    """Yield ``(i, j, rows, cols)`` for every pooling window: the window's real input rows and
    columns (taps ``i·s - p_before + m·d`` that land inside the input)."""
    _, _, h, width = x_shape
    top, bottom, left, right = padding
    h_out = pool_output_length(h, kernel[0], stride[0], top, bottom, dilation[0], ceil_mode)
    w_out = pool_output_length(width, kernel[1], stride[1], left, right, dilation[1], ceil_mode)
    for i in range(h_out):
        rows = [i * stride[0] - padding[0] + m * dilation[0] for m in range(kernel[0])]
        rows = [r for r in rows if 0 <= r < h]
        for j in range(w_out):
            cols = [j * stride[1] - padding[2] + m * dilation[1] for m in range(kernel[1])]
            cols = [c for c in cols if 0 <= c < width]
            yield i, j, rows, cols


def expected_max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode):
    """``(y, indices)``: each window's maximum over its real elements (padding is -inf) and the
    flat index ``row·W + col`` of the maximum; on ties the *first* in row-major order, which is
    the smallest flat index among the tied elements.

    NaN wins, as in PyTorch (``if val > max or isnan(val)`` while scanning the window in row-major
    order): a window holding NaN gives NaN, at the index of its *last* NaN."""
    x = np.asarray(x)
    batch, channels, _, width = x.shape
    windows = list(_pool_windows(x.shape, kernel, stride, padding, dilation, ceil_mode))
    h_out, w_out = windows[-1][0] + 1, windows[-1][1] + 1
    y = np.zeros((batch, channels, h_out, w_out), dtype=x.dtype)
    indices = np.zeros((batch, channels, h_out, w_out), dtype=np.int64)
    for n in range(batch):
        for c in range(channels):
            for i, j, rows, cols in windows:
                window = x[n, c][np.ix_(rows, cols)]
                nan = np.argwhere(np.isnan(window))
                if len(nan):
                    y[n, c, i, j] = np.nan
                    indices[n, c, i, j] = max(rows[a] * width + cols[b] for a, b in nan)
                    continue
                y[n, c, i, j] = window.max()
                tied = np.argwhere(window == window.max())
                indices[n, c, i, j] = min(rows[a] * width + cols[b] for a, b in tied)
    return y, indices


def expected_max_pool2d_backward(grad_y, indices, x_shape) -> np.ndarray:
    """Each δ goes to the input element that won its window: ``grad_x.flat[index] += δ``
    (summed where one element wins several overlapping windows)."""
    batch, channels, h, width = x_shape
    grad_x = np.zeros((batch, channels, h * width))
    for n in range(batch):
        for c in range(channels):
            np.add.at(grad_x[n, c], np.asarray(indices[n, c]).ravel(),
                      np.asarray(grad_y[n, c], np.float64).ravel())
    return grad_x.reshape(x_shape)


def _avg_pool_windows(x_shape, kernel, stride, padding, ceil_mode, count_include_pad):
    """Yield ``(i, j, rows, cols, divisor)`` for every average-pooling window (PyTorch's rule).

    Window ``i`` covers rows ``[start, start + k)`` with ``start = i·s - top``; the rows that count
    for ``count_include_pad`` stop at the end of the bottom padding (a ceil_mode overhang past it
    never counts). ``rows`` is the slice of real input rows. The divisor is the padded window area
    with ``count_include_pad``, else the number of real elements.
    """
    _, _, h, width = x_shape
    top, bottom, left, right = padding
    h_out = pool_output_length(h, kernel[0], stride[0], top, bottom, 1, ceil_mode)
    w_out = pool_output_length(width, kernel[1], stride[1], left, right, 1, ceil_mode)

    def one_axis(start, k, size, pad_after):
        end = min(start + k, size + pad_after)
        return slice(max(start, 0), min(end, size)), end - start

    for i in range(h_out):
        rows, padded_rows = one_axis(i * stride[0] - top, kernel[0], h, bottom)
        for j in range(w_out):
            cols, padded_cols = one_axis(j * stride[1] - left, kernel[1], width, right)
            if count_include_pad:
                divisor = padded_rows * padded_cols
            else:
                divisor = (rows.stop - rows.start) * (cols.stop - cols.start)
            yield i, j, rows, cols, divisor


def expected_avg_pool2d_forward(x, kernel, stride, padding, ceil_mode,
                                count_include_pad) -> np.ndarray:
    """Each window's sum of real elements divided by the divisor (see ``_avg_pool_windows``)."""
    x = np.asarray(x, np.float64)
    windows = list(_avg_pool_windows(x.shape, kernel, stride, padding, ceil_mode,
                                     count_include_pad))
    y = np.zeros(x.shape[:2] + (windows[-1][0] + 1, windows[-1][1] + 1))
    for i, j, rows, cols, divisor in windows:
        y[:, :, i, j] = x[:, :, rows, cols].sum(axis=(2, 3)) / divisor
    return y


def expected_avg_pool2d_backward(grad_y, x_shape, kernel, stride, padding, ceil_mode,
                                 count_include_pad) -> np.ndarray:
    """Pooling backward is upsampling: every real element of window ``(i, j)`` receives
    ``δ[i, j] / divisor`` (summed over the windows it belongs to)."""
    grad_y = np.asarray(grad_y, np.float64)
    grad_x = np.zeros(tuple(x_shape))
    for i, j, rows, cols, divisor in _avg_pool_windows(x_shape, kernel, stride, padding,
                                                       ceil_mode, count_include_pad):
        grad_x[:, :, rows, cols] += grad_y[:, :, i, j][:, :, None, None] / divisor
    return grad_x
