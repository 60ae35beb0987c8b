"""Hypothesis strategies that draw *valid* convolution and pooling problems for the kernel contract.

A convolution or pooling kernel has many knobs (batch, channels, groups, kernel size, stride,
per-side padding, dilation, image size, dtype, and for pooling ``ceil_mode`` and
``count_include_pad``). The identities in :mod:`tinyconv.testing.identities` hold for *every*
valid combination, so instead of a handful of hand-picked examples we let hypothesis draw them,
and, when a check fails, shrink the failure to the smallest problem that still fails.

Three layers, each usable on its own::

    conv2d_configs(...)  -> ConvConfig   the hyper-parameters and shapes (no arrays)
    arrays_for(config)   -> ConvArrays   x, w and grad_y (δ) with the config's shapes and dtype
    conv2d_cases(...)    -> ConvCase     both at once: config + arrays

and the same for pooling (``pool2d_configs``, ``PoolConfig``, ``PoolArrays``, ``pool2d_cases``).

Example (a property of your own)::

    from hypothesis import given
    from tinyconv.testing.strategies import conv2d_cases

    @given(conv2d_cases(max_channels=2, allow_groups=False))
    def test_forward_shape(case):
        y = my_kernels.conv2d_forward(case.x, case.w, **case.config.conv_kwargs)
        assert y.shape == case.config.y_shape

Values. Arrays hold small integers (``|v| <= 4``, shrinking towards ``{-1, 0, 1}``) or uniform
floats in the same range. With integer values every sum a small convolution computes is an exact
float32 number, so a correct kernel matches the oracle *exactly* whatever its summation order,
and small integers make ties in max pooling common (ties are where pooling bugs hide).
The arrays come from a NumPy generator seeded by hypothesis, so every example is reproducible.

Layouts. The contract says inputs "may be non-contiguous". Each array is drawn in one of four
memory layouts holding the same values: C-contiguous; ``"transposed"`` (a transposed copy
transposed back: Fortran order); ``"strided"`` (every other element of a bigger array whose other
elements are NaN, so a kernel that ignores strides reads NaN and fails loudly); ``"reversed"``
(negative strides along the last axis). Kernels must give the same answer for all four.

Default sizes are small (N <= 2, C <= 4, H, W <= 10, k <= 4) so that the pure-NumPy reference
kernels and the loop oracles stay fast.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from tinyconv.kernels.contract import check_pool2d, conv_output_size, pool_output_size

__all__ = [
    "DTYPES",
    "LAYOUTS",
    "NON_FINITE",
    "ConvArrays",
    "ConvCase",
    "ConvConfig",
    "PoolArrays",
    "PoolCase",
    "PoolConfig",
    "arrays_for",
    "conv2d_cases",
    "conv2d_configs",
    "float_arrays",
    "non_finite_cases",
    "pool2d_cases",
    "pool2d_configs",
    "with_layout",
]

Pair = tuple[int, int]
Padding4 = tuple[int, int, int, int]

DTYPES = ("float32", "float64")
LAYOUTS = ("contiguous", "transposed", "strided", "reversed")


# ------------------------------------------------------------------------------------------------
# Configurations
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConvConfig:
    """One valid conv2d problem: every hyper-parameter and the input size, no arrays.

    Shapes (properties): ``x_shape = (batch, c_in, height, width)``,
    ``w_shape = (c_out, c_in // groups, kH, kW)``, ``y_shape = (batch, c_out, H_out, W_out)`` with
    ``H_out = floor((H + top + bottom - dH*(kH-1) - 1) / sH) + 1`` (>= 1 by construction).
    ``conv_kwargs`` are the keyword arguments every conv kernel of the contract takes.
    """

    batch: int
    c_in: int
    c_out: int
    groups: int
    kernel: Pair          # (kH, kW)
    stride: Pair          # (sH, sW)
    padding: Padding4     # (top, bottom, left, right)
    dilation: Pair        # (dH, dW)
    height: int
    width: int
    dtype: str = "float32"

    @property
    def x_shape(self) -> tuple[int, int, int, int]:
        return (self.batch, self.c_in, self.height, self.width)

    @property
    def w_shape(self) -> tuple[int, int, int, int]:
        return (self.c_out, self.c_in // self.groups, *self.kernel)

    @property
    def y_shape(self) -> tuple[int, int, int, int]:
        top, bottom, left, right = self.padding
        h_out = conv_output_size(self.height, self.kernel[0], self.stride[0], top, bottom,
                                 self.dilation[0])
        w_out = conv_output_size(self.width, self.kernel[1], self.stride[1], left, right,
                                 self.dilation[1])
        return (self.batch, self.c_out, h_out, w_out)

    @property
    def conv_kwargs(self) -> dict:
        """``stride``, ``padding``, ``dilation``, ``groups`` as the kernels take them."""
        return {"stride": self.stride, "padding": self.padding, "dilation": self.dilation,
                "groups": self.groups}

    @property
    def options(self) -> tuple:
        """``(stride, padding, dilation, groups)``: the same, positional, in the contract's order
        (``conv2d_forward(x, w, *config.options)``)."""
        return (self.stride, self.padding, self.dilation, self.groups)


@dataclass(frozen=True)
class PoolConfig:
    """One valid pooling problem (max or average).

    ``x_shape = (batch, channels, height, width)``; ``y_shape`` follows PyTorch's rule
    (:func:`tinyconv.kernels.contract.pool_output_size`, with ``ceil_mode``). Padding on each side
    is at most ``k // 2`` and every window holds at least one real input element.
    ``dilation`` is used by max pooling only: average pooling has none (draw average-pooling
    configs with ``allow_dilation=False``). ``count_include_pad`` is used by average pooling only.
    """

    batch: int
    channels: int
    kernel: Pair
    stride: Pair
    padding: Padding4
    dilation: Pair
    height: int
    width: int
    ceil_mode: bool = False
    count_include_pad: bool = True
    dtype: str = "float32"

    @property
    def x_shape(self) -> tuple[int, int, int, int]:
        return (self.batch, self.channels, self.height, self.width)

    @property
    def y_shape(self) -> tuple[int, int, int, int]:
        top, bottom, left, right = self.padding
        h_out = pool_output_size(self.height, self.kernel[0], self.stride[0], top, bottom,
                                 self.dilation[0], self.ceil_mode)
        w_out = pool_output_size(self.width, self.kernel[1], self.stride[1], left, right,
                                 self.dilation[1], self.ceil_mode)
        return (self.batch, self.channels, h_out, w_out)

    @property
    def max_pool_kwargs(self) -> dict:
        """Keyword arguments of ``max_pool2d_forward`` (after ``x``)."""
        return {"kernel": self.kernel, "stride": self.stride, "padding": self.padding,
                "dilation": self.dilation, "ceil_mode": self.ceil_mode}

    @property
    def avg_pool_kwargs(self) -> dict:
        """Keyword arguments of ``avg_pool2d_forward`` and ``avg_pool2d_backward`` (after ``x``,
        or ``grad_y, x_shape``)."""
        if self.dilation != (1, 1):
            raise ValueError(f"average pooling has no dilation, but this config has "
                             f"dilation={self.dilation}; draw it with allow_dilation=False")
        return {"kernel": self.kernel, "stride": self.stride, "padding": self.padding,
                "ceil_mode": self.ceil_mode, "count_include_pad": self.count_include_pad}


def _pairs(low: int, high: int) -> st.SearchStrategy[Pair]:
    return st.tuples(st.integers(low, high), st.integers(low, high))


def _draw_stride(draw, kernel: Pair, max_stride: int, within_kernel: bool) -> Pair:
    """A stride per axis in ``[1, max_stride]`` (``within_kernel``: at most that axis's kernel)."""
    return tuple(draw(st.integers(1, min(max_stride, k) if within_kernel else max_stride))
                 for k in kernel)


def _input_size(draw, kernel: Pair, dilation: Pair, padding: Padding4, max_size: int,
                square: bool) -> Pair:
    """``(H, W)`` such that the dilated kernel fits the padded input along both axes
    (``square``: one length for both, large enough for either axis)."""
    span_h = dilation[0] * (kernel[0] - 1) + 1
    span_w = dilation[1] * (kernel[1] - 1) + 1
    if square:
        side = _input_length(draw, max(span_h - padding[0] - padding[1],
                                       span_w - padding[2] - padding[3]), 0, 0, max_size)
        return side, side
    return (_input_length(draw, span_h, padding[0], padding[1], max_size),
            _input_length(draw, span_w, padding[2], padding[3], max_size))


def _input_length(draw, span: int, pad_before: int, pad_after: int, max_size: int) -> int:
    """An input length ``n <= max_size`` such that a window of extent ``span`` fits the padded
    input.

    ``n + pad_before + pad_after >= span`` makes the output length at least 1.
    """
    smallest = max(1, span - pad_before - pad_after)
    return draw(st.integers(smallest, max(smallest, max_size)))


@st.composite
def conv2d_configs(draw, *, max_batch: int = 2, max_channels: int = 4, max_size: int = 10,
                   max_kernel: int = 4, max_stride: int = 3, max_padding: int = 2,
                   max_dilation: int = 2, allow_groups: bool = True, allow_padding: bool = True,
                   allow_dilation: bool = True, depthwise: bool = False,
                   kernel_sizes: tuple[Pair, ...] | None = None,
                   dtypes: tuple[str, ...] = DTYPES, square: bool = False,
                   stride_within_kernel: bool = False) -> ConvConfig:
    """Draw a valid :class:`ConvConfig` (the output is never empty).

    Keyword bounds (all inclusive): ``max_batch``, ``max_channels`` (for C_in and C_out),
    ``max_size`` (H, W), ``max_kernel`` (kH, kW), ``max_stride``, ``max_padding`` (each side),
    ``max_dilation``. ``allow_groups=False`` fixes ``groups=1``; ``allow_padding=False`` fixes zero
    padding; ``allow_dilation=False`` fixes dilation 1; ``depthwise=True`` draws a depthwise
    convolution (``groups = C_in = C_out``). ``kernel_sizes``, e.g. ``((3, 3), (5, 5))``, draws
    the kernel from that list instead (to aim at a kernel written for those sizes; each must fit
    ``max_size``). ``dtypes`` is the tuple of dtype names to draw from. ``square=True`` draws
    ``H = W`` only; ``stride_within_kernel=True`` keeps each stride at most the kernel size (no
    input rows or columns skipped between windows). The last two exist to ask "does it still fail
    without this?" of a failing kernel (``tinyconv.testing.grading``).

    The dilated kernel extent ``d*(k-1)+1`` is kept <= ``max_size``, and H, W are drawn at least as
    large as that extent minus the padding, so every drawn configuration passes the contract's
    ``check_conv2d``. Everything shrinks towards 1 (sizes, strides, dilations) and 0 (padding).
    """
    if depthwise:
        groups = draw(st.integers(1, max_channels))
        c_in = c_out = groups
    else:
        groups = draw(st.integers(1, max_channels)) if allow_groups else 1
        c_in = groups * draw(st.integers(1, max_channels // groups))
        c_out = groups * draw(st.integers(1, max_channels // groups))
    batch = draw(st.integers(1, max_batch))
    if kernel_sizes is None:
        kernel = draw(_pairs(1, min(max_kernel, max_size)))
    else:
        kernel = tuple(draw(st.sampled_from(kernel_sizes)))
    stride = _draw_stride(draw, kernel, max_stride, stride_within_kernel)
    if allow_padding:
        padding = draw(st.tuples(*[st.integers(0, max_padding)] * 4))
    else:
        padding = (0, 0, 0, 0)
    dilation = []
    for k in kernel:
        # Keep the dilated extent d*(k-1)+1 within max_size.
        largest = max_dilation if (allow_dilation and k > 1) else 1
        largest = min(largest, (max_size - 1) // (k - 1)) if k > 1 else 1
        dilation.append(draw(st.integers(1, max(1, largest))))
    height, width = _input_size(draw, kernel, dilation, padding, max_size, square)
    dtype = draw(st.sampled_from(dtypes))
    return ConvConfig(batch=batch, c_in=c_in, c_out=c_out, groups=groups, kernel=kernel,
                      stride=stride, padding=padding, dilation=tuple(dilation), height=height,
                      width=width, dtype=dtype)


def _valid_pool_config(config: PoolConfig) -> bool:
    """Whether the contract accepts the configuration (it rejects windows that see no input)."""
    try:
        check_pool2d("pool2d_configs", config.x_shape, config.kernel, config.stride,
                     config.padding, config.dilation, config.ceil_mode)
    except ValueError:
        return False
    return True


@st.composite
def _pool2d_config_candidates(draw, *, max_batch, max_channels, max_size, max_kernel, max_stride,
                              max_dilation, allow_padding, allow_dilation, allow_ceil_mode,
                              kernel_sizes, dtypes, square, stride_within_kernel) -> PoolConfig:
    batch = draw(st.integers(1, max_batch))
    channels = draw(st.integers(1, max_channels))
    if kernel_sizes is None:
        kernel = draw(_pairs(1, min(max_kernel, max_size)))
    else:
        kernel = tuple(draw(st.sampled_from(kernel_sizes)))
    stride = _draw_stride(draw, kernel, max_stride, stride_within_kernel)
    if allow_padding:  # at most half the window on each side, as in PyTorch
        kh, kw = kernel
        padding = draw(st.tuples(st.integers(0, kh // 2), st.integers(0, kh // 2),
                                 st.integers(0, kw // 2), st.integers(0, kw // 2)))
    else:
        padding = (0, 0, 0, 0)
    dilation = []
    for k in kernel:
        largest = min(max_dilation, (max_size - 1) // (k - 1)) if (allow_dilation and k > 1) else 1
        dilation.append(draw(st.integers(1, max(1, largest))))
    height, width = _input_size(draw, kernel, dilation, padding, max_size, square)
    ceil_mode = draw(st.booleans()) if allow_ceil_mode else False
    count_include_pad = draw(st.booleans())
    dtype = draw(st.sampled_from(dtypes))
    return PoolConfig(batch=batch, channels=channels, kernel=kernel, stride=stride,
                      padding=padding, dilation=tuple(dilation), height=height, width=width,
                      ceil_mode=ceil_mode, count_include_pad=count_include_pad, dtype=dtype)


def pool2d_configs(*, max_batch: int = 2, max_channels: int = 4, max_size: int = 10,
                   max_kernel: int = 4, max_stride: int = 3, max_dilation: int = 2,
                   allow_padding: bool = True, allow_dilation: bool = True,
                   allow_ceil_mode: bool = True, non_overlapping: bool = False,
                   kernel_sizes: tuple[Pair, ...] | None = None,
                   dtypes: tuple[str, ...] = DTYPES, square: bool = False,
                   stride_within_kernel: bool = False) -> st.SearchStrategy[PoolConfig]:
    """Draw a valid :class:`PoolConfig` for max or average pooling.

    Keyword bounds as in :func:`conv2d_configs` (``kernel_sizes`` too: e.g. ``((2, 2),)`` with
    ``non_overlapping=True, max_stride=2`` draws only 2×2 windows of stride 2; ``square`` and
    ``stride_within_kernel`` too). Padding on each
    side is drawn in ``[0, k // 2]``.
    Use ``allow_dilation=False`` for average pooling (it has no dilation).
    ``non_overlapping=True`` draws windows that tile the input without overlap or padding
    (stride >= kernel, no padding, no dilation): each input element is in at most one window.

    Only configurations the contract's ``check_pool2d`` accepts are returned (with dilation, a
    window could otherwise fall entirely into padding; those draws are filtered out).
    """
    candidates = _pool2d_config_candidates(
        max_batch=max_batch, max_channels=max_channels, max_size=max_size, max_kernel=max_kernel,
        max_stride=max_stride, max_dilation=max_dilation,
        allow_padding=allow_padding and not non_overlapping,
        allow_dilation=allow_dilation and not non_overlapping,
        allow_ceil_mode=allow_ceil_mode, kernel_sizes=kernel_sizes, dtypes=dtypes, square=square,
        stride_within_kernel=stride_within_kernel)
    if non_overlapping:
        candidates = candidates.filter(lambda c: c.stride[0] >= c.kernel[0]
                                       and c.stride[1] >= c.kernel[1])
    return candidates.filter(_valid_pool_config)


# ------------------------------------------------------------------------------------------------
# Arrays
# ------------------------------------------------------------------------------------------------

def with_layout(array: np.ndarray, layout: str) -> np.ndarray:
    """The same values as ``array`` in another memory layout (see :data:`LAYOUTS`).

    - ``"contiguous"``: a C-contiguous copy;
    - ``"transposed"``: transpose, copy, transpose back: the values are unchanged, but the strides
      are those of Fortran order (the first axis varies fastest);
    - ``"strided"``: every other element (along every axis) of an array twice as large whose other
      elements are NaN (0 for an integer array, such as max pooling's indices): a view with
      strides twice the usual ones;
    - ``"reversed"``: the last axis stored backwards (a view with a negative stride).
    """
    if layout == "contiguous":
        return np.array(array, order="C")
    if layout == "transposed":
        return np.ascontiguousarray(array.T).T
    if layout == "strided":
        gap = np.nan if np.issubdtype(array.dtype, np.floating) else 0
        big = np.full(tuple(2 * n for n in array.shape), gap, dtype=array.dtype)
        every_other = (slice(None, None, 2),) * array.ndim
        big[every_other] = array
        return big[every_other]
    if layout == "reversed":
        return np.ascontiguousarray(array[..., ::-1])[..., ::-1]
    raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")


@st.composite
def float_arrays(draw, shape: tuple[int, ...], dtype: str = "float32", *, max_abs: int = 4,
                 integer_valued: bool | None = None, layouts: tuple[str, ...] = LAYOUTS,
                 positive: bool = False) -> np.ndarray:
    """Draw one float array of ``shape`` and ``dtype``.

    Values are integers in ``[-m, m]`` or uniform floats in ``[-m, m)``, where ``m`` is drawn in
    ``[1, max_abs]`` (shrinking towards 1). ``integer_valued=None`` draws either kind (shrinking
    towards integers); ``True``/``False`` forces one. ``positive=True`` maps every value ``v`` to
    ``1 + |v|`` (strictly positive). The layout is drawn from ``layouts`` (shrinking towards
    ``"contiguous"``, the first).
    """
    bound = draw(st.integers(1, max_abs))
    if integer_valued is None:
        kind = draw(st.sampled_from(["integers", "floats"]))
    else:
        kind = "integers" if integer_valued else "floats"
    seed = draw(st.integers(0, 2**32 - 1))
    layout = draw(st.sampled_from(layouts))
    rng = np.random.default_rng(seed)
    if kind == "integers":
        values = rng.integers(-bound, bound + 1, size=shape).astype(np.float64)
    else:
        values = rng.uniform(-bound, bound, size=shape)
    if positive:
        values = 1.0 + np.abs(values)
    return with_layout(values.astype(dtype), layout)


@dataclass(frozen=True)
class ConvArrays:
    """Arrays for one conv2d problem: input ``x``, weight ``w``, output gradient ``grad_y`` (δ)."""

    x: np.ndarray       # (N, C_in, H, W)
    w: np.ndarray       # (C_out, C_in // groups, kH, kW)
    grad_y: np.ndarray  # (N, C_out, H_out, W_out)


@dataclass(frozen=True)
class PoolArrays:
    """Arrays for one pooling problem: input ``x`` and output gradient ``grad_y`` (δ)."""

    x: np.ndarray       # (N, C, H, W)
    grad_y: np.ndarray  # (N, C, H_out, W_out)


def arrays_for(config, *, max_abs: int = 4, integer_valued: bool | None = None,
               layouts: tuple[str, ...] = LAYOUTS):
    """Strategy for the arrays of ``config``: :class:`ConvArrays` for a :class:`ConvConfig`,
    :class:`PoolArrays` for a :class:`PoolConfig`; shapes and dtype from the config.

    Each array is drawn independently by :func:`float_arrays` (values and layout), so x may be
    contiguous while w is strided, and so on. Use it inside ``@given`` with ``st.data()``::

        @given(conv2d_configs(), st.data())
        def test_something(config, data):
            arrays = data.draw(arrays_for(config))
    """
    def array(shape):
        return float_arrays(shape, config.dtype, max_abs=max_abs, integer_valued=integer_valued,
                            layouts=layouts)

    if isinstance(config, ConvConfig):
        return st.builds(ConvArrays, x=array(config.x_shape), w=array(config.w_shape),
                         grad_y=array(config.y_shape))
    if isinstance(config, PoolConfig):
        return st.builds(PoolArrays, x=array(config.x_shape), grad_y=array(config.y_shape))
    raise TypeError(f"arrays_for expects a ConvConfig or a PoolConfig, got {type(config).__name__}")


@dataclass(frozen=True)
class ConvCase:
    """A conv2d configuration together with its arrays (what most identities take)."""

    config: ConvConfig
    x: np.ndarray
    w: np.ndarray
    grad_y: np.ndarray

    @property
    def options(self) -> tuple:
        """``config.options``: ``(stride, padding, dilation, groups)`` in the contract's order."""
        return self.config.options

    @classmethod
    def from_arrays(cls, x: np.ndarray, w: np.ndarray, grad_y: np.ndarray, stride: Pair,
                    padding: Padding4, dilation: Pair, groups: int) -> ConvCase:
        """A hand-made case (a regression, a size no strategy draws): the config is read off
        the arrays' shapes and the options."""
        n, c_in, height, width = x.shape
        config = ConvConfig(batch=n, c_in=c_in, c_out=w.shape[0], groups=groups,
                            kernel=tuple(w.shape[2:]), stride=tuple(stride),
                            padding=tuple(padding), dilation=tuple(dilation), height=height,
                            width=width, dtype=str(x.dtype))
        if config.y_shape != grad_y.shape:
            raise ValueError(f"ConvCase.from_arrays: grad_y has shape {grad_y.shape}, but these "
                             f"arrays and options give an output of shape {config.y_shape}")
        return cls(config=config, x=x, w=w, grad_y=grad_y)


@dataclass(frozen=True)
class PoolCase:
    """A pooling configuration together with its arrays."""

    config: PoolConfig
    x: np.ndarray
    grad_y: np.ndarray


def conv2d_cases(*, max_abs: int = 4, integer_valued: bool | None = None,
                 layouts: tuple[str, ...] = LAYOUTS,
                 **config_bounds) -> st.SearchStrategy[ConvCase]:
    """Strategy for :class:`ConvCase`: a config from ``conv2d_configs(**config_bounds)`` and its
    arrays from :func:`arrays_for` (``max_abs``, ``integer_valued``, ``layouts`` go there)."""
    return conv2d_configs(**config_bounds).flatmap(
        lambda config: arrays_for(config, max_abs=max_abs, integer_valued=integer_valued,
                                  layouts=layouts).map(
            lambda a: ConvCase(config=config, x=a.x, w=a.w, grad_y=a.grad_y)))


def pool2d_cases(*, max_abs: int = 4, integer_valued: bool | None = None,
                 layouts: tuple[str, ...] = LAYOUTS,
                 **config_bounds) -> st.SearchStrategy[PoolCase]:
    """Strategy for :class:`PoolCase`: a config from ``pool2d_configs(**config_bounds)`` and its
    arrays from :func:`arrays_for`."""
    return pool2d_configs(**config_bounds).flatmap(
        lambda config: arrays_for(config, max_abs=max_abs, integer_valued=integer_valued,
                                  layouts=layouts).map(
            lambda a: PoolCase(config=config, x=a.x, grad_y=a.grad_y)))


NON_FINITE = (float("nan"), float("inf"), float("-inf"))


@st.composite
def _with_non_finite(draw, array: np.ndarray, max_count: int) -> np.ndarray:
    """A contiguous copy of ``array`` with 1 to ``max_count`` entries set to NaN, +inf or -inf."""
    out = np.array(array, order="C")
    flat = out.reshape(-1)
    positions = draw(st.lists(st.integers(0, flat.size - 1), min_size=1, max_size=max_count,
                              unique=True))
    for position in positions:
        flat[position] = draw(st.sampled_from(NON_FINITE))
    return out


@st.composite
def non_finite_cases(draw, cases: st.SearchStrategy, *, max_count: int = 2):
    """Cases from ``cases`` (:func:`conv2d_cases` or :func:`pool2d_cases`) whose input ``x`` and
    output gradient ``grad_y`` each hold 1 to ``max_count`` NaN or ±inf entries (the weights stay
    finite: a kernel is a parameter, the data is what goes bad). Shrinks towards one NaN at the
    first position."""
    case = draw(cases)
    x = draw(_with_non_finite(case.x, max_count))
    grad_y = draw(_with_non_finite(case.grad_y, max_count))
    return dataclasses.replace(case, x=x, grad_y=grad_y)
