"""Functions on tensors in PyTorch's ``torch.*`` spelling.

Two kinds:

- functions of several tensors: :func:`cat`, :func:`stack`, :func:`split`, :func:`where`,
  :func:`pad`;
- functional forms of Tensor methods: ``tc.exp(t)`` is ``t.exp()``, ``tc.sum(t, dim=1)`` is
  ``t.sum(dim=1)``. Each is written out (one line calling the method) so that it has a signature,
  a docstring and a place in tracebacks; the method holds the documentation of shapes.
"""

from __future__ import annotations

import builtins
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from tinyconv import ops
from tinyconv.autograd import check_same_device
from tinyconv.shapes import normalize_dim
from tinyconv.tensor import MinMax, Tensor, check_tensor

__all__ = [
    # several tensors
    "cat", "concat", "stack", "split", "chunk", "where", "pad",
    # elementwise
    "exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu", "clamp", "clip",
    "maximum", "minimum", "neg", "add", "sub", "mul", "div", "pow", "matmul",
    # reductions
    "sum", "mean", "var", "std", "amax", "amin", "max", "min", "argmax", "argmin", "logsumexp",
    # shapes
    "reshape", "transpose", "permute", "flatten", "squeeze", "unsqueeze",
    # comparisons
    "eq", "ne", "lt", "le", "gt", "ge", "allclose", "equal",
]

# ---------------------------------------------------------------------------------------------
# Functions of several tensors
# ---------------------------------------------------------------------------------------------


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing dimension: ``(2, 3), (4, 3) -> (6, 3)`` for ``dim=0``.

    All sizes except ``dim`` must match; dtypes are promoted to a common one.
    """
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"cat: expected a sequence of Tensors, item {i} is "
                            f"{type(t).__name__}")
    first = tensors[0]
    d = normalize_dim("cat", dim, first.ndim)
    for i, t in enumerate(tensors):
        if t.ndim != first.ndim or t.shape[:d] + t.shape[d + 1:] != \
                first.shape[:d] + first.shape[d + 1:]:
            raise ValueError(f"cat: tensor {i} has shape {t.shape} but tensor 0 has shape "
                             f"{first.shape}; all sizes except dimension {d} must match")
    check_same_device("cat", tensors)
    common = np.result_type(*[t.dtype for t in tensors])
    tensors = [t if t.dtype == common else t.to(common) for t in tensors]
    return ops.CatFunction.apply(*tensors, axis=d)


concat = cat


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join equally shaped tensors along a new dimension: ``3 x (2, 4) -> (3, 2, 4)``."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"stack: expected a sequence of Tensors, item {i} is "
                            f"{type(t).__name__}")
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: tensor {i} has shape {t.shape} but tensor 0 has shape "
                             f"{tensors[0].shape}; stack needs equal shapes")
    d = normalize_dim("stack", dim, tensors[0].ndim + 1)
    return cat([t.unsqueeze(d) for t in tensors], dim=d)


def split(tensor: Tensor, split_size_or_sections: int | Sequence[int],
          dim: int = 0) -> tuple[Tensor, ...]:
    """Cut ``tensor`` along ``dim`` into chunks of one size, or of the listed sizes
    (see :meth:`Tensor.split`)."""
    return check_tensor("split", "tensor", tensor).split(split_size_or_sections, dim)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """At most ``chunks`` equal pieces along ``dim`` (see :meth:`Tensor.chunk`)."""
    return check_tensor("chunk", "input", input).chunk(chunks, dim)


def where(condition: Tensor, input: Any, other: Any) -> Tensor:
    """``input`` where ``condition`` is true, else ``other``; the three shapes broadcast together.

    ``input`` and ``other`` may be tensors or numbers (a number takes its partner tensor's dtype,
    as in PyTorch); differentiable in both. See :meth:`Tensor.where`.
    """
    if not isinstance(condition, Tensor) or condition.dtype != np.dtype("bool"):
        raise TypeError("where: condition must be a bool tensor, got "
                        f"{getattr(condition, 'dtype', type(condition).__name__)}")
    if isinstance(input, Tensor):
        return input.where(condition, other)
    if isinstance(other, Tensor):  # where(c, x, y) = where(not c, y, x)
        return other.where(~condition, input)
    return Tensor(input, device=condition.device).where(condition, other)


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float = 0.0) -> Tensor:
    """Constant padding with PyTorch's order: ``pad`` lists (before, after) pairs starting from the
    LAST dimension, e.g. ``(left, right, top, bottom)`` for an image:
    ``(N, C, H, W) -> (N, C, H + top + bottom, W + left + right)``."""
    check_tensor("pad", "input", input)
    if mode != "constant":
        raise ValueError(f"pad: only mode='constant' is supported, got {mode!r}")
    pad = list(pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: padding length must be even and at most 2*ndim = {2 * input.ndim}"
                         f", got {len(pad)} values for shape {input.shape}")
    if builtins.any(not isinstance(p, numbers.Integral) or p < 0 for p in pad):
        raise ValueError(f"pad: padding sizes must be non-negative ints, got {tuple(pad)}")
    widths = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        widths[input.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    return ops.PadFunction.apply(input, widths=tuple(widths), value=value)


# ---------------------------------------------------------------------------------------------
# Functional forms of the Tensor methods
# ---------------------------------------------------------------------------------------------


def exp(input: Tensor) -> Tensor:
    """``e^x`` elementwise; see :meth:`Tensor.exp`."""
    return check_tensor("exp", "input", input).exp()


def log(input: Tensor) -> Tensor:
    """Natural logarithm elementwise; see :meth:`Tensor.log`."""
    return check_tensor("log", "input", input).log()


def sqrt(input: Tensor) -> Tensor:
    """Square root elementwise; see :meth:`Tensor.sqrt`."""
    return check_tensor("sqrt", "input", input).sqrt()


def abs(input: Tensor) -> Tensor:
    """``|x|`` elementwise; see :meth:`Tensor.abs`."""
    return check_tensor("abs", "input", input).abs()


def sin(input: Tensor) -> Tensor:
    """Sine elementwise; see :meth:`Tensor.sin`."""
    return check_tensor("sin", "input", input).sin()


def cos(input: Tensor) -> Tensor:
    """Cosine elementwise; see :meth:`Tensor.cos`."""
    return check_tensor("cos", "input", input).cos()


def tanh(input: Tensor) -> Tensor:
    """Hyperbolic tangent elementwise; see :meth:`Tensor.tanh`."""
    return check_tensor("tanh", "input", input).tanh()


def sigmoid(input: Tensor) -> Tensor:
    """``1 / (1 + e^-x)`` elementwise; see :meth:`Tensor.sigmoid`."""
    return check_tensor("sigmoid", "input", input).sigmoid()


def relu(input: Tensor) -> Tensor:
    """``max(x, 0)`` elementwise; see :meth:`Tensor.relu`."""
    return check_tensor("relu", "input", input).relu()


def clamp(input: Tensor, min: float | None = None, max: float | None = None) -> Tensor:
    """Values limited to ``[min, max]``; see :meth:`Tensor.clamp`."""
    return check_tensor("clamp", "input", input).clamp(min, max)


def clip(input: Tensor, min: float | None = None, max: float | None = None) -> Tensor:
    """Another name of :func:`clamp`."""
    return check_tensor("clip", "input", input).clip(min, max)


def maximum(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise maximum, broadcast; see :meth:`Tensor.maximum`."""
    return check_tensor("maximum", "input", input).maximum(other)


def minimum(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise minimum, broadcast; see :meth:`Tensor.minimum`."""
    return check_tensor("minimum", "input", input).minimum(other)


def neg(input: Tensor) -> Tensor:
    """``-x``; see :meth:`Tensor.neg`."""
    return check_tensor("neg", "input", input).neg()


def add(input: Tensor, other: Any) -> Tensor:
    """``input + other``, broadcast; see :meth:`Tensor.add`."""
    return check_tensor("add", "input", input).add(other)


def sub(input: Tensor, other: Any) -> Tensor:
    """``input - other``, broadcast; see :meth:`Tensor.sub`."""
    return check_tensor("sub", "input", input).sub(other)


def mul(input: Tensor, other: Any) -> Tensor:
    """``input * other``, broadcast; see :meth:`Tensor.mul`."""
    return check_tensor("mul", "input", input).mul(other)


def div(input: Tensor, other: Any) -> Tensor:
    """``input / other``, broadcast; see :meth:`Tensor.div`."""
    return check_tensor("div", "input", input).div(other)


def pow(input: Tensor, exponent: Any) -> Tensor:
    """``input ** exponent``, broadcast; see :meth:`Tensor.pow`."""
    return check_tensor("pow", "input", input).pow(exponent)


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """Matrix product ``(*, n, k) @ (*, k, m) -> (*, n, m)``; see :meth:`Tensor.matmul`."""
    return check_tensor("matmul", "input", input).matmul(other)


def sum(input: Tensor, dim: Any = None, keepdim: bool = False, **kwargs: Any) -> Tensor:
    """Sum over ``dim``; see :meth:`Tensor.sum`."""
    return check_tensor("sum", "input", input).sum(dim, keepdim, **kwargs)


def mean(input: Tensor, dim: Any = None, keepdim: bool = False, **kwargs: Any) -> Tensor:
    """Mean over ``dim``; see :meth:`Tensor.mean`."""
    return check_tensor("mean", "input", input).mean(dim, keepdim, **kwargs)


def var(input: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False,
        **kwargs: Any) -> Tensor:
    """Variance over ``dim``; see :meth:`Tensor.var`."""
    return check_tensor("var", "input", input).var(dim, unbiased, keepdim, **kwargs)


def std(input: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False,
        **kwargs: Any) -> Tensor:
    """Standard deviation over ``dim``; see :meth:`Tensor.std`."""
    return check_tensor("std", "input", input).std(dim, unbiased, keepdim, **kwargs)


def amax(input: Tensor, dim: Any = None, keepdim: bool = False, **kwargs: Any) -> Tensor:
    """Largest value over ``dim``; see :meth:`Tensor.amax`."""
    return check_tensor("amax", "input", input).amax(dim, keepdim, **kwargs)


def amin(input: Tensor, dim: Any = None, keepdim: bool = False, **kwargs: Any) -> Tensor:
    """Smallest value over ``dim``; see :meth:`Tensor.amin`."""
    return check_tensor("amin", "input", input).amin(dim, keepdim, **kwargs)


def max(input: Tensor, dim: Any = None, keepdim: bool = False,
        **kwargs: Any) -> Tensor | MinMax:
    """Largest value, ``(values, indices)`` along ``dim``, or the elementwise maximum with a
    tensor; see :meth:`Tensor.max`."""
    return check_tensor("max", "input", input).max(dim, keepdim, **kwargs)


def min(input: Tensor, dim: Any = None, keepdim: bool = False,
        **kwargs: Any) -> Tensor | MinMax:
    """Smallest value, ``(values, indices)`` along ``dim``, or the elementwise minimum with a
    tensor; see :meth:`Tensor.min`."""
    return check_tensor("min", "input", input).min(dim, keepdim, **kwargs)


def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the largest value; see :meth:`Tensor.argmax`."""
    return check_tensor("argmax", "input", input).argmax(dim, keepdim)


def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the smallest value; see :meth:`Tensor.argmin`."""
    return check_tensor("argmin", "input", input).argmin(dim, keepdim)


def logsumexp(input: Tensor, dim: Any = None, keepdim: bool = False, **kwargs: Any) -> Tensor:
    """``log(sum(exp(x)))`` over ``dim``; see :meth:`Tensor.logsumexp`."""
    return check_tensor("logsumexp", "input", input).logsumexp(dim, keepdim, **kwargs)


def reshape(input: Tensor, shape: Sequence[int]) -> Tensor:
    """The same values in a new shape; see :meth:`Tensor.reshape`."""
    return check_tensor("reshape", "input", input).reshape(shape)


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Two dimensions swapped; see :meth:`Tensor.transpose`."""
    return check_tensor("transpose", "input", input).transpose(dim0, dim1)


def permute(input: Tensor, dims: Sequence[int]) -> Tensor:
    """Dimensions reordered; see :meth:`Tensor.permute`."""
    return check_tensor("permute", "input", input).permute(dims)


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Dimensions ``start_dim..end_dim`` merged; see :meth:`Tensor.flatten`."""
    return check_tensor("flatten", "input", input).flatten(start_dim, end_dim)


def squeeze(input: Tensor, dim: int | Sequence[int] | None = None) -> Tensor:
    """Dimensions of size 1 removed; see :meth:`Tensor.squeeze`."""
    return check_tensor("squeeze", "input", input).squeeze(dim)


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """A dimension of size 1 inserted; see :meth:`Tensor.unsqueeze`."""
    return check_tensor("unsqueeze", "input", input).unsqueeze(dim)


def eq(input: Tensor, other: Any) -> Tensor:
    """``input == other`` elementwise; see :meth:`Tensor.eq`."""
    return check_tensor("eq", "input", input).eq(other)


def ne(input: Tensor, other: Any) -> Tensor:
    """``input != other`` elementwise; see :meth:`Tensor.ne`."""
    return check_tensor("ne", "input", input).ne(other)


def lt(input: Tensor, other: Any) -> Tensor:
    """``input < other`` elementwise; see :meth:`Tensor.lt`."""
    return check_tensor("lt", "input", input).lt(other)


def le(input: Tensor, other: Any) -> Tensor:
    """``input <= other`` elementwise; see :meth:`Tensor.le`."""
    return check_tensor("le", "input", input).le(other)


def gt(input: Tensor, other: Any) -> Tensor:
    """``input > other`` elementwise; see :meth:`Tensor.gt`."""
    return check_tensor("gt", "input", input).gt(other)


def ge(input: Tensor, other: Any) -> Tensor:
    """``input >= other`` elementwise; see :meth:`Tensor.ge`."""
    return check_tensor("ge", "input", input).ge(other)


def allclose(input: Tensor, other: Tensor, rtol: float = 1e-5, atol: float = 1e-8) -> bool:
    """True when the values agree within tolerances; see :meth:`Tensor.allclose`."""
    return check_tensor("allclose", "input", input).allclose(other, rtol=rtol, atol=atol)


def equal(input: Tensor, other: Tensor) -> bool:
    """True for the same shape and values; see :meth:`Tensor.equal`."""
    return check_tensor("equal", "input", input).equal(other)
