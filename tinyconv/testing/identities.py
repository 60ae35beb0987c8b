"""Identity checks: the calculus of convolution, as executable checks on any kernel set.

A *kernel set* is any object with the seven functions of the kernel contract
(:mod:`tinyconv.kernels.contract`): ``tinyconv.kernels.reference``, ``tinyconv.kernels.cpu``, or a
student's own module. Every ``check_*`` function below takes such an ``impl`` plus a problem
(usually a :class:`~tinyconv.testing.strategies.ConvCase` or
:class:`~tinyconv.testing.strategies.PoolCase`), and raises ``AssertionError`` saying what differs,
by how much and where, when the identity does not hold.

Notation: ``Y = X ⋆ W`` is cross-correlation (what every deep-learning library calls
"convolution"), ``δ = ∂L/∂Y`` the gradient arriving from above, ``rot180(W)`` the kernel turned
by 180°, ``dilate(a, s)`` puts ``s - 1`` zeros between neighbouring entries. The identities (their
names in :data:`IDENTITIES`):

- ``conv2d_forward``: ``Y = X ⋆ W``, summed over the input channels of each group;
- ``conv2d_output_shapes``: ``H_out = floor((H + p_top + p_bottom - d(k-1) - 1) / s) + 1``,
  dtypes kept, fresh outputs;
- ``weight_gradient``: ``∂L/∂W = X ⋆ δ`` (δ dilated by the stride);
- ``input_gradient``: ``∂L/∂X = full_conv(δ, W) = full_corr(δ, rot180(W))``, cropped by padding;
- ``full_convolution_commutes``: ``full_conv(a, b) = full_conv(b, a)``;
- ``convolution_is_correlation_with_rotated_kernel``: ``a * k = a ⋆ rot180(k)``;
- ``adjoint_input``: ``<X ⋆ W, Y> = <X, conv_transpose(Y, W)>``;
- ``adjoint_weight``: ``<X ⋆ W, Y> = <W, X ⋆ Y>``;
- ``linearity_in_input``, ``linearity_in_weight``: ``(aX₁ + bX₂) ⋆ W = a X₁⋆W + b X₂⋆W``, same in W;
- ``translation_equivariance``: shifting X shifts Y (stride 1, away from the borders);
- ``conv1x1_is_linear``: a 1×1 convolution is a matrix product over channels at every pixel;
- ``depthwise_separable``: grouped conv (groups = C) then 1×1 = per-channel convolutions mixed by
  a matrix;
- ``stacked_3x3_receptive_field``: two stacked 3×3 convolutions see exactly a 5×5 field;
- ``pool2d_output_shapes``: PyTorch's pooling size rule, with and without ceil_mode;
- ``max_pool2d_forward``: window maximum, argmax = first index on ties;
- ``max_pool2d_backward``: δ is routed to the argmax (and summed there);
- ``avg_pool2d_forward``: window mean with PyTorch's divisor (``count_include_pad``);
- ``avg_pool2d_backward``: δ / divisor spread over each window;
- ``pool2d_gradient_sum``: the input gradient of each plane sums to Σ δ;
- ``matches_reference``: same outputs as a reference kernel set.

The oracles (``expected_*``) are written with small NumPy helpers (:func:`rot180`,
:func:`dilate`, :func:`pad`, :func:`valid_correlate2d`, :func:`full_correlate2d`) on one channel
at a time, never by calling a kernel under test. They compute in float64; the comparison allows
float rounding only: ``|actual - expected| <= 64 · eps(dtype) · Σ|terms|``, where ``Σ|terms|``
is the same oracle evaluated on absolute values. With the small-integer arrays the strategies draw
mostly, a correct kernel matches exactly.

Grading a module (a course's test file)::

    import pytest
    import student_kernels                      # the student's module with the 7 functions
    from tinyconv.kernels import reference
    from tinyconv.testing import identities

    @pytest.mark.parametrize("name", identities.IDENTITY_NAMES)
    def test_identity(name):
        identities.run_identity(name, student_kernels, reference=reference)

Each failure is reported on the smallest example hypothesis can shrink it to, e.g. for a backward
pass that forgot to rotate the kernel::

    AssertionError: conv2d_backward_input != full_corr(δ dilated by stride, rot180(W)) cropped by
    padding: 2 of 2 entries wrong; largest error 1 at index (0, 0, 0, 0): got 0.0, expected 1.0 ...
    Falsifying example: ... ConvConfig(batch=1, c_in=1, c_out=1, groups=1, kernel=(1, 2), ...,
    height=1, width=2, ...), x=array([[[[1., 0.]]]]), w=array([[[[1., 0.]]]]), grad_y=[[[[1.]]]]

Or all at once, e.g. in a notebook: ``identities.run_all(student_kernels)`` raises one
``AssertionError`` listing every identity that failed, each with its message and shrunk example;
with ``reference=tinyconv.kernels.reference`` it also compares every output with the reference
kernels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from tinyconv.kernels.contract import CONTRACT_FUNCTIONS
from tinyconv.testing.strategies import (
    DTYPES,
    ConvCase,
    PoolCase,
    conv2d_cases,
    float_arrays,
    pool2d_cases,
)

__all__ = [
    "IDENTITIES",
    "IDENTITY_NAMES",
    "Identity",
    "assert_close",
    "check_adjoint_input",
    "check_adjoint_weight",
    "check_avg_pool2d_backward",
    "check_avg_pool2d_forward",
    "check_conv1x1_is_linear",
    "check_conv2d_forward",
    "check_conv2d_output_shapes",
    "check_convolution_is_correlation_with_rotated_kernel",
    "check_depthwise_separable",
    "check_full_convolution_commutes",
    "check_has_contract_functions",
    "check_input_gradient",
    "check_linearity_in_input",
    "check_linearity_in_weight",
    "check_matches_reference",
    "check_max_pool2d_backward",
    "check_max_pool2d_forward",
    "check_pool2d_gradient_sum",
    "check_pool2d_output_shapes",
    "check_stacked_3x3_receptive_field",
    "check_translation_equivariance",
    "check_weight_gradient",
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
    "pad",
    "pool_gradient_sum_applies",
    "pool_output_length",
    "rot180",
    "run_all",
    "run_identity",
    "valid_correlate2d",
]


# ================================================================================================
# Small NumPy helpers (2-D, one channel; leading axes are carried along where it is free)
# ================================================================================================

def rot180(kernel: np.ndarray) -> np.ndarray:
    """The kernel turned by 180°: both spatial (last two) axes reversed."""
    return kernel[..., ::-1, ::-1]


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


def pad(a: np.ndarray, padding: tuple[int, int, int, int]) -> np.ndarray:
    """Zero-pad the last two axes by ``(top, bottom, left, right)``."""
    top, bottom, left, right = padding
    return np.pad(a, [(0, 0)] * (a.ndim - 2) + [(top, bottom), (left, right)])


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
    return valid_correlate2d(pad(np.asarray(image, np.float64), (kh - 1, kh - 1, kw - 1, kw - 1)),
                             kernel)


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
    x_padded = pad(np.asarray(x, np.float64), padding)
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
    x_padded = pad(np.asarray(x, np.float64), padding)
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
    the smallest flat index among the tied elements."""
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


# ================================================================================================
# Comparing
# ================================================================================================

#: Allowed rounding, in units of the dtype's machine epsilon times Σ|terms|.
ROUNDING_ULPS = 64


def assert_close(actual, expected, *, what: str, bound=None, dtype=None, context: str = "") -> None:
    """Raise ``AssertionError`` unless ``actual`` equals ``expected`` up to float rounding.

    ``bound`` (array broadcastable to ``expected``, or scalar) is ``Σ|terms|``, the size of the
    numbers that were added up; the tolerance is ``ROUNDING_ULPS · eps(dtype) · bound``. Without a
    bound the comparison is exact. The message gives the shapes, or the number of wrong entries,
    the largest error, its index, and the two values there.
    """
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    if actual.shape != expected.shape:
        raise AssertionError(f"{what}: got shape {actual.shape}, expected {expected.shape}. "
                             f"{context}")
    error = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    if bound is None:
        tolerance = np.zeros_like(error)
    else:
        eps = np.finfo(np.dtype(dtype) if dtype is not None else actual.dtype).eps
        bound = np.broadcast_to(np.asarray(bound, np.float64), error.shape)
        tolerance = ROUNDING_ULPS * eps * bound
    wrong = ~(error <= tolerance)  # NaN counts as wrong
    if wrong.any():
        ranked = np.where(np.isnan(error), np.inf, error)
        where = np.unravel_index(np.argmax(ranked), error.shape) if error.ndim else ()
        raise AssertionError(
            f"{what}: {int(wrong.sum())} of {error.size} entries wrong; largest error "
            f"{float(error[where]):.6g} at index {tuple(int(k) for k in where)}: got "
            f"{actual[where]}, expected {expected[where]} (tolerance "
            f"{float(tolerance[where]):.3g}). {context}")


def _describe(config) -> str:
    return f"Config: {config}"


def check_has_contract_functions(impl) -> None:
    """The kernel set has all seven functions of the contract."""
    missing = [name for name in CONTRACT_FUNCTIONS if not callable(getattr(impl, name, None))]
    if missing:
        raise AssertionError(f"{getattr(impl, '__name__', impl)!r} lacks the kernel-contract "
                             f"function(s) {missing}; a kernel set needs all of "
                             f"{list(CONTRACT_FUNCTIONS)}")


# ================================================================================================
# Convolution identities
# ================================================================================================

def check_conv2d_forward(impl, case: ConvCase) -> None:
    """``Y = X ⋆ W``: the forward pass is the cross-correlation of the zero-padded input with the
    dilated kernel, sampled every ``s`` positions, summed over the channels of each group."""
    cfg = case.config
    y = impl.conv2d_forward(case.x, case.w, **cfg.conv_kwargs)
    expected = expected_conv2d_forward(case.x, case.w, **cfg.conv_kwargs)
    bound = expected_conv2d_forward(np.abs(case.x), np.abs(case.w), **cfg.conv_kwargs)
    assert_close(y, expected, bound=bound, dtype=cfg.dtype,
                 what="conv2d_forward(x, w) != x ⋆ w (cross-correlation)", context=_describe(cfg))


def check_conv2d_output_shapes(impl, case: ConvCase) -> None:
    """Output sizes follow ``H_out = floor((H + top + bottom - dH·(kH-1) - 1) / sH) + 1`` (same
    along W); ``conv2d_backward_input`` returns ``x``'s shape and ``conv2d_backward_weight``
    ``w``'s; every output keeps the input dtype and is a fresh array (not a view of an input)."""
    cfg = case.config
    top, bottom, left, right = cfg.padding
    (kh, kw), (sh, sw), (dh, dw) = cfg.kernel, cfg.stride, cfg.dilation
    h_out = conv_output_length(cfg.height, kh, sh, top, bottom, dh)
    w_out = conv_output_length(cfg.width, kw, sw, left, right, dw)
    formula = (cfg.batch, cfg.c_out, h_out, w_out)
    results = {
        "conv2d_forward": (impl.conv2d_forward(case.x, case.w, **cfg.conv_kwargs), formula),
        "conv2d_backward_input": (impl.conv2d_backward_input(case.grad_y, case.w, cfg.x_shape,
                                                             **cfg.conv_kwargs), cfg.x_shape),
        "conv2d_backward_weight": (impl.conv2d_backward_weight(case.x, case.grad_y, cfg.w_shape,
                                                               **cfg.conv_kwargs), cfg.w_shape),
    }
    for name, (out, shape) in results.items():
        _check_output(name, out, shape, cfg.dtype, (case.x, case.w, case.grad_y), cfg)


def _check_output(name, out, shape, dtype, inputs, cfg) -> None:
    if tuple(out.shape) != tuple(shape):
        raise AssertionError(f"{name} returned shape {tuple(out.shape)}, the formula gives "
                             f"{tuple(shape)}. {_describe(cfg)}")
    if out.dtype != np.dtype(dtype):
        raise AssertionError(f"{name} returned dtype {out.dtype} for {dtype} inputs; outputs keep "
                             f"the input dtype. {_describe(cfg)}")
    if any(np.shares_memory(out, a) for a in inputs):
        raise AssertionError(f"{name} returned a view of one of its inputs; outputs must be "
                             f"freshly allocated. {_describe(cfg)}")


def check_weight_gradient(impl, case: ConvCase) -> None:
    """``∂L/∂W = X ⋆ δ``: valid cross-correlation of the padded input with δ dilated by the stride,
    taken at offsets ``d`` apart, per group, summed over the batch
    (see :func:`expected_conv2d_backward_weight`)."""
    cfg = case.config
    grad_w = impl.conv2d_backward_weight(case.x, case.grad_y, cfg.w_shape, **cfg.conv_kwargs)
    expected = expected_conv2d_backward_weight(case.x, case.grad_y, cfg.w_shape, **cfg.conv_kwargs)
    bound = expected_conv2d_backward_weight(np.abs(case.x), np.abs(case.grad_y), cfg.w_shape,
                                            **cfg.conv_kwargs)
    assert_close(grad_w, expected, bound=bound, dtype=cfg.dtype,
                 what="conv2d_backward_weight != X ⋆ δ (input correlated with the stride-dilated "
                      "output gradient)", context=_describe(cfg))


def check_input_gradient(impl, case: ConvCase) -> None:
    """``∂L/∂X = full_conv(δ, W) = full_corr(dilate(δ, s), rot180(dilate(W, d)))``, summed over the
    output channels of each group, cropped by the padding; rows and columns the forward pass
    never read get 0 (see :func:`expected_conv2d_backward_input`)."""
    cfg = case.config
    grad_x = impl.conv2d_backward_input(case.grad_y, case.w, cfg.x_shape, **cfg.conv_kwargs)
    expected = expected_conv2d_backward_input(case.grad_y, case.w, cfg.x_shape, **cfg.conv_kwargs)
    bound = expected_conv2d_backward_input(np.abs(case.grad_y), np.abs(case.w), cfg.x_shape,
                                           **cfg.conv_kwargs)
    assert_close(grad_x, expected, bound=bound, dtype=cfg.dtype,
                 what="conv2d_backward_input != full_corr(δ dilated by stride, rot180(W)) "
                      "cropped by padding", context=_describe(cfg))


_UNIT = {"stride": (1, 1), "dilation": (1, 1), "groups": 1}


def _impl_full_convolve2d(impl, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The full convolution ``a * b`` of two 2-D arrays computed by the kernel set: the input
    gradient of a stride-1, unpadded convolution is ``full_conv(δ, W)``, here with ``δ = a`` and
    ``W = b``."""
    x_shape = (1, 1, a.shape[0] + b.shape[0] - 1, a.shape[1] + b.shape[1] - 1)
    return impl.conv2d_backward_input(a[None, None], b[None, None], x_shape,
                                      padding=(0, 0, 0, 0), **_UNIT)[0, 0]


def check_full_convolution_commutes(impl, a: np.ndarray, b: np.ndarray) -> None:
    """Full convolution commutes: ``full_conv(a, b) = full_conv(b, a)``.

    ``Σ_i a[i]·b[u-i] = Σ_j b[j]·a[u-j]`` (substitute ``j = u - i``). Computed with the kernel set
    (``conv2d_backward_input`` at stride 1, no padding, is ``full_conv(δ, W)``): a backward pass
    that correlates instead of convolving gives ``rot180`` of the swapped product, and fails.
    ``a: (ha, wa)``, ``b: (hb, wb)``, same dtype.
    """
    ab, ba = _impl_full_convolve2d(impl, a, b), _impl_full_convolve2d(impl, b, a)
    bound = full_convolve2d(np.abs(a), np.abs(b))
    assert_close(ab, ba, bound=bound, dtype=a.dtype,
                 what="full convolution does not commute: full_conv(a, b) != full_conv(b, a) "
                      "(conv2d_backward_input at stride 1, no padding)",
                 context=f"a: {a.shape}, b: {b.shape}")


def check_convolution_is_correlation_with_rotated_kernel(impl, image: np.ndarray,
                                                         kernel: np.ndarray) -> None:
    """Convolution is cross-correlation with the rotated kernel: ``a * k = a ⋆ rot180(k)``.

    Left: the valid convolution, computed as the full convolution ``conv2d_backward_input(a, k)``
    cropped by ``k - 1`` on every side (padding ``k - 1``). Right: ``conv2d_forward(a, rot180(k))``.
    ``image: (h, w)``, ``kernel: (kh, kw)`` with ``kh <= h``, ``kw <= w``.
    """
    (h, w), (kh, kw) = image.shape, kernel.shape
    valid_shape = (1, 1, h - kh + 1, w - kw + 1)
    convolution = impl.conv2d_backward_input(image[None, None], kernel[None, None], valid_shape,
                                             padding=(kh - 1, kh - 1, kw - 1, kw - 1), **_UNIT)
    correlation = impl.conv2d_forward(image[None, None], rot180(kernel)[None, None],
                                      padding=(0, 0, 0, 0), **_UNIT)
    bound = valid_correlate2d(np.abs(image), np.abs(kernel)[::-1, ::-1])
    assert_close(convolution[0, 0], correlation[0, 0], bound=bound, dtype=image.dtype,
                 what="valid convolution (cropped conv2d_backward_input) != correlation with the "
                      "rotated kernel (conv2d_forward(a, rot180(k)))",
                 context=f"image: {image.shape}, kernel: {kernel.shape}")


def check_adjoint_input(impl, case: ConvCase) -> None:
    """Adjointness: ``<conv2d_forward(X, W), Y> = <X, conv2d_backward_input(Y, W)>``, in float64.

    The input gradient is the transpose of the forward map (``X ↦ X ⋆ W`` is linear), which is why
    ``conv2d_backward_input`` is also the transposed convolution. ``Y`` is ``case.grad_y``.
    """
    cfg = case.config
    x, w, y = (np.asarray(a, np.float64) for a in (case.x, case.w, case.grad_y))
    kwargs = cfg.conv_kwargs
    forward_side = float(np.sum(impl.conv2d_forward(x, w, **kwargs) * y))
    backward_side = float(np.sum(x * impl.conv2d_backward_input(y, w, cfg.x_shape, **kwargs)))
    bound = float(np.sum(expected_conv2d_forward(np.abs(x), np.abs(w), **kwargs) * np.abs(y)))
    assert_close(backward_side, forward_side, bound=bound, dtype=np.float64,
                 what="<X ⋆ W, Y> != <X, conv2d_backward_input(Y, W)> (adjointness, float64; "
                      "actual = right side)", context=_describe(cfg))


def check_adjoint_weight(impl, case: ConvCase) -> None:
    """Adjointness in the weight: ``<conv2d_forward(X, W), Y> = <W, conv2d_backward_weight(X, Y)>``,
    in float64 (``W ↦ X ⋆ W`` is linear too; its transpose is the weight gradient)."""
    cfg = case.config
    x, w, y = (np.asarray(a, np.float64) for a in (case.x, case.w, case.grad_y))
    kwargs = cfg.conv_kwargs
    forward_side = float(np.sum(impl.conv2d_forward(x, w, **kwargs) * y))
    backward_side = float(np.sum(w * impl.conv2d_backward_weight(x, y, cfg.w_shape, **kwargs)))
    bound = float(np.sum(expected_conv2d_forward(np.abs(x), np.abs(w), **kwargs) * np.abs(y)))
    assert_close(backward_side, forward_side, bound=bound, dtype=np.float64,
                 what="<X ⋆ W, Y> != <W, conv2d_backward_weight(X, Y)> (adjointness, float64; "
                      "actual = right side)", context=_describe(cfg))


def check_linearity_in_input(impl, case: ConvCase, x2: np.ndarray, a: float, b: float) -> None:
    """``(a·X₁ + b·X₂) ⋆ W = a·(X₁ ⋆ W) + b·(X₂ ⋆ W)``; ``X₁ = case.x``, ``X₂ = x2``."""
    cfg = case.config
    mixed = (a * case.x + b * x2).astype(cfg.dtype)
    combined = impl.conv2d_forward(mixed, case.w, **cfg.conv_kwargs)
    separate = (a * impl.conv2d_forward(case.x, case.w, **cfg.conv_kwargs).astype(np.float64)
                + b * impl.conv2d_forward(x2, case.w, **cfg.conv_kwargs).astype(np.float64))
    bound = (abs(a) * expected_conv2d_forward(np.abs(case.x), np.abs(case.w), **cfg.conv_kwargs)
             + abs(b) * expected_conv2d_forward(np.abs(x2), np.abs(case.w), **cfg.conv_kwargs))
    assert_close(combined, separate, bound=bound, dtype=cfg.dtype,
                 what=f"conv2d_forward is not linear in x: ({a}·x1 + {b}·x2) ⋆ w != "
                      f"{a}·(x1 ⋆ w) + {b}·(x2 ⋆ w)", context=_describe(cfg))


def check_linearity_in_weight(impl, case: ConvCase, w2: np.ndarray, a: float, b: float) -> None:
    """``X ⋆ (a·W₁ + b·W₂) = a·(X ⋆ W₁) + b·(X ⋆ W₂)``; ``W₁ = case.w``, ``W₂ = w2``."""
    cfg = case.config
    mixed = (a * case.w + b * w2).astype(cfg.dtype)
    combined = impl.conv2d_forward(case.x, mixed, **cfg.conv_kwargs)
    separate = (a * impl.conv2d_forward(case.x, case.w, **cfg.conv_kwargs).astype(np.float64)
                + b * impl.conv2d_forward(case.x, w2, **cfg.conv_kwargs).astype(np.float64))
    bound = (abs(a) * expected_conv2d_forward(np.abs(case.x), np.abs(case.w), **cfg.conv_kwargs)
             + abs(b) * expected_conv2d_forward(np.abs(case.x), np.abs(w2), **cfg.conv_kwargs))
    assert_close(combined, separate, bound=bound, dtype=cfg.dtype,
                 what=f"conv2d_forward is not linear in w: x ⋆ ({a}·w1 + {b}·w2) != "
                      f"{a}·(x ⋆ w1) + {b}·(x ⋆ w2)", context=_describe(cfg))


def check_translation_equivariance(impl, case: ConvCase, shift: tuple[int, int]) -> None:
    """Stride 1: shifting the input down/right by ``shift = (dy, dx)`` shifts the output the same
    way, away from the borders.

    ``X'[.., u, v] = X[.., u - dy, v - dx]`` (zeros enter at the top/left, the last rows/columns
    fall off). Then ``Y'[.., i, j] = Y[.., i - dy, j - dx]`` wherever every tap of ``Y'[i, j]``
    reads a shifted position: ``i >= dy`` and the window ends before the shifted-out rows
    (``i + span - 1 < top + H``), likewise for columns.
    """
    cfg = case.config
    if cfg.stride != (1, 1):
        raise ValueError(f"check_translation_equivariance needs stride (1, 1), got {cfg.stride}")
    dy, dx = shift
    x = case.x
    shifted = np.zeros_like(x)
    shifted[:, :, dy:, dx:] = x[:, :, :x.shape[2] - dy, :x.shape[3] - dx]
    y = np.asarray(impl.conv2d_forward(x, case.w, **cfg.conv_kwargs), np.float64)
    y_shifted = np.asarray(impl.conv2d_forward(shifted, case.w, **cfg.conv_kwargs), np.float64)
    span_h = cfg.dilation[0] * (cfg.kernel[0] - 1) + 1
    span_w = cfg.dilation[1] * (cfg.kernel[1] - 1) + 1
    # Output positions i (rows) and j (columns) of y_shifted away from the borders.
    top, left = cfg.padding[0], cfg.padding[2]
    rows = [i for i in range(y.shape[2]) if i >= dy and i + span_h - 1 < top + cfg.height]
    cols = [j for j in range(y.shape[3]) if j >= dx and j + span_w - 1 < left + cfg.width]
    if not rows or not cols:
        return  # the shift moves everything out of the interior: nothing to compare
    inside = np.ix_(range(y.shape[0]), range(y.shape[1]), rows, cols)
    moved_back = np.ix_(range(y.shape[0]), range(y.shape[1]),
                        [i - dy for i in rows], [j - dx for j in cols])
    bound = expected_conv2d_forward(np.abs(x), np.abs(case.w), **cfg.conv_kwargs)[moved_back]
    assert_close(y_shifted[inside], y[moved_back], bound=bound, dtype=cfg.dtype,
                 what=f"conv2d_forward is not translation-equivariant: shifting x by {shift} does "
                      f"not shift y by {shift} (compared on output rows {rows}, columns {cols})",
                 context=_describe(cfg))


def check_conv1x1_is_linear(impl, x: np.ndarray, matrix: np.ndarray) -> None:
    """A 1×1 convolution is a Linear layer applied at every pixel:
    ``conv2d_forward(x, matrix[:, :, None, None])[n, :, i, j] = matrix @ x[n, :, i, j]``.

    ``x: (N, C_in, H, W)``, ``matrix: (C_out, C_in)``.
    """
    weight = matrix[:, :, None, None]
    y = impl.conv2d_forward(x, weight, padding=(0, 0, 0, 0), **_UNIT)
    x64, m64 = np.asarray(x, np.float64), np.asarray(matrix, np.float64)
    expected = np.einsum("oc,nchw->nohw", m64, x64)
    bound = np.einsum("oc,nchw->nohw", np.abs(m64), np.abs(x64))
    assert_close(y, expected, bound=bound, dtype=x.dtype,
                 what="1×1 conv2d_forward != matrix product over channels at every pixel",
                 context=f"x: {x.shape}, matrix: {matrix.shape}")


def check_depthwise_separable(impl, case: ConvCase, pointwise: np.ndarray) -> None:
    """Depthwise-separable block = grouped conv (groups = C) then a 1×1 conv.

    Left: ``conv2d_forward(conv2d_forward(x, w_dw, groups=C), pointwise[:, :, None, None])``.
    Right, one channel at a time: ``z_c = conv2d_forward(x[:, c:c+1], w_dw[c:c+1], groups=1)``,
    then ``y = Σ_c pointwise[:, c] · z_c``. ``case`` is depthwise (``groups = C_in = C_out``),
    ``pointwise: (C_out', C)``. (The block costs ``1/C_out' + 1/(kH·kW)`` of the multiplications of
    a full ``kH×kW`` convolution from C to C_out' channels: MobileNet's saving.)
    """
    cfg = case.config
    channels = cfg.c_in
    if not (cfg.groups == channels == cfg.c_out):
        raise ValueError(f"check_depthwise_separable needs groups = C_in = C_out, got {cfg}")
    conv = {"stride": cfg.stride, "padding": cfg.padding, "dilation": cfg.dilation}
    depthwise = impl.conv2d_forward(case.x, case.w, groups=channels, **conv)
    block = impl.conv2d_forward(depthwise, pointwise[:, :, None, None], padding=(0, 0, 0, 0),
                                **_UNIT)
    per_channel = np.stack([np.asarray(impl.conv2d_forward(case.x[:, c:c + 1], case.w[c:c + 1],
                                                           groups=1, **conv), np.float64)[:, 0]
                            for c in range(channels)], axis=1)
    expected = np.einsum("oc,nchw->nohw", np.asarray(pointwise, np.float64), per_channel)
    depthwise_bound = expected_conv2d_forward(np.abs(case.x), np.abs(case.w), groups=channels,
                                              **conv)
    bound = np.einsum("oc,nchw->nohw", np.abs(np.asarray(pointwise, np.float64)), depthwise_bound)
    assert_close(block, expected, bound=bound, dtype=cfg.dtype,
                 what="grouped conv (groups=C) + 1×1 conv != per-channel convs mixed by the "
                      "pointwise matrix", context=_describe(cfg))


def check_stacked_3x3_receptive_field(impl, x_shape: tuple, w1: np.ndarray, w2: np.ndarray,
                                      out_row: int, out_col: int) -> None:
    """Two stacked 3×3 convolutions (stride 1, no padding) see a 5×5 field.

    δ is one at output pixel ``(out_row, out_col)`` (sample 0, channel 0) of
    ``conv(conv(x, w1), w2)`` and zero elsewhere; two ``conv2d_backward_input`` calls bring it back
    to the input. With strictly positive weights nothing cancels, so the input pixels with a
    non-zero gradient (any channel) are exactly rows ``out_row .. out_row+4`` and columns
    ``out_col .. out_col+4``. ``x_shape = (N, C_in, H, W)``, ``w1: (C_mid, C_in, 3, 3)``,
    ``w2: (C_out, C_mid, 3, 3)``.
    """
    if not (w1.shape[2:] == w2.shape[2:] == (3, 3)) or (w1 <= 0).any() or (w2 <= 0).any():
        raise ValueError("check_stacked_3x3_receptive_field needs strictly positive 3×3 weights")
    n, _, h, w = x_shape
    mid_shape = (n, w1.shape[0], h - 2, w - 2)
    grad_y = np.zeros((n, w2.shape[0], h - 4, w - 4), dtype=w1.dtype)
    grad_y[0, 0, out_row, out_col] = 1
    grad_mid = impl.conv2d_backward_input(grad_y, w2, mid_shape, padding=(0, 0, 0, 0), **_UNIT)
    grad_x = impl.conv2d_backward_input(np.asarray(grad_mid), w1, tuple(x_shape),
                                        padding=(0, 0, 0, 0), **_UNIT)
    seen = np.any(np.asarray(grad_x) != 0, axis=1)  # (N, H, W): which pixels got any gradient
    expected = np.zeros((n, h, w), dtype=bool)
    expected[0, out_row:out_row + 5, out_col:out_col + 5] = True
    if not np.array_equal(seen, expected):
        got = [(int(a), int(b), int(c)) for a, b, c in np.argwhere(seen)]
        raise AssertionError(
            f"the input gradient of output pixel ({out_row}, {out_col}) through two stacked 3×3 "
            f"convolutions should be non-zero exactly on rows {out_row}..{out_row + 4}, columns "
            f"{out_col}..{out_col + 4} of sample 0; non-zero (sample, row, col) were {got}. "
            f"x_shape={tuple(x_shape)}")


# ================================================================================================
# Pooling identities
# ================================================================================================

def check_pool2d_output_shapes(impl, case: PoolCase) -> None:
    """Pooling output sizes follow PyTorch's rule (:func:`pool_output_length`, floor or ceil);
    max pooling's indices are int64 with ``y``'s shape; backward passes return ``x``'s shape;
    outputs keep the dtype and are fresh arrays. Average pooling is checked when the config has
    no dilation (it has none)."""
    cfg = case.config
    top, bottom, left, right = cfg.padding
    formula = (cfg.batch, cfg.channels,
               pool_output_length(cfg.height, cfg.kernel[0], cfg.stride[0], top, bottom,
                                  cfg.dilation[0], cfg.ceil_mode),
               pool_output_length(cfg.width, cfg.kernel[1], cfg.stride[1], left, right,
                                  cfg.dilation[1], cfg.ceil_mode))
    inputs = (case.x, case.grad_y)
    y, indices = impl.max_pool2d_forward(case.x, **cfg.max_pool_kwargs)
    _check_output("max_pool2d_forward (values)", y, formula, cfg.dtype, inputs, cfg)
    _check_output("max_pool2d_forward (indices)", indices, formula, np.int64, inputs, cfg)
    _check_output("max_pool2d_backward",
                  impl.max_pool2d_backward(case.grad_y, indices, cfg.x_shape),
                  cfg.x_shape, cfg.dtype, inputs, cfg)
    if cfg.dilation == (1, 1):
        _check_output("avg_pool2d_forward", impl.avg_pool2d_forward(case.x, **cfg.avg_pool_kwargs),
                      formula, cfg.dtype, inputs, cfg)
        _check_output("avg_pool2d_backward",
                      impl.avg_pool2d_backward(case.grad_y, cfg.x_shape, **cfg.avg_pool_kwargs),
                      cfg.x_shape, cfg.dtype, inputs, cfg)


def check_max_pool2d_forward(impl, case: PoolCase) -> None:
    """Max pooling returns each window's maximum (padding never wins) and the flat index
    ``row·W + col`` of the winner in its input plane, the first in row-major order on ties."""
    cfg = case.config
    y, indices = impl.max_pool2d_forward(case.x, **cfg.max_pool_kwargs)
    expected_y, expected_indices = expected_max_pool2d_forward(case.x, **cfg.max_pool_kwargs)
    assert_close(y, expected_y, what="max_pool2d_forward values != window maxima",
                 context=_describe(cfg))
    assert_close(indices, expected_indices,
                 what="max_pool2d_forward indices != flat index (row·W + col) of the first "
                      "maximum of each window", context=_describe(cfg))


def check_max_pool2d_backward(impl, case: PoolCase) -> None:
    """Max pooling's backward routes each δ to its window's argmax: ``grad_x.flat[index] += δ``.

    The indices given to the kernel are the oracle's (so a forward bug does not hide here);
    where windows overlap, an element that wins several of them receives the sum of their δ.
    """
    cfg = case.config
    _, indices = expected_max_pool2d_forward(case.x, **cfg.max_pool_kwargs)
    grad_x = impl.max_pool2d_backward(case.grad_y, indices, cfg.x_shape)
    expected = expected_max_pool2d_backward(case.grad_y, indices, cfg.x_shape)
    bound = expected_max_pool2d_backward(np.abs(case.grad_y), indices, cfg.x_shape)
    assert_close(grad_x, expected, bound=bound, dtype=cfg.dtype,
                 what="max_pool2d_backward != δ routed (and summed) to the argmax of each window",
                 context=_describe(cfg))


def check_avg_pool2d_forward(impl, case: PoolCase) -> None:
    """Average pooling: each window's sum over real elements divided by ``kH·kW`` clipped to the
    padded input (``count_include_pad=True``) or by the number of real elements (``False``)."""
    cfg = case.config
    y = impl.avg_pool2d_forward(case.x, **cfg.avg_pool_kwargs)
    expected = expected_avg_pool2d_forward(case.x, **cfg.avg_pool_kwargs)
    bound = expected_avg_pool2d_forward(np.abs(case.x), **cfg.avg_pool_kwargs)
    assert_close(y, expected, bound=bound, dtype=cfg.dtype,
                 what="avg_pool2d_forward != window sum / divisor", context=_describe(cfg))


def check_avg_pool2d_backward(impl, case: PoolCase) -> None:
    """Average pooling's backward spreads ``δ / divisor`` over every real element of the window
    (pooling backward is upsampling), summed where windows overlap."""
    cfg = case.config
    grad_x = impl.avg_pool2d_backward(case.grad_y, cfg.x_shape, **cfg.avg_pool_kwargs)
    expected = expected_avg_pool2d_backward(case.grad_y, cfg.x_shape, **cfg.avg_pool_kwargs)
    bound = expected_avg_pool2d_backward(np.abs(case.grad_y), cfg.x_shape, **cfg.avg_pool_kwargs)
    assert_close(grad_x, expected, bound=bound, dtype=cfg.dtype,
                 what="avg_pool2d_backward != δ / divisor spread over each window",
                 context=_describe(cfg))


def pool_gradient_sum_applies(config) -> bool:
    """Whether :func:`check_pool2d_gradient_sum` applies: no dilation, and no padding counted in
    an average-pooling divisor (``count_include_pad`` with padding keeps part of δ in the padding).
    """
    return config.dilation == (1, 1) and not (config.count_include_pad and any(config.padding))


def check_pool2d_gradient_sum(impl, case: PoolCase) -> None:
    """The input gradient of each ``(n, c)`` plane sums to the sum of δ over that plane.

    Max pooling sends each δ to exactly one element; average pooling shares δ out as
    ``divisor`` equal parts over the window's real elements. With stride >= kernel and no padding
    windows do not overlap and each element simply receives its window's share; with overlap the
    shares add up and the total is still Σ δ. (Requires :func:`pool_gradient_sum_applies`.)
    Max pooling is checked end to end, with the kernel set's own forward indices.
    """
    cfg = case.config
    if not pool_gradient_sum_applies(cfg):
        raise ValueError(f"check_pool2d_gradient_sum does not apply to {cfg}")
    delta_sums = np.asarray(case.grad_y, np.float64).sum(axis=(2, 3))
    bound = np.abs(np.asarray(case.grad_y, np.float64)).sum(axis=(2, 3))
    _, indices = impl.max_pool2d_forward(case.x, **cfg.max_pool_kwargs)
    grad_x = impl.max_pool2d_backward(case.grad_y, np.asarray(indices), cfg.x_shape)
    assert_close(np.asarray(grad_x, np.float64).sum(axis=(2, 3)), delta_sums, bound=bound,
                 dtype=cfg.dtype, what="max pooling: Σ grad_x != Σ δ per (n, c) plane",
                 context=_describe(cfg))
    grad_x = impl.avg_pool2d_backward(case.grad_y, cfg.x_shape, **cfg.avg_pool_kwargs)
    assert_close(np.asarray(grad_x, np.float64).sum(axis=(2, 3)), delta_sums, bound=bound,
                 dtype=cfg.dtype, what="average pooling: Σ grad_x != Σ δ per (n, c) plane",
                 context=_describe(cfg))


# ================================================================================================
# Against a reference kernel set
# ================================================================================================

def check_matches_reference(impl, ref, case) -> None:
    """Every kernel of ``impl`` returns what the same kernel of ``ref`` returns on ``case``.

    For a :class:`ConvCase`: ``conv2d_forward``, ``conv2d_backward_input``,
    ``conv2d_backward_weight``. For a :class:`PoolCase`: ``max_pool2d_forward`` (values and
    indices), ``max_pool2d_backward`` (with the reference's indices), and, without dilation,
    ``avg_pool2d_forward`` and ``avg_pool2d_backward``. Float results agree up to rounding
    (bounded by ``ref`` evaluated on absolute values).
    """
    cfg = case.config
    x_abs, dy_abs = np.abs(case.x), np.abs(case.grad_y)

    def compare(name, args, abs_args, kwargs):
        ours = getattr(impl, name)(*args, **kwargs)
        theirs = getattr(ref, name)(*args, **kwargs)
        bound = getattr(ref, name)(*abs_args, **kwargs)  # Σ|terms|, for the rounding tolerance
        assert_close(ours, np.asarray(theirs, np.float64), bound=bound, dtype=cfg.dtype,
                     what=f"{name} differs from the reference", context=_describe(cfg))

    if isinstance(case, ConvCase):
        w_abs = np.abs(case.w)
        compare("conv2d_forward", (case.x, case.w), (x_abs, w_abs), cfg.conv_kwargs)
        compare("conv2d_backward_input", (case.grad_y, case.w, cfg.x_shape),
                (dy_abs, w_abs, cfg.x_shape), cfg.conv_kwargs)
        compare("conv2d_backward_weight", (case.x, case.grad_y, cfg.w_shape),
                (x_abs, dy_abs, cfg.w_shape), cfg.conv_kwargs)
        return
    y, indices = impl.max_pool2d_forward(case.x, **cfg.max_pool_kwargs)
    ref_y, ref_indices = ref.max_pool2d_forward(case.x, **cfg.max_pool_kwargs)
    assert_close(y, ref_y, what="max_pool2d_forward values differ from the reference",
                 context=_describe(cfg))
    assert_close(indices, ref_indices, what="max_pool2d_forward indices differ from the reference",
                 context=_describe(cfg))
    compare("max_pool2d_backward", (case.grad_y, ref_indices, cfg.x_shape),
            (dy_abs, ref_indices, cfg.x_shape), {})
    if cfg.dilation == (1, 1):
        compare("avg_pool2d_forward", (case.x,), (x_abs,), cfg.avg_pool_kwargs)
        compare("avg_pool2d_backward", (case.grad_y, cfg.x_shape), (dy_abs, cfg.x_shape),
                cfg.avg_pool_kwargs)


# ================================================================================================
# The argument strategies of each identity, and running them under hypothesis
# ================================================================================================

def _cases(strategy):
    """Arguments ``(case,)`` for the checks that take just a case."""
    return strategy.map(lambda case: (case,))


@st.composite
def _two_images(draw, max_size: int = 5):
    """``(a, b)``: two 2-D arrays of one dtype, any sizes up to ``max_size``."""
    dtype = draw(st.sampled_from(DTYPES))
    shape = st.tuples(st.integers(1, max_size), st.integers(1, max_size))
    return draw(float_arrays(draw(shape), dtype)), draw(float_arrays(draw(shape), dtype))


@st.composite
def _image_and_kernel(draw, max_size: int = 8, max_kernel: int = 4):
    """``(image, kernel)``: 2-D arrays with the kernel no larger than the image."""
    dtype = draw(st.sampled_from(DTYPES))
    h, w = draw(st.integers(1, max_size)), draw(st.integers(1, max_size))
    kh, kw = draw(st.integers(1, min(h, max_kernel))), draw(st.integers(1, min(w, max_kernel)))
    return draw(float_arrays((h, w), dtype)), draw(float_arrays((kh, kw), dtype))


_COEFFICIENTS = st.integers(-3, 3).map(float)


@st.composite
def _linearity_in_input_arguments(draw):
    case = draw(conv2d_cases())
    x2 = draw(float_arrays(case.config.x_shape, case.config.dtype))
    return case, x2, draw(_COEFFICIENTS), draw(_COEFFICIENTS)


@st.composite
def _linearity_in_weight_arguments(draw):
    case = draw(conv2d_cases())
    w2 = draw(float_arrays(case.config.w_shape, case.config.dtype))
    return case, w2, draw(_COEFFICIENTS), draw(_COEFFICIENTS)


@st.composite
def _translation_arguments(draw):
    case = draw(conv2d_cases(max_stride=1))
    return case, draw(st.tuples(st.integers(0, 3), st.integers(0, 3)))


@st.composite
def _conv1x1_arguments(draw):
    dtype = draw(st.sampled_from(DTYPES))
    n, c_in, c_out = draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    return draw(float_arrays((n, c_in, h, w), dtype)), draw(float_arrays((c_out, c_in), dtype))


@st.composite
def _depthwise_arguments(draw):
    case = draw(conv2d_cases(depthwise=True))
    c_out = draw(st.integers(1, 4))
    return case, draw(float_arrays((c_out, case.config.c_in), case.config.dtype))


@st.composite
def _receptive_field_arguments(draw):
    dtype = draw(st.sampled_from(DTYPES))
    n, c_in, c_mid, c_out = (draw(st.integers(1, k)) for k in (2, 3, 3, 3))
    h, w = draw(st.integers(5, 9)), draw(st.integers(5, 9))
    w1 = draw(float_arrays((c_mid, c_in, 3, 3), dtype, positive=True))
    w2 = draw(float_arrays((c_out, c_mid, 3, 3), dtype, positive=True))
    return (n, c_in, h, w), w1, w2, draw(st.integers(0, h - 5)), draw(st.integers(0, w - 5))


@dataclass(frozen=True)
class Identity:
    """One identity: its check, the hypothesis strategy for the check's arguments (a tuple that
    follows ``impl``, and ``ref`` when ``needs_reference``), and a one-line statement."""

    name: str
    check: Callable
    arguments: st.SearchStrategy
    statement: str
    needs_reference: bool = False


_AVG_CASES = pool2d_cases(allow_dilation=False)

IDENTITIES: dict[str, Identity] = {identity.name: identity for identity in [
    Identity("conv2d_forward", check_conv2d_forward, _cases(conv2d_cases()), "Y = X ⋆ W"),
    Identity("conv2d_output_shapes", check_conv2d_output_shapes, _cases(conv2d_cases()),
             "H_out = floor((H + p_t + p_b - d(k-1) - 1) / s) + 1; dtype kept; fresh outputs"),
    Identity("weight_gradient", check_weight_gradient, _cases(conv2d_cases()), "∂L/∂W = X ⋆ δ"),
    Identity("input_gradient", check_input_gradient, _cases(conv2d_cases()),
             "∂L/∂X = full_conv(δ, W) = full_corr(δ, rot180(W))"),
    Identity("full_convolution_commutes", check_full_convolution_commutes, _two_images(),
             "full_conv(a, b) = full_conv(b, a)"),
    Identity("convolution_is_correlation_with_rotated_kernel",
             check_convolution_is_correlation_with_rotated_kernel, _image_and_kernel(),
             "a * k = a ⋆ rot180(k)"),
    Identity("adjoint_input", check_adjoint_input, _cases(conv2d_cases()),
             "<X ⋆ W, Y> = <X, conv_transpose(Y, W)>"),
    Identity("adjoint_weight", check_adjoint_weight, _cases(conv2d_cases()),
             "<X ⋆ W, Y> = <W, X ⋆ Y>"),
    Identity("linearity_in_input", check_linearity_in_input, _linearity_in_input_arguments(),
             "(a X1 + b X2) ⋆ W = a X1 ⋆ W + b X2 ⋆ W"),
    Identity("linearity_in_weight", check_linearity_in_weight, _linearity_in_weight_arguments(),
             "X ⋆ (a W1 + b W2) = a X ⋆ W1 + b X ⋆ W2"),
    Identity("translation_equivariance", check_translation_equivariance, _translation_arguments(),
             "shift(X) ⋆ W = shift(X ⋆ W) at stride 1, away from borders"),
    Identity("conv1x1_is_linear", check_conv1x1_is_linear, _conv1x1_arguments(),
             "1×1 conv = matrix product over channels at every pixel"),
    Identity("depthwise_separable", check_depthwise_separable, _depthwise_arguments(),
             "grouped conv (groups=C) + 1×1 conv = per-channel convs mixed by a matrix"),
    Identity("stacked_3x3_receptive_field", check_stacked_3x3_receptive_field,
             _receptive_field_arguments(), "two stacked 3×3 convs see exactly a 5×5 field"),
    Identity("pool2d_output_shapes", check_pool2d_output_shapes, _cases(pool2d_cases()),
             "pooling output size: floor or ceil rule"),
    Identity("max_pool2d_forward", check_max_pool2d_forward, _cases(pool2d_cases()),
             "window max; argmax = first index on ties"),
    Identity("max_pool2d_backward", check_max_pool2d_backward, _cases(pool2d_cases()),
             "δ routed to the argmax"),
    Identity("avg_pool2d_forward", check_avg_pool2d_forward, _cases(_AVG_CASES),
             "window sum / divisor"),
    Identity("avg_pool2d_backward", check_avg_pool2d_backward, _cases(_AVG_CASES),
             "δ / divisor spread over each window"),
    Identity("pool2d_gradient_sum", check_pool2d_gradient_sum,
             _cases(_AVG_CASES.filter(lambda case: pool_gradient_sum_applies(case.config))),
             "Σ grad_x = Σ δ per plane"),
    Identity("matches_reference", check_matches_reference,
             _cases(st.one_of(conv2d_cases(), pool2d_cases())),
             "same outputs as the reference kernels", needs_reference=True),
]}

#: Every identity's name, in the order above (``matches_reference`` needs a reference).
IDENTITY_NAMES = tuple(IDENTITIES)


def run_identity(name: str, impl, *, reference=None, max_examples: int | None = None,
                 shrink: bool = True) -> None:
    """Check one identity on ``impl`` with hypothesis-drawn arguments.

    Raises the check's ``AssertionError`` (or the kernel's own exception) for the smallest
    failing example hypothesis finds; hypothesis prints that example. ``max_examples=None`` uses
    the active hypothesis profile's setting; ``shrink=False`` skips shrinking (faster when you only
    need to know *that* it fails). ``reference`` is required by ``matches_reference``.
    """
    identity = IDENTITIES[name]
    if identity.needs_reference and reference is None:
        raise ValueError(f"identity {name!r} compares with a reference: pass reference=...")

    def check_identity(arguments):
        if identity.needs_reference:
            identity.check(impl, reference, *arguments)
        else:
            identity.check(impl, *arguments)

    # Hypothesis keys its example database by the test function; give each (identity, kernel
    # set) pair its own key so that a failure saved for one is replayed for that one only (and
    # keep unshrunk failures apart from shrunk ones).
    impl_name = getattr(impl, "__name__", type(impl).__name__)
    key = f"{name}:{impl_name}:{'shrunk' if shrink else 'unshrunk'}"
    check_identity._hypothesis_internal_add_digest = key.encode()

    # hypothesis's "explain" phase (which lines ran in failing examples) costs more than the
    # shrinking itself and tells a student nothing the minimal example does not
    skipped = {Phase.explain} if shrink else {Phase.explain, Phase.shrink}
    overrides = {"deadline": None, "report_multiple_bugs": False,
                 "phases": [phase for phase in settings().phases if phase not in skipped]}
    if max_examples is not None:
        overrides["max_examples"] = max_examples
    settings(**overrides)(given(identity.arguments)(check_identity))()


def run_all(impl, *, reference=None, max_examples: int | None = None,
            names: tuple[str, ...] | None = None, shrink: bool = True) -> list[str]:
    """Run every identity (or those in ``names``) on ``impl``; return the names that passed.

    ``matches_reference`` runs only when ``reference`` is given; ``max_examples`` and ``shrink``
    are passed to :func:`run_identity`. Raises one ``AssertionError``
    listing each failing identity with its statement and message (hypothesis prints each
    falsifying example as it is found).
    """
    check_has_contract_functions(impl)
    if names is None:
        names = tuple(n for n in IDENTITY_NAMES
                      if reference is not None or not IDENTITIES[n].needs_reference)
    passed, failures = [], []
    for name in names:
        try:
            run_identity(name, impl, reference=reference, max_examples=max_examples,
                         shrink=shrink)
        except Exception as error:  # noqa: BLE001 -- a kernel that crashes fails too
            example = "\n".join(getattr(error, "__notes__", []))  # hypothesis's falsifying example
            failures.append(f"- {name} ({IDENTITIES[name].statement}): "
                            f"{type(error).__name__}: {error}\n{example}")
        else:
            passed.append(name)
    if failures:
        raise AssertionError(f"{len(failures)} of {len(names)} identities failed:\n"
                             + "\n".join(failures))
    return passed
