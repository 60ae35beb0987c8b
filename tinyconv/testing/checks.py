"""Checks: the identities of convolution's calculus, as executable checks on any kernel set.

A *kernel set* is any object with the seven functions of the kernel contract
(:mod:`tinyconv.kernels.contract`): ``tinyconv.kernels.reference``, ``tinyconv.kernels.cpu``, or a
student's own module. Every ``check_*`` function below takes such an ``impl`` plus a problem
(usually a :class:`~tinyconv.testing.strategies.ConvCase` or
:class:`~tinyconv.testing.strategies.PoolCase`), and raises ``AssertionError`` saying what differs,
by how much and where, when the identity does not hold. What the kernels must return comes from
:mod:`tinyconv.testing.oracles`; which checks exist, with their statements and the hypothesis
strategies of their arguments, is listed in :mod:`tinyconv.testing.identities`; running them on a
module and collecting the results is :mod:`tinyconv.testing.grading`.

The comparison allows float rounding only: ``|actual - expected| <= 64 · eps(dtype) · Σ|terms|``,
where ``Σ|terms|`` is the same oracle evaluated on absolute values. With the small-integer arrays
the strategies draw mostly, a correct kernel matches exactly. Equal non-finite values agree (NaN
where the oracle has NaN, the same infinity where it has one).
"""

from __future__ import annotations

import numpy as np

from tinyconv.kernels.contract import CONTRACT_FUNCTIONS
from tinyconv.kernels.reference import rot180
from tinyconv.testing.oracles import (
    conv_output_length,
    expected_avg_pool2d_backward,
    expected_avg_pool2d_forward,
    expected_conv2d_backward_input,
    expected_conv2d_backward_weight,
    expected_conv2d_forward,
    expected_max_pool2d_backward,
    expected_max_pool2d_forward,
    full_convolve2d,
    pool_output_length,
    valid_correlate2d,
)
from tinyconv.testing.strategies import ConvCase, PoolCase

__all__ = [
    "ROUNDING_ULPS",
    "assert_close",
    "check_adjoint_input",
    "check_adjoint_weight",
    "check_avg_pool2d_backward",
    "check_avg_pool2d_forward",
    "check_conv1x1_is_linear",
    "CONV_FUNCTIONS",
    "POOL_FUNCTIONS",
    "case_functions",
    "check_contract",
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
    "compare_with_reference",
    "contract_arguments",
    "pool_gradient_sum_applies",
]


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
    with np.errstate(invalid="ignore"):  # inf - inf is NaN: handled below
        error = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    if bound is None:
        tolerance = np.zeros_like(error)
    else:
        eps = np.finfo(np.dtype(dtype) if dtype is not None else actual.dtype).eps
        bound = np.broadcast_to(np.asarray(bound, np.float64), error.shape)
        # where Σ|terms| is not finite (NaN or inf among the terms) only equality will do
        tolerance = np.where(np.isfinite(bound), ROUNDING_ULPS * eps * bound, 0.0)
    # Equal values agree even where they are not finite (inf = inf, NaN = NaN: non-finite
    # values must propagate as in PyTorch); any other NaN or inf in the error counts as wrong.
    same = (actual == expected) | (np.isnan(actual.astype(np.float64))
                                   & np.isnan(expected.astype(np.float64)))
    wrong = ~(same | (error <= tolerance))
    if wrong.any():
        ranked = np.where(wrong, np.where(np.isnan(error), np.inf, error), -1.0)
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
    if not isinstance(out, np.ndarray):
        raise AssertionError(f"{name} returned {type(out).__name__}, not a NumPy array. "
                             f"{_describe(cfg)}")
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

#: The contract functions a conv case exercises, and those a pool case does.
CONV_FUNCTIONS = ("conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight")
POOL_FUNCTIONS = ("max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward",
                  "avg_pool2d_backward")


def case_functions(case: ConvCase | PoolCase) -> tuple[str, ...]:
    """The contract functions that can run on ``case`` (average pooling has no dilation)."""
    if isinstance(case, ConvCase):
        return CONV_FUNCTIONS
    if case.config.dilation != (1, 1):
        return POOL_FUNCTIONS[:2]
    return POOL_FUNCTIONS


def contract_arguments(name: str, case: ConvCase | PoolCase) -> tuple[tuple, dict, tuple]:
    """``(args, kwargs, shape)``: how to call contract function ``name`` on ``case``, and the
    shape it must return (for ``max_pool2d_forward``, the shape of both ``y`` and ``indices``).

    ``max_pool2d_backward`` gets the oracle's indices, so that a forward bug does not show here.
    """
    cfg = case.config
    if name == "conv2d_forward":
        return (case.x, case.w), cfg.conv_kwargs, cfg.y_shape
    if name == "conv2d_backward_input":
        return (case.grad_y, case.w, cfg.x_shape), cfg.conv_kwargs, cfg.x_shape
    if name == "conv2d_backward_weight":
        return (case.x, case.grad_y, cfg.w_shape), cfg.conv_kwargs, cfg.w_shape
    if name == "max_pool2d_forward":
        return (case.x,), cfg.max_pool_kwargs, cfg.y_shape
    if name == "max_pool2d_backward":
        _, indices = expected_max_pool2d_forward(case.x, **cfg.max_pool_kwargs)
        return (case.grad_y, indices, cfg.x_shape), {}, cfg.x_shape
    if name == "avg_pool2d_forward":
        return (case.x,), cfg.avg_pool_kwargs, cfg.y_shape
    if name == "avg_pool2d_backward":
        return (case.grad_y, cfg.x_shape), cfg.avg_pool_kwargs, cfg.x_shape
    raise ValueError(f"contract_arguments: unknown contract function {name!r}; expected one of "
                     f"{list(CONTRACT_FUNCTIONS)}")


def _absolute(args: tuple) -> tuple:
    """The float arrays of ``args`` made non-negative (for ``Σ|terms|``); the rest unchanged."""
    return tuple(np.abs(a) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
                 for a in args)


def compare_with_reference(name: str, ref, args: tuple, kwargs: dict, received) -> None:
    """Raise ``AssertionError`` unless ``received`` is what ``ref.<name>(*args, **kwargs)``
    returns, up to rounding (``max_pool2d_forward``: values and indices, exactly)."""
    expected = getattr(ref, name)(*args, **kwargs)
    if name == "max_pool2d_forward":
        if not (isinstance(received, tuple) and len(received) == 2):
            raise AssertionError(f"{name} must return a pair (y, indices), got "
                                 f"{type(received).__name__}")
        assert_close(received[0], expected[0], what=f"{name} values differ from the reference")
        assert_close(received[1], expected[1], what=f"{name} indices differ from the reference")
        return
    bound = getattr(ref, name)(*_absolute(args), **kwargs)  # Σ|terms|, for the rounding tolerance
    dtype = next(a.dtype for a in args if isinstance(a, np.ndarray) and a.dtype.kind == "f")
    assert_close(received, np.asarray(expected, np.float64), bound=bound, dtype=dtype,
                 what=f"{name} differs from the reference")


def check_matches_reference(impl, ref, case: ConvCase | PoolCase) -> None:
    """Every kernel of ``impl`` that can run on ``case`` returns what the same kernel of ``ref``
    returns (:func:`case_functions`; float results up to rounding, bounded by ``ref`` on absolute
    values; max pooling's indices exactly).

    With NaN or ±inf among the inputs this is how non-finite values are checked: the reference
    kernels propagate them as PyTorch does (a product with NaN or ``inf · 0`` is NaN, a window
    holding NaN pools to NaN at its last NaN).
    """
    for name in case_functions(case):
        args, kwargs, _ = contract_arguments(name, case)
        try:
            compare_with_reference(name, ref, args, kwargs, getattr(impl, name)(*args, **kwargs))
        except AssertionError as error:
            raise AssertionError(f"{error} {_describe(case.config)}") from None


def check_contract(impl, name: str, case: ConvCase | PoolCase) -> None:
    """Contract function ``name`` of ``impl`` returns, on ``case``, NumPy arrays of the shape the
    output-size formula gives, in the input dtype (int64 indices for max pooling), freshly
    allocated (no view of an input).

    (That it leaves its inputs unmodified is checked by ``tinyconv.testing.grading``, which
    watches every call a check makes.)
    """
    args, kwargs, shape = contract_arguments(name, case)
    out = getattr(impl, name)(*args, **kwargs)
    dtype = case.config.dtype
    inputs = tuple(a for a in args if isinstance(a, np.ndarray))
    if name == "max_pool2d_forward":
        if not (isinstance(out, tuple) and len(out) == 2):
            raise AssertionError(f"{name} must return a pair (y, indices), got "
                                 f"{type(out).__name__}")
        _check_output(f"{name} (values)", out[0], shape, dtype, inputs, case.config)
        _check_output(f"{name} (indices)", out[1], shape, np.int64, inputs, case.config)
        return
    _check_output(name, out, shape, dtype, inputs, case.config)
