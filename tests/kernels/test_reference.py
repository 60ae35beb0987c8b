"""The reference kernels against independent oracles.

The reference (``tinyconv.kernels.reference``) is the specification every other kernel set is tested
against, so it is itself checked against things written differently:

- ``scipy.signal.correlate2d`` / ``convolve2d`` for single-channel convolutions (stride, padding and
  dilation built from scipy's plain "valid"/"full" modes by subsampling, ``np.pad`` and a kernel
  with zeros inserted);
- direct formulas: explicit scalar sums with bounds tests instead of a padded buffer, the
  input gradient as the chain rule's scatter (not the reference's full correlation), pooling
  windows gathered tap by tap on a canvas;
- a few values worked out by hand (PyTorch gives the same).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.signal import convolve2d, correlate2d

from tinyconv.kernels import reference
from tinyconv.kernels.contract import check_pool2d, conv_output_size
from tinyconv.testing.strategies import conv2d_cases, pool2d_cases

# ------------------------------------------------------------------------------------------------
# Direct formulas (independent of the reference's padded buffers and slices)
# ------------------------------------------------------------------------------------------------


def direct_conv2d(x, w, stride, padding, dilation, groups):
    """y[n, co, oh, ow] = sum of x[n, ci, r, c] * w[co, ci_g, ki, kj] over the taps inside x."""
    n, _, h, width = x.shape
    c_out, c_in_g, kh, kw = w.shape
    (sh, sw), (dh, dw), (top, bottom, left, right) = stride, dilation, padding
    h_out = conv_output_size(h, kh, sh, top, bottom, dh)
    w_out = conv_output_size(width, kw, sw, left, right, dw)
    y = np.zeros((n, c_out, h_out, w_out))
    for b in range(n):
        for co in range(c_out):
            group = co // (c_out // groups)
            for oh in range(h_out):
                for ow in range(w_out):
                    total = 0.0
                    for ci_g in range(c_in_g):
                        for ki in range(kh):
                            for kj in range(kw):
                                r, c = oh * sh + ki * dh - top, ow * sw + kj * dw - left
                                if 0 <= r < h and 0 <= c < width:
                                    total += x[b, group * c_in_g + ci_g, r, c] * w[co, ci_g, ki, kj]
                    y[b, co, oh, ow] = total
    return y


def scatter_conv2d_backward_input(grad_y, w, x_shape, stride, padding, dilation, groups):
    """The chain rule read forwards: every output sends δ * w[tap] back to the input it read."""
    n, _, h, width = x_shape
    c_out, c_in_g, kh, kw = w.shape
    (sh, sw), (dh, dw), (top, _, left, _) = stride, dilation, padding
    grad_x = np.zeros(x_shape)
    for b in range(n):
        for co in range(c_out):
            group = co // (c_out // groups)
            for oh in range(grad_y.shape[2]):
                for ow in range(grad_y.shape[3]):
                    for ci_g in range(c_in_g):
                        for ki in range(kh):
                            for kj in range(kw):
                                r, c = oh * sh + ki * dh - top, ow * sw + kj * dw - left
                                if 0 <= r < h and 0 <= c < width:  # padding receives nothing
                                    grad_x[b, group * c_in_g + ci_g, r, c] += (
                                        grad_y[b, co, oh, ow] * w[co, ci_g, ki, kj])
    return grad_x


def direct_conv2d_backward_weight(x, grad_y, w_shape, stride, padding, dilation, groups):
    """grad_w[co, ci_g, ki, kj] = sum over n, oh, ow of x[tap's input] * δ[n, co, oh, ow]."""
    n, _, h, width = x.shape
    c_out, c_in_g, kh, kw = w_shape
    (sh, sw), (dh, dw), (top, _, left, _) = stride, dilation, padding
    grad_w = np.zeros(w_shape)
    for co in range(c_out):
        group = co // (c_out // groups)
        for ci_g in range(c_in_g):
            for ki in range(kh):
                for kj in range(kw):
                    total = 0.0
                    for b in range(n):
                        for oh in range(grad_y.shape[2]):
                            for ow in range(grad_y.shape[3]):
                                r, c = oh * sh + ki * dh - top, ow * sw + kj * dw - left
                                if 0 <= r < h and 0 <= c < width:
                                    total += (x[b, group * c_in_g + ci_g, r, c]
                                              * grad_y[b, co, oh, ow])
                    grad_w[co, ci_g, ki, kj] = total
    return grad_w


def _window_taps(o, k, stride, pad_before, dilation):
    return [o * stride - pad_before + i * dilation for i in range(k)]


def direct_max_pool2d(x, kernel, stride, padding, dilation, ceil_mode):
    """Gather each window's real elements tap by tap; Python's max() keeps the first of equals."""
    n, c, h_out, w_out = check_pool2d("test", x.shape, kernel, stride, padding, dilation, ceil_mode)
    h, width = x.shape[2:]
    y = np.zeros((n, c, h_out, w_out))
    indices = np.zeros((n, c, h_out, w_out), dtype=np.int64)
    for b in range(n):
        for ch in range(c):
            for oh in range(h_out):
                for ow in range(w_out):
                    rows = _window_taps(oh, kernel[0], stride[0], padding[0], dilation[0])
                    cols = _window_taps(ow, kernel[1], stride[1], padding[2], dilation[1])
                    candidates = [(x[b, ch, r, col], r * width + col) for r in rows for col in cols
                                  if 0 <= r < h and 0 <= col < width]
                    y[b, ch, oh, ow], indices[b, ch, oh, ow] = max(candidates, key=lambda vi: vi[0])
    return y, indices


def direct_avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad):
    """Average pooling on a canvas: the input sits inside its padding, with room around it for
    ceil_mode windows that hang past the padding. Two masks on the same canvas give the divisor:
    "inside the padded input" (count_include_pad) or "a real input element"."""
    n, c, h_out, w_out = check_pool2d("test", x.shape, kernel, stride, padding, (1, 1), ceil_mode)
    h, width = x.shape[2:]
    top, bottom, left, right = padding
    margin = max(kernel) + max(stride)  # more than any window can hang past the padding
    canvas = np.zeros((n, c, top + h + bottom + margin, left + width + right + margin))
    canvas[:, :, top:top + h, left:left + width] = x
    real = np.zeros(canvas.shape[2:])
    real[top:top + h, left:left + width] = 1
    padded = np.zeros(canvas.shape[2:])
    padded[:top + h + bottom, :left + width + right] = 1
    divisor_mask = padded if count_include_pad else real
    y = np.zeros((n, c, h_out, w_out))
    for oh in range(h_out):
        for ow in range(w_out):
            rows = slice(oh * stride[0], oh * stride[0] + kernel[0])
            cols = slice(ow * stride[1], ow * stride[1] + kernel[1])
            divisor = divisor_mask[rows, cols].sum()
            y[:, :, oh, ow] = canvas[:, :, rows, cols].sum(axis=(2, 3)) / divisor
    return y


# ------------------------------------------------------------------------------------------------
# Strategies: small configurations, float64 (the oracles compute in float64)
# ------------------------------------------------------------------------------------------------


@st.composite
def single_channel_conv(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = tuple(draw(st.integers(0, 3)) for _ in range(4))
    span_h, span_w = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    h = draw(st.integers(max(1, span_h - padding[0] - padding[1]), 12))
    width = draw(st.integers(max(1, span_w - padding[2] - padding[3]), 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return rng.standard_normal((h, width)), rng.standard_normal((kh, kw)), stride, padding, dilation


def small_conv():
    """Small float64 problems (the oracles below are slow Python loops)."""
    return conv2d_cases(max_size=7, max_kernel=3, max_padding=2, max_dilation=2, max_channels=6,
                        dtypes=("float64",))


def small_pool(with_dilation: bool):
    """Small float64 pooling problems; ``with_dilation=False`` for average pooling."""
    return pool2d_cases(max_size=10, max_channels=3, max_dilation=3,
                        allow_dilation=with_dilation, dtypes=("float64",))


def _pool_args(case):
    """``(x, kernel, stride, padding, dilation, ceil_mode)`` of a drawn pooling case."""
    c = case.config
    return case.x, c.kernel, c.stride, c.padding, c.dilation, c.ceil_mode


# ------------------------------------------------------------------------------------------------
# Convolution
# ------------------------------------------------------------------------------------------------


def test_conv2d_forward_is_scipy_valid_correlation():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((7, 9)), rng.standard_normal((3, 2))
    y = reference.conv2d_forward(x[None, None], w[None, None], (1, 1), (0, 0, 0, 0), (1, 1), 1)
    np.testing.assert_allclose(y[0, 0], correlate2d(x, w, mode="valid"), rtol=1e-12, atol=1e-12)


@given(single_channel_conv())
def test_conv2d_forward_single_channel_matches_scipy(case):
    x, w, stride, padding, dilation = case
    top, bottom, left, right = padding
    # scipy has none of the options, so build them: padding is np.pad, dilation is a kernel with
    # zeros between its taps, stride keeps every s-th output of the stride-1 correlation.
    x_padded = np.pad(x, ((top, bottom), (left, right)))
    w_dilated = np.zeros((dilation[0] * (w.shape[0] - 1) + 1, dilation[1] * (w.shape[1] - 1) + 1))
    w_dilated[::dilation[0], ::dilation[1]] = w
    expected = correlate2d(x_padded, w_dilated, mode="valid")[::stride[0], ::stride[1]]
    y = reference.conv2d_forward(x[None, None], w[None, None], stride, padding, dilation, 1)
    np.testing.assert_allclose(y[0, 0], expected, rtol=1e-12, atol=1e-12)


@st.composite
def input_kernel_and_gradient(draw):
    """A single-channel input, a kernel that fits it, and an output gradient (stride 1, no pad)."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    h, width = draw(st.integers(kh, 12)), draw(st.integers(kw, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return (rng.standard_normal((h, width)), rng.standard_normal((kh, kw)),
            rng.standard_normal((h - kh + 1, width - kw + 1)))


@given(input_kernel_and_gradient())
def test_conv2d_backward_single_channel_matches_scipy(case):
    """docs/identities.md §2 and §3, checked with scipy: grad_x = full convolution of δ with w,
    grad_w = x ⋆ δ (valid)."""
    x, w, grad_y = case
    options = ((1, 1), (0, 0, 0, 0), (1, 1), 1)
    grad_x = reference.conv2d_backward_input(grad_y[None, None], w[None, None], (1, 1) + x.shape,
                                             *options)
    np.testing.assert_allclose(grad_x[0, 0], convolve2d(grad_y, w, mode="full"), rtol=1e-12,
                               atol=1e-12)
    grad_w = reference.conv2d_backward_weight(x[None, None], grad_y[None, None], (1, 1) + w.shape,
                                              *options)
    np.testing.assert_allclose(grad_w[0, 0], correlate2d(x, grad_y, mode="valid"), rtol=1e-12,
                               atol=1e-12)


@given(small_conv())
def test_conv2d_forward_matches_direct_formula(case):
    x, w, options = case.x, case.w, case.options
    np.testing.assert_allclose(reference.conv2d_forward(x, w, *options),
                               direct_conv2d(x, w, *options), rtol=1e-12, atol=1e-12)


@given(small_conv())
def test_conv2d_backward_input_matches_chain_rule_scatter(case):
    x, w, options = case.x, case.w, case.options
    y_shape = reference.conv2d_forward(x, w, *options).shape
    grad_y = np.random.default_rng(2).standard_normal(y_shape)
    np.testing.assert_allclose(reference.conv2d_backward_input(grad_y, w, x.shape, *options),
                               scatter_conv2d_backward_input(grad_y, w, x.shape, *options),
                               rtol=1e-12, atol=1e-12)


@given(small_conv())
def test_conv2d_backward_weight_matches_direct_formula(case):
    x, w, options = case.x, case.w, case.options
    y_shape = reference.conv2d_forward(x, w, *options).shape
    grad_y = np.random.default_rng(3).standard_normal(y_shape)
    np.testing.assert_allclose(reference.conv2d_backward_weight(x, grad_y, w.shape, *options),
                               direct_conv2d_backward_weight(x, grad_y, w.shape, *options),
                               rtol=1e-12, atol=1e-12)


def test_conv2d_by_hand():
    """A 3x3 input, a 2x2 kernel, stride 2 and one row/column of padding on top/left."""
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # [[1 2 3] [4 5 6] [7 8 9]]
    w = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 2)
    y = reference.conv2d_forward(x, w, (2, 2), (1, 0, 1, 0), (1, 1), 1)
    # Windows at padded (0,0) and (0,2), (2,0), (2,2): the padded input has a zero row and column.
    expected = [[4 * 1, 3 * 2 + 4 * 3], [2 * 4 + 4 * 7, 1 * 5 + 2 * 6 + 3 * 8 + 4 * 9]]
    np.testing.assert_array_equal(y[0, 0], expected)


# ------------------------------------------------------------------------------------------------
# Pooling
# ------------------------------------------------------------------------------------------------


@given(small_pool(with_dilation=True))
def test_max_pool2d_forward_matches_direct_formula(case):
    x, kernel, stride, padding, dilation, ceil_mode = _pool_args(case)
    y, indices = reference.max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode)
    expected_y, expected_indices = direct_max_pool2d(x, kernel, stride, padding, dilation,
                                                     ceil_mode)
    np.testing.assert_array_equal(y, expected_y)
    np.testing.assert_array_equal(indices, expected_indices)
    assert indices.dtype == np.int64


@given(small_pool(with_dilation=True))
def test_max_pool2d_backward_routes_to_the_winner(case):
    x, kernel, stride, padding, dilation, ceil_mode = _pool_args(case)
    y, indices = reference.max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode)
    grad_y = np.random.default_rng(4).standard_normal(y.shape)
    expected = np.zeros(x.shape)
    for b, ch, oh, ow in np.ndindex(*y.shape):
        r, c = divmod(int(indices[b, ch, oh, ow]), x.shape[3])
        expected[b, ch, r, c] += grad_y[b, ch, oh, ow]
    np.testing.assert_allclose(reference.max_pool2d_backward(grad_y, indices, x.shape), expected,
                               rtol=1e-12, atol=1e-12)


@given(small_pool(with_dilation=False), st.booleans())
def test_avg_pool2d_forward_matches_direct_formula(case, count_include_pad):
    x, kernel, stride, padding, _, ceil_mode = _pool_args(case)
    np.testing.assert_allclose(
        reference.avg_pool2d_forward(x, kernel, stride, padding, ceil_mode, count_include_pad),
        direct_avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad),
        rtol=1e-12, atol=1e-12)


@given(small_pool(with_dilation=False), st.booleans())
def test_avg_pool2d_backward_is_the_transpose_of_forward(case, count_include_pad):
    """Average pooling is linear, y = A x: its backward must be A^T, column by column."""
    x, kernel, stride, padding, _, ceil_mode = _pool_args(case)
    options = (kernel, stride, padding, ceil_mode, count_include_pad)
    x = x[:1, :1]
    y_shape = reference.avg_pool2d_forward(x, *options).shape
    grad_y = np.random.default_rng(5).standard_normal(y_shape)
    expected = np.zeros(x.shape)
    for index in np.ndindex(*x.shape):
        unit = np.zeros(x.shape)
        unit[index] = 1.0
        expected[index] = np.sum(reference.avg_pool2d_forward(unit, *options) * grad_y)
    np.testing.assert_allclose(reference.avg_pool2d_backward(grad_y, x.shape, *options), expected,
                               rtol=1e-12, atol=1e-12)


def test_avg_pool2d_divisor_by_hand():
    """ones(4x4), kernel 3, stride 2, padding 1, ceil_mode: windows start at -1, 1, 3. The last
    one covers [3, 6) but the padded extent ends at 5, so it counts 2 rows (1 real)."""
    x = np.ones((1, 1, 4, 4))
    include = reference.avg_pool2d_forward(x, (3, 3), (2, 2), (1, 1, 1, 1), True, True)
    exclude = reference.avg_pool2d_forward(x, (3, 3), (2, 2), (1, 1, 1, 1), True, False)
    real = np.array([2, 3, 1])        # real rows (or columns) per window
    padded = np.array([3, 3, 2])      # rows inside the padded extent per window
    np.testing.assert_allclose(include[0, 0], np.outer(real, real) / np.outer(padded, padded))
    np.testing.assert_allclose(exclude[0, 0], np.ones((3, 3)))


def test_max_pool2d_by_hand():
    x = np.array([[1.0, 5.0, 5.0], [2.0, 0.0, 5.0], [7.0, 7.0, 3.0]]).reshape(1, 1, 3, 3)
    y, indices = reference.max_pool2d_forward(x, (2, 2), (1, 1), (0, 0, 0, 0), (1, 1), False)
    np.testing.assert_array_equal(y[0, 0], [[5.0, 5.0], [7.0, 7.0]])
    # Ties go to the first in row-major window order: the two top windows both pick offset 1
    # (not 2 or 5, which hold 5.0 too), the bottom-left one 6 (not 7).
    np.testing.assert_array_equal(indices[0, 0], [[1, 1], [6, 7]])


@pytest.mark.parametrize("batch", [0, 1])
def test_empty_batch_gives_empty_outputs(batch):
    x = np.zeros((batch, 2, 5, 5))
    w = np.zeros((4, 2, 3, 3))
    y = reference.conv2d_forward(x, w, (1, 1), (0, 0, 0, 0), (1, 1), 1)
    assert y.shape == (batch, 4, 3, 3)
    pooled, indices = reference.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), False)
    assert pooled.shape == indices.shape == (batch, 2, 2, 2)
