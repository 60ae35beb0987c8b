"""The catalogue of identities: each check of :mod:`tinyconv.testing.checks` with its name, its
statement, the contract functions it calls, where a course explains it, and the hypothesis
strategy that draws its arguments within given bounds.

The identities (``Y = X ⋆ W`` cross-correlation, ``δ = ∂L/∂Y``; see ``docs/identities.md``):

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
- ``matches_reference``: same outputs as a reference kernel set;
- ``conv2d_non_finite``, ``pool2d_non_finite``: NaN and ±inf propagate as in PyTorch (compared
  with the reference kernels, which do).

:class:`Bounds` holds the keyword arguments of :func:`~tinyconv.testing.strategies.conv2d_configs`
and :func:`~tinyconv.testing.strategies.pool2d_configs`; every identity draws its problems within
them, so a course can grade with 11×11 kernels and strides larger than the kernel, or keep to
small problems. Running identities is :mod:`tinyconv.testing.grading`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import strategies as st

from tinyconv.testing import checks
from tinyconv.testing.strategies import (
    DTYPES,
    conv2d_cases,
    float_arrays,
    non_finite_cases,
    pool2d_cases,
)

__all__ = ["IDENTITIES", "IDENTITY_NAMES", "Bounds", "Identity"]


@dataclass(frozen=True)
class Bounds:
    """Bounds of the drawn problems: ``conv`` are keyword arguments of ``conv2d_configs`` (and so
    of ``conv2d_cases``), ``pool`` of ``pool2d_configs``. Empty means the strategies' defaults
    (small: N <= 2, C <= 4, H, W <= 10, k <= 4)."""

    conv: dict = field(default_factory=dict)
    pool: dict = field(default_factory=dict)

    def with_conv(self, **changes) -> Bounds:
        """A copy with the conv bounds in ``changes`` replaced."""
        return Bounds(conv={**self.conv, **changes}, pool=self.pool)

    def with_pool(self, **changes) -> Bounds:
        """A copy with the pool bounds in ``changes`` replaced."""
        return Bounds(conv=self.conv, pool={**self.pool, **changes})


@dataclass(frozen=True)
class Identity:
    """One identity.

    ``check(impl, *arguments)`` (``check(impl, reference, *arguments)`` when
    ``needs_reference``) raises ``AssertionError`` when it does not hold; ``arguments(bounds)`` is
    the hypothesis strategy of the ``arguments`` tuple; ``statement`` is the identity in one line;
    ``functions`` are the contract functions the check calls (a failure is blamed on one of them);
    ``tutorial`` says where a course explains it.
    """

    name: str
    check: Callable
    arguments: Callable[[Bounds], st.SearchStrategy]
    statement: str
    functions: tuple[str, ...]
    tutorial: str
    needs_reference: bool = False


# ------------------------------------------------------------------------------------------------
# The argument strategies
# ------------------------------------------------------------------------------------------------

def _conv_cases(bounds: Bounds, **changes) -> st.SearchStrategy:
    return conv2d_cases(**{**bounds.conv, **changes}).map(lambda case: (case,))


def _pool_cases(bounds: Bounds, **changes) -> st.SearchStrategy:
    return pool2d_cases(**{**bounds.pool, **changes}).map(lambda case: (case,))


def _avg_pool_cases(bounds: Bounds) -> st.SearchStrategy:
    return _pool_cases(bounds, allow_dilation=False)


def _gradient_sum_cases(bounds: Bounds) -> st.SearchStrategy:
    return pool2d_cases(**{**bounds.pool, "allow_dilation": False}).filter(
        lambda case: checks.pool_gradient_sum_applies(case.config)).map(lambda case: (case,))


def _any_cases(bounds: Bounds) -> st.SearchStrategy:
    return st.one_of(_conv_cases(bounds), _pool_cases(bounds))


def _non_finite_conv(bounds: Bounds) -> st.SearchStrategy:
    return non_finite_cases(conv2d_cases(**bounds.conv)).map(lambda case: (case,))


def _non_finite_pool(bounds: Bounds) -> st.SearchStrategy:
    return non_finite_cases(pool2d_cases(**bounds.pool)).map(lambda case: (case,))


def _dtypes(bounds: Bounds) -> st.SearchStrategy:
    return st.sampled_from(bounds.conv.get("dtypes", DTYPES))


@st.composite
def _two_images(draw, bounds: Bounds):
    """``(a, b)``: two 2-D arrays of one dtype, any sizes up to 5 (or the kernel bound)."""
    dtype = draw(_dtypes(bounds))
    largest = max(5, min(bounds.conv.get("max_kernel", 4), 11))
    shape = st.tuples(st.integers(1, largest), st.integers(1, largest))
    return draw(float_arrays(draw(shape), dtype)), draw(float_arrays(draw(shape), dtype))


@st.composite
def _image_and_kernel(draw, bounds: Bounds):
    """``(image, kernel)``: 2-D arrays with the kernel no larger than the image."""
    dtype = draw(_dtypes(bounds))
    max_size = bounds.conv.get("max_size", 8)
    max_kernel = bounds.conv.get("max_kernel", 4)
    h, w = draw(st.integers(1, max_size)), draw(st.integers(1, max_size))
    kh, kw = draw(st.integers(1, min(h, max_kernel))), draw(st.integers(1, min(w, max_kernel)))
    return draw(float_arrays((h, w), dtype)), draw(float_arrays((kh, kw), dtype))


_COEFFICIENTS = st.integers(-3, 3).map(float)


@st.composite
def _linearity_in_input_arguments(draw, bounds: Bounds):
    (case,) = draw(_conv_cases(bounds))
    x2 = draw(float_arrays(case.config.x_shape, case.config.dtype))
    return case, x2, draw(_COEFFICIENTS), draw(_COEFFICIENTS)


@st.composite
def _linearity_in_weight_arguments(draw, bounds: Bounds):
    (case,) = draw(_conv_cases(bounds))
    w2 = draw(float_arrays(case.config.w_shape, case.config.dtype))
    return case, w2, draw(_COEFFICIENTS), draw(_COEFFICIENTS)


@st.composite
def _translation_arguments(draw, bounds: Bounds):
    (case,) = draw(_conv_cases(bounds, max_stride=1, stride_within_kernel=False))
    return case, draw(st.tuples(st.integers(0, 3), st.integers(0, 3)))


@st.composite
def _conv1x1_arguments(draw, bounds: Bounds):
    dtype = draw(_dtypes(bounds))
    n = draw(st.integers(1, bounds.conv.get("max_batch", 2)))
    channels = st.integers(1, bounds.conv.get("max_channels", 4))
    c_in, c_out = draw(channels), draw(channels)
    sides = st.integers(1, min(bounds.conv.get("max_size", 6), 8))
    h, w = draw(sides), draw(sides)
    return draw(float_arrays((n, c_in, h, w), dtype)), draw(float_arrays((c_out, c_in), dtype))


@st.composite
def _depthwise_arguments(draw, bounds: Bounds):
    (case,) = draw(_conv_cases(bounds, depthwise=True))
    c_out = draw(st.integers(1, 4))
    return case, draw(float_arrays((c_out, case.config.c_in), case.config.dtype))


@st.composite
def _receptive_field_arguments(draw, bounds: Bounds):
    dtype = draw(_dtypes(bounds))
    n, c_in, c_mid, c_out = (draw(st.integers(1, k)) for k in (2, 3, 3, 3))
    h, w = draw(st.integers(5, 9)), draw(st.integers(5, 9))
    w1 = draw(float_arrays((c_mid, c_in, 3, 3), dtype, positive=True))
    w2 = draw(float_arrays((c_out, c_mid, 3, 3), dtype, positive=True))
    return (n, c_in, h, w), w1, w2, draw(st.integers(0, h - 5)), draw(st.integers(0, w - 5))


# ------------------------------------------------------------------------------------------------
# The catalogue
# ------------------------------------------------------------------------------------------------

_FORWARD = ("conv2d_forward",)
_INPUT_GRADIENT = ("conv2d_backward_input",)
_CONV = checks.CONV_FUNCTIONS
_POOL = checks.POOL_FUNCTIONS
_T01 = "tutorials/01_cross_correlation.py"
_T02 = "tutorials/02_conv_layer.py"
_T03 = "tutorials/03_backward.py"
_T04 = "tutorials/04_pooling_and_activations.py"
_T07 = "tutorials/07_architectures_and_transfer.py"

IDENTITIES: dict[str, Identity] = {identity.name: identity for identity in [
    Identity("conv2d_forward", checks.check_conv2d_forward, _conv_cases, "Y = X ⋆ W", _FORWARD,
             f"{_T02} §2 Padding and stride, §3 Several input channels, §5 Groups"),
    Identity("conv2d_output_shapes", checks.check_conv2d_output_shapes, _conv_cases,
             "H_out = floor((H + p_t + p_b - d(k-1) - 1) / s) + 1; dtype kept; fresh outputs",
             _CONV, f"{_T01} §4 The output-size formula"),
    Identity("weight_gradient", checks.check_weight_gradient, _conv_cases, "∂L/∂W = X ⋆ δ",
             ("conv2d_backward_weight",),
             f"{_T03} §2 The weight gradient, §4 With a stride: dilate δ"),
    Identity("input_gradient", checks.check_input_gradient, _conv_cases,
             "∂L/∂X = full_conv(δ, W) = full_corr(δ, rot180(W))", _INPUT_GRADIENT,
             f"{_T03} §3 The input gradient, §4 With a stride, §5 With padding: crop"),
    Identity("full_convolution_commutes", checks.check_full_convolution_commutes, _two_images,
             "full_conv(a, b) = full_conv(b, a)", _INPUT_GRADIENT,
             f"{_T01} §2 Convolution is correlation with the kernel turned by 180°"),
    Identity("convolution_is_correlation_with_rotated_kernel",
             checks.check_convolution_is_correlation_with_rotated_kernel, _image_and_kernel,
             "a * k = a ⋆ rot180(k)", ("conv2d_backward_input", "conv2d_forward"),
             f"{_T01} §2 Convolution is correlation with the kernel turned by 180°"),
    Identity("adjoint_input", checks.check_adjoint_input, _conv_cases,
             "<X ⋆ W, Y> = <X, conv_transpose(Y, W)>", ("conv2d_forward", "conv2d_backward_input"),
             f"{_T03} §3 The input gradient: a full convolution with W"),
    Identity("adjoint_weight", checks.check_adjoint_weight, _conv_cases,
             "<X ⋆ W, Y> = <W, X ⋆ Y>", ("conv2d_forward", "conv2d_backward_weight"),
             f"{_T03} §2 The weight gradient"),
    Identity("linearity_in_input", checks.check_linearity_in_input,
             _linearity_in_input_arguments, "(a X1 + b X2) ⋆ W = a X1 ⋆ W + b X2 ⋆ W", _FORWARD,
             f"{_T01} §1 One output value, by hand"),
    Identity("linearity_in_weight", checks.check_linearity_in_weight,
             _linearity_in_weight_arguments, "X ⋆ (a W1 + b W2) = a X ⋆ W1 + b X ⋆ W2", _FORWARD,
             f"{_T01} §1 One output value, by hand"),
    Identity("translation_equivariance", checks.check_translation_equivariance,
             _translation_arguments, "shift(X) ⋆ W = shift(X ⋆ W) at stride 1, away from borders",
             _FORWARD, f"{_T02} §1 Local connectivity and weight sharing"),
    Identity("conv1x1_is_linear", checks.check_conv1x1_is_linear, _conv1x1_arguments,
             "1×1 conv = matrix product over channels at every pixel", _FORWARD,
             f"{_T02} §4 A 1×1 convolution is a Linear layer at every pixel"),
    Identity("depthwise_separable", checks.check_depthwise_separable, _depthwise_arguments,
             "grouped conv (groups=C) + 1×1 conv = per-channel convs mixed by a matrix", _FORWARD,
             f"{_T02} §5 Groups, depthwise and depthwise-separable convolutions"),
    Identity("stacked_3x3_receptive_field", checks.check_stacked_3x3_receptive_field,
             _receptive_field_arguments, "two stacked 3×3 convs see exactly a 5×5 field",
             _INPUT_GRADIENT, f"{_T07} §2 VGG: two 3×3 convolutions see a 5×5 field"),
    Identity("pool2d_output_shapes", checks.check_pool2d_output_shapes, _pool_cases,
             "pooling output size: floor or ceil rule", _POOL, f"{_T04} §1 Max pooling"),
    Identity("max_pool2d_forward", checks.check_max_pool2d_forward, _pool_cases,
             "window max; argmax = first index on ties", ("max_pool2d_forward",),
             f"{_T04} §1 Max pooling"),
    Identity("max_pool2d_backward", checks.check_max_pool2d_backward, _pool_cases,
             "δ routed to the argmax", ("max_pool2d_backward",),
             f"{_T03} §8 Pooling backward is upsampling"),
    Identity("avg_pool2d_forward", checks.check_avg_pool2d_forward, _avg_pool_cases,
             "window sum / divisor", ("avg_pool2d_forward",),
             f"{_T04} §2 Average pooling and global average pooling"),
    Identity("avg_pool2d_backward", checks.check_avg_pool2d_backward, _avg_pool_cases,
             "δ / divisor spread over each window", ("avg_pool2d_backward",),
             f"{_T03} §8 Pooling backward is upsampling"),
    Identity("pool2d_gradient_sum", checks.check_pool2d_gradient_sum, _gradient_sum_cases,
             "Σ grad_x = Σ δ per plane",
             ("max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_backward"),
             f"{_T03} §8 Pooling backward is upsampling"),
    Identity("matches_reference", checks.check_matches_reference, _any_cases,
             "same outputs as the reference kernels", _CONV + _POOL,
             "kernels/reference.py", needs_reference=True),
    Identity("conv2d_non_finite", checks.check_matches_reference, _non_finite_conv,
             "NaN and ±inf in x or δ propagate as in PyTorch (inf·0 = NaN, NaN wins)", _CONV,
             f"{_T02} §6 Reading the kernels", needs_reference=True),
    Identity("pool2d_non_finite", checks.check_matches_reference, _non_finite_pool,
             "NaN and ±inf propagate as in PyTorch (a window holding NaN pools to NaN)", _POOL,
             f"{_T04} §1 Max pooling", needs_reference=True),
]}

#: Every identity's name, in the order above (the last three compare with a reference).
IDENTITY_NAMES = tuple(IDENTITIES)
