"""The reference kernels: plain NumPy loops, the readable specification of every kernel.

Read this file first. Each of the seven functions of the kernel contract (see ``contract.py``) is
written here as directly as possible: loops over output positions (and over kernel taps or pooling
windows), with NumPy used only on small slices where that reads more clearly than another loop.
Speed does not matter here; the Numba kernels in ``cpu/`` and the CUDA kernels in ``cuda/`` compute
the same numbers fast, and the tests check them against these loops.

Notation used in every docstring and comment::

    x       (N, C_in, H, W)               the input
    w       (C_out, C_in // groups, kH, kW) the weight (a "kernel" of kH x kW taps per channel pair)
    y       (N, C_out, H_out, W_out)      the output
    grad_y  (N, C_out, H_out, W_out)      dL/dy, the gradient arriving from the layer above (δ)
    stride (sH, sW), dilation (dH, dW), padding (top, bottom, left, right)

"Convolution" here is cross-correlation, as in every deep-learning library: the kernel is *not*
flipped in the forward pass. Output position ``(oh, ow)`` reads the padded input at rows
``oh*sH + ki*dH`` and columns ``ow*sW + kj*dW`` for the taps ``ki < kH, kj < kW``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .contract import (
    CONTRACT_FUNCTIONS,
    Padding4,
    Pair,
    check_conv2d,
    check_conv2d_grad_y,
    check_float_array,
    check_max_pool2d_backward,
    check_pool2d,
    check_same_dtype,
)

#: Exactly the seven functions of the kernel contract.
__all__ = list(CONTRACT_FUNCTIONS)


def _zero_pad(x: np.ndarray, padding: tuple[int, int, int, int]) -> np.ndarray:
    """Copy ``x: (N, C, H, W)`` into the middle of zeros ``(N, C, top+H+bottom, left+W+right)``.

    Padding a convolution's input with zeros is the same as letting taps that fall outside the
    image contribute nothing, so after this copy the loops never need to ask "is this tap inside?".
    """
    top, bottom, left, right = padding
    n, c, h, w = x.shape
    x_padded = np.zeros((n, c, top + h + bottom, left + w + right), dtype=x.dtype)
    x_padded[:, :, top:top + h, left:left + w] = x
    return x_padded


def rot180(a: np.ndarray) -> np.ndarray:
    """The array turned by 180°: both spatial (last two) axes reversed, ``(..., H, W)`` -> a view
    of the same shape with ``rot180(a)[..., i, j] = a[..., H-1-i, W-1-j]``.

    The one array-level rotation of the project (``tinyconv.testing``'s oracles use it too;
    ``tinyconv.signal.rot180`` is the differentiable Tensor op).
    """
    return a[..., ::-1, ::-1]


# ------------------------------------------------------------------------------------------------
# Convolution
# ------------------------------------------------------------------------------------------------

def conv2d_forward(x: np.ndarray, w: np.ndarray, stride: Pair, padding: Padding4, dilation: Pair,
                   groups: int) -> np.ndarray:
    """2-D cross-correlation ``y = x ⋆ w``.

    ``x: (N, C_in, H, W)``, ``w: (C_out, C_in // groups, kH, kW)``
    -> ``y: (N, C_out, H_out, W_out)``, where
    ``H_out = floor((H + top + bottom - dH*(kH-1) - 1) / sH) + 1`` (and the same along W)::

        y[n, co, oh, ow] = sum over ci, ki, kj of
            x_padded[n, g*C_in_g + ci, oh*sH + ki*dH, ow*sW + kj*dW] * w[co, ci, ki, kj]

    where ``g = co // (C_out // groups)`` is the group of output channel ``co`` and ``ci`` runs
    over the ``C_in_g = C_in // groups`` input channels of that group only (groups split the
    channels into independent convolutions: the weight is block-diagonal over channel groups).
    """
    op = "conv2d_forward"
    check_same_dtype(op, x=x, w=w)
    n, c_out, h_out, w_out = check_conv2d(op, x.shape, w.shape, stride, padding, dilation, groups)
    c_in_per_group, kh, kw = w.shape[1], w.shape[2], w.shape[3]
    c_out_per_group = c_out // groups
    (sh, sw), (dh, dw) = stride, dilation
    # Extent of the dilated kernel: kh taps, dh apart, cover dh*(kh-1)+1 rows.
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1

    x_padded = _zero_pad(x, padding)
    y = np.zeros((n, c_out, h_out, w_out), dtype=x.dtype)
    for b in range(n):
        for co in range(c_out):
            group = co // c_out_per_group
            first_ci = group * c_in_per_group  # this group's input channels start here
            channels = slice(first_ci, first_ci + c_in_per_group)
            for oh in range(h_out):
                for ow in range(w_out):
                    row0, col0 = oh * sh, ow * sw  # the window's corner in the padded input
                    # The window: kh x kw taps, every dh-th row and dw-th column (dilation),
                    # across all input channels of the group: shape (C_in_g, kH, kW).
                    window = x_padded[b, channels, row0:row0 + span_h:dh, col0:col0 + span_w:dw]
                    y[b, co, oh, ow] = np.sum(window * w[co])
    return y


def conv2d_backward_input(grad_y: np.ndarray, w: np.ndarray, x_shape: tuple, stride: Pair,
                          padding: Padding4, dilation: Pair, groups: int) -> np.ndarray:
    """Gradient of the loss with respect to the input: ``grad_x = full_corr(δ, rot180(w))``.

    ``grad_y: (N, C_out, H_out, W_out)``, ``w: (C_out, C_in // groups, kH, kW)``,
    ``x_shape = (N, C_in, H, W)`` -> ``grad_x: (N, C_in, H, W)``.

    Why a full correlation with the rotated kernel? In the forward pass (one axis, one channel)
    ``y[o] = sum_k x_padded[o*s + k*d] * w[k]``, so each padded input element ``i`` received the
    weight ``w[k]`` from every output ``o`` with ``o*s + k*d = i``. The chain rule sends the
    gradient back along exactly those edges::

        grad_x_padded[i] = sum over (o, k) with o*s + k*d = i of  δ[o] * w[k]

    Gathering these terms for one ``i`` is done in steps, each a comment below:

    1. **Stride dilates δ.** Put ``s - 1`` zeros between the entries of δ, so that δ[o] sits at
       index ``o*s``, the position of the window it came from. Now the sum is over all ``k`` of
       ``δ_dilated[i - k*d] * w[k]``: a *convolution* (indices run in opposite directions).
    2. **Full padding.** Near the borders ``i - k*d`` falls outside δ; padding δ with
       ``span - 1`` zeros on each side (``span = d*(k-1) + 1``, the dilated kernel's extent)
       makes every term exist: this is the "full" (wide) convolution, whose output is longer than
       δ by ``span - 1``.
    3. **Rotate the kernel.** A convolution is a cross-correlation with the kernel turned by 180°,
       so the loop below slides ``rot180(w)`` over the padded δ just as the forward pass slides
       ``w`` over ``x``. Channels swap roles: input channel ``ci`` sums over the output channels
       of its group (the weight is used transposed).
    4. **Correlate.** One output per padded-input position; rows past the last window's end
       (when ``(H_padded - span)`` is not a multiple of ``s``) were never read, their gradient is 0.
    5. **Crop the padding.** The forward pass read a *padded* input; the padding is not a
       parameter of anything, so its gradient is dropped: crop ``top``/``bottom``/``left``/
       ``right`` from the result.
    """
    op = "conv2d_backward_input"
    check_same_dtype(op, grad_y=grad_y, w=w)
    y_shape = check_conv2d(op, x_shape, w.shape, stride, padding, dilation, groups)
    check_conv2d_grad_y(op, grad_y.shape, y_shape)
    n, c_in, h, width = x_shape
    c_out, c_in_per_group, kh, kw = w.shape
    h_out, w_out = y_shape[2], y_shape[3]
    c_out_per_group = c_out // groups
    (sh, sw), (dh, dw) = stride, dilation
    top, bottom, left, right = padding
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1

    # Steps 1 and 2: δ dilated by the stride (length (H_out-1)*sH + 1), then padded by span-1.
    dilated_h, dilated_w = (h_out - 1) * sh + 1, (w_out - 1) * sw + 1
    delta = np.zeros((n, c_out, dilated_h + 2 * (span_h - 1), dilated_w + 2 * (span_w - 1)),
                     dtype=grad_y.dtype)
    delta[:, :, span_h - 1:span_h - 1 + dilated_h:sh, span_w - 1:span_w - 1 + dilated_w:sw] = grad_y

    # Step 3: the kernel turned by 180° (both spatial axes reversed).
    w_rotated = rot180(w)

    # Step 4: full correlation, one value per padded-input position the forward pass read.
    grad_x_padded = np.zeros((n, c_in, top + h + bottom, left + width + right), dtype=grad_y.dtype)
    reached_h, reached_w = dilated_h + span_h - 1, dilated_w + span_w - 1
    for b in range(n):
        for ci in range(c_in):
            group, ci_in_group = divmod(ci, c_in_per_group)
            first_co = group * c_out_per_group  # the output channels that read channel ci
            channels = slice(first_co, first_co + c_out_per_group)
            for i in range(reached_h):
                for j in range(reached_w):
                    window = delta[b, channels, i:i + span_h:dh, j:j + span_w:dw]
                    grad_x_padded[b, ci, i, j] = np.sum(window * w_rotated[channels, ci_in_group])

    # Step 5: crop the padding.
    return grad_x_padded[:, :, top:top + h, left:left + width].copy()


def conv2d_backward_weight(x: np.ndarray, grad_y: np.ndarray, w_shape: tuple, stride: Pair,
                           padding: Padding4, dilation: Pair, groups: int) -> np.ndarray:
    """Gradient of the loss with respect to the weight: ``grad_w = x ⋆ δ`` (summed over the batch).

    ``x: (N, C_in, H, W)``, ``grad_y: (N, C_out, H_out, W_out)``,
    ``w_shape = (C_out, C_in // groups, kH, kW)`` -> ``grad_w: (C_out, C_in // groups, kH, kW)``.

    Tap ``(ki, kj)`` of ``w[co, ci]`` multiplied, at every output position ``(oh, ow)`` and every
    sample ``n``, the padded input element ``x_padded[n, ci, oh*sH + ki*dH, ow*sW + kj*dW]``. So its
    gradient is the sum of those elements weighted by δ::

        grad_w[co, ci, ki, kj] = sum over n, oh, ow of
            x_padded[n, g*C_in_g + ci, oh*sH + ki*dH, ow*sW + kj*dW] * δ[n, co, oh, ow]

    This is again a valid cross-correlation, with the roles swapped: δ slides over ``x``, the tap
    offset ``(ki, kj)`` plays the part of the output position, the forward *dilation* becomes the
    step between positions, and the forward *stride* becomes the spacing of δ's entries.
    """
    op = "conv2d_backward_weight"
    check_same_dtype(op, x=x, grad_y=grad_y)
    y_shape = check_conv2d(op, x.shape, w_shape, stride, padding, dilation, groups)
    check_conv2d_grad_y(op, grad_y.shape, y_shape)
    c_out, c_in_per_group, kh, kw = w_shape
    h_out, w_out = y_shape[2], y_shape[3]
    c_out_per_group = c_out // groups
    (sh, sw), (dh, dw) = stride, dilation
    # Extent of the input rows that one tap sees across all output rows.
    seen_h, seen_w = (h_out - 1) * sh + 1, (w_out - 1) * sw + 1

    x_padded = _zero_pad(x, padding)
    grad_w = np.zeros(tuple(w_shape), dtype=x.dtype)
    for co in range(c_out):
        group = co // c_out_per_group
        for ci in range(c_in_per_group):
            channel = group * c_in_per_group + ci  # the input channel that w[co, ci] reads
            for ki in range(kh):
                for kj in range(kw):
                    # What tap (ki, kj) saw at every output position: shape (N, H_out, W_out).
                    rows = slice(ki * dh, ki * dh + seen_h, sh)
                    cols = slice(kj * dw, kj * dw + seen_w, sw)
                    seen = x_padded[:, channel, rows, cols]
                    grad_w[co, ci, ki, kj] = np.sum(seen * grad_y[:, co])
    return grad_w


# ------------------------------------------------------------------------------------------------
# Pooling
# ------------------------------------------------------------------------------------------------

def max_pool2d_forward(x: np.ndarray, kernel: Pair, stride: Pair, padding: Padding4, dilation: Pair,
                       ceil_mode: bool) -> tuple[np.ndarray, np.ndarray]:
    """Max pooling: the largest element of each window, and where it was.

    ``x: (N, C, H, W)`` -> ``(y, indices)``, both ``(N, C, H_out, W_out)``; ``y`` has x's dtype and
    ``indices`` is int64: the flat offset ``h * W + w`` of the winner in its *unpadded* input plane
    (what ``max_pool2d_backward`` needs to route the gradient back).

    Window ``(oh, ow)`` has its corner at row ``oh*sH - top``, column ``ow*sW - left`` of the
    unpadded input (negative inside the leading padding) and taps every ``dH``-th row and
    ``dW``-th column. Padding behaves as -inf: it never wins, so only real elements compete.
    Ties go to the first element in row-major window order (a later element must be strictly
    greater to take over), as in PyTorch. A NaN always takes over, so NaN propagates, also as in
    PyTorch. With ``ceil_mode`` a last, partial window may hang past the padding (see
    ``contract.pool_output_size``); its missing part is ignored like padding.
    """
    op = "max_pool2d_forward"
    check_float_array(op, "x", x)
    n, c, h_out, w_out = check_pool2d(op, x.shape, kernel, stride, padding, dilation, ceil_mode)
    h, width = x.shape[2], x.shape[3]
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    top, left = padding[0], padding[2]

    y = np.zeros((n, c, h_out, w_out), dtype=x.dtype)
    indices = np.zeros((n, c, h_out, w_out), dtype=np.int64)
    for b in range(n):
        for ch in range(c):
            for oh in range(h_out):
                for ow in range(w_out):
                    row0, col0 = oh * sh - top, ow * sw - left  # window corner, unpadded coords
                    best_value, best_index = -np.inf, -1
                    for ki in range(kh):
                        row = row0 + ki * dh
                        if not 0 <= row < h:
                            continue  # a padding row (or past the input in ceil_mode)
                        for kj in range(kw):
                            col = col0 + kj * dw
                            if not 0 <= col < width:
                                continue
                            value = x[b, ch, row, col]
                            # The first real element starts the race (even if it is -inf);
                            # later ones must be strictly greater, or NaN.
                            if best_index < 0 or value > best_value or np.isnan(value):
                                best_value, best_index = value, row * width + col
                    # contract.check_pool2d guarantees every window holds a real element.
                    y[b, ch, oh, ow] = best_value
                    indices[b, ch, oh, ow] = best_index
    return y, indices


def max_pool2d_backward(grad_y: np.ndarray, indices: np.ndarray, x_shape: tuple) -> np.ndarray:
    """Gradient of max pooling: each window's δ goes to the element that won the window.

    ``grad_y, indices: (N, C, H_out, W_out)``, ``x_shape = (N, C, H, W)``
    -> ``grad_x: (N, C, H, W)``.

    The max is locally ``y = x[winner]``, so ``dy/dx`` is 1 at the winner and 0 elsewhere. Windows
    overlap when the stride is smaller than the kernel, so one element can win several windows:
    its gradient is the *sum* of their δ (hence ``+=``).
    """
    op = "max_pool2d_backward"
    check_max_pool2d_backward(op, grad_y, indices, x_shape)
    n, c, h, width = x_shape
    h_out, w_out = grad_y.shape[2], grad_y.shape[3]

    grad_x = np.zeros((n, c, h * width), dtype=grad_y.dtype)  # each plane flat, like the indices
    for b in range(n):
        for ch in range(c):
            for oh in range(h_out):
                for ow in range(w_out):
                    grad_x[b, ch, indices[b, ch, oh, ow]] += grad_y[b, ch, oh, ow]
    return grad_x.reshape(n, c, h, width)


def _avg_pool_window(start: int, k: int, size: int, pad_after: int) -> tuple[int, int, int]:
    """One axis of an average-pooling window, PyTorch's rule.

    A window starting at ``start`` (unpadded coordinates, negative in the leading padding) covers
    ``[start, start + k)``. Returns ``(first, stop, padded_length)``: the real elements are
    ``[first, stop)`` and ``padded_length`` is the window's length clipped to the padded extent
    ``[-pad_before, size + pad_after)`` (in ceil_mode a window can hang past the trailing padding,
    and that part never counts, not even with ``count_include_pad``).
    """
    end_in_padding = min(start + k, size + pad_after)
    padded_length = end_in_padding - start
    return max(start, 0), min(end_in_padding, size), padded_length


def _avg_pool_windows(x_shape: tuple, y_shape: tuple, kernel: Pair, stride: Pair,
                      padding: Padding4, count_include_pad: bool) -> Iterator[tuple]:
    """Every window of an average pooling, in output order: ``((b, ch, oh, ow), rows, cols,
    divisor)``, with ``rows``/``cols`` the slices of its real input elements and PyTorch's
    divisor: with ``count_include_pad`` the window's area clipped to the padded input, else the
    number of real elements."""
    n, c, h, width = x_shape
    (kh, kw), (sh, sw) = kernel, stride
    top, bottom, left, right = padding
    for b, ch, oh, ow in np.ndindex(n, c, y_shape[2], y_shape[3]):
        row0, row1, padded_rows = _avg_pool_window(oh * sh - top, kh, h, bottom)
        col0, col1, padded_cols = _avg_pool_window(ow * sw - left, kw, width, right)
        if count_include_pad:
            divisor = padded_rows * padded_cols
        else:
            divisor = (row1 - row0) * (col1 - col0)
        yield (b, ch, oh, ow), slice(row0, row1), slice(col0, col1), divisor


def avg_pool2d_forward(x: np.ndarray, kernel: Pair, stride: Pair, padding: Padding4,
                       ceil_mode: bool, count_include_pad: bool) -> np.ndarray:
    """Average pooling: the mean of each window.

    ``x: (N, C, H, W)`` -> ``y: (N, C, H_out, W_out)``. The sum is over the window's real input
    elements (padding is zeros); the divisor follows PyTorch:

    - ``count_include_pad=True``: the window's area clipped to the padded input (padding counts as
      zeros that take part in the mean; a ceil_mode overhang past the padding does not);
    - ``count_include_pad=False``: the number of real input elements in the window.

    Average pooling has no dilation (as in PyTorch).
    """
    op = "avg_pool2d_forward"
    check_float_array(op, "x", x)
    y_shape = check_pool2d(op, x.shape, kernel, stride, padding, (1, 1), ceil_mode)
    y = np.zeros(y_shape, dtype=x.dtype)
    for (b, ch, oh, ow), rows, cols, divisor in _avg_pool_windows(
            x.shape, y_shape, kernel, stride, padding, count_include_pad):
        y[b, ch, oh, ow] = np.sum(x[b, ch, rows, cols]) / divisor
    return y


def avg_pool2d_backward(grad_y: np.ndarray, x_shape: tuple, kernel: Pair, stride: Pair,
                        padding: Padding4, ceil_mode: bool, count_include_pad: bool) -> np.ndarray:
    """Gradient of average pooling: each window spreads ``δ / divisor`` evenly over its elements.

    ``grad_y: (N, C, H_out, W_out)``, ``x_shape = (N, C, H, W)`` -> ``grad_x: (N, C, H, W)``.

    ``y = sum(window) / divisor``, so every real element of the window gets ``δ / divisor`` (the
    padding's share is dropped). This is upsampling: without overlap or padding, each δ is copied
    into its ``kH x kW`` block, divided by ``kH*kW``. Overlapping windows add up (hence ``+=``).
    The divisor is the forward pass's (see ``avg_pool2d_forward``).
    """
    op = "avg_pool2d_backward"
    check_float_array(op, "grad_y", grad_y)
    y_shape = check_pool2d(op, x_shape, kernel, stride, padding, (1, 1), ceil_mode)
    check_conv2d_grad_y(op, grad_y.shape, y_shape)
    grad_x = np.zeros(tuple(x_shape), dtype=grad_y.dtype)
    for (b, ch, oh, ow), rows, cols, divisor in _avg_pool_windows(
            x_shape, y_shape, kernel, stride, padding, count_include_pad):
        grad_x[b, ch, rows, cols] += grad_y[b, ch, oh, ow] / divisor
    return grad_x
