"""Differentiable operations on tensors: each forward sits next to its backward (chain rule).

Every class here is a :class:`~tinyconv.autograd.Function` working on plain arrays. In each
``backward``, ``grad`` is ``dL/d(output)`` and the method returns ``dL/d(input)`` for each input,
written as the chain rule ``dL/d(input) = dL/d(output) * d(output)/d(input)``. Broadcasting is
undone by the engine (``sum_to_shape``), so the rules below are written for equal shapes.

Convolution and pooling live in ``tinyconv.nn.functional``; they call the kernel contract.

Naming: each class is called after what it computes plus ``Function`` (``ReLUFunction``, so it
never clashes with the module ``nn.ReLU``), the scheme of every Function in tinyconv.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from tinyconv.autograd import Array, Function, sum_to_shape
from tinyconv.backend import Device, array_module, device_of_array, to_host

__all__ = ["AddFunction", "SubFunction", "MulFunction", "DivFunction", "PowFunction", "NegFunction",
           "MatMulFunction", "ExpFunction", "LogFunction", "SqrtFunction", "AbsFunction",
           "SinFunction", "CosFunction", "TanhFunction", "SigmoidFunction", "ReLUFunction",
           "ClampFunction", "MaximumFunction", "MinimumFunction", "WhereFunction", "CloneFunction",
           "CastFunction", "ToDeviceFunction", "SumFunction", "MeanFunction", "VarFunction",
           "AmaxFunction", "AminFunction", "LogSumExpFunction", "TakeAlongDimFunction",
           "ReshapeFunction", "PermuteFunction", "ExpandFunction", "GetItemFunction", "CatFunction",
           "PadFunction"]

# backward of a two-input function: dL/da and dL/db (None for an input that needs no gradient)
TwoGradients: TypeAlias = tuple[Array | None, Array | None]

# ---------------------------------------------------------------------------------------------
# Arithmetic
# ---------------------------------------------------------------------------------------------


class AddFunction(Function):
    name = "add"

    def forward(self, a: Array, b: Array) -> Array:
        return a + b

    def backward(self, grad: Array) -> TwoGradients:  # d(a+b)/da = 1, d(a+b)/db = 1
        return grad, grad


class SubFunction(Function):
    name = "sub"

    def forward(self, a: Array, b: Array) -> Array:
        return a - b

    def backward(self, grad: Array) -> TwoGradients:  # d(a-b)/da = 1, d(a-b)/db = -1
        return grad, -grad


class MulFunction(Function):
    name = "mul"

    def forward(self, a: Array, b: Array) -> Array:
        self.save_for_backward(a, b)
        return a * b

    def backward(self, grad: Array) -> TwoGradients:  # d(ab)/da = b, d(ab)/db = a
        a, b = self.saved
        return grad * b, grad * a


class DivFunction(Function):
    name = "div"

    def forward(self, a: Array, b: Array) -> Array:
        self.save_for_backward(a, b)
        return a / b

    def backward(self, grad: Array) -> TwoGradients:  # d(a/b)/da = 1/b, d(a/b)/db = -a/b²
        a, b = self.saved
        grad_a = grad / b if self.needs_input_grad[0] else None
        grad_b = -grad * a / (b * b) if self.needs_input_grad[1] else None
        return grad_a, grad_b


class PowFunction(Function):
    name = "pow"

    def forward(self, a: Array, b: Array) -> Array:
        out = a ** b
        self.save_for_backward(a, b, out)
        return out

    def backward(self, grad: Array) -> TwoGradients:  # d(a^b)/da = b·a^(b-1), d(a^b)/db = a^b·ln(a)
        a, b, out = self.saved
        grad_a = None
        if self.needs_input_grad[0]:
            # a^0 is constant, so its derivative is 0 even at a = 0, where b·a^(b-1) would be
            # 0·inf = nan; using a^1 there keeps the factor b = 0 finite (PyTorch also gives 0)
            grad_a = grad * b * a ** self.xp.where(b == 0, 1, b - 1)
        grad_b = None
        if self.needs_input_grad[1]:
            xp = self.xp
            # ln(a) is undefined for a <= 0; PyTorch gives 0 where a^b is 0 (a = 0, b > 0).
            safe_log = xp.log(xp.where(a > 0, a, 1))
            grad_b = grad * out * safe_log
        return grad_a, grad_b


class NegFunction(Function):
    name = "neg"

    def forward(self, a: Array) -> Array:
        return -a

    def backward(self, grad: Array) -> Array:
        return -grad


class MatMulFunction(Function):
    """Batched matrix product with NumPy's rules (1-D operands gain and lose a dimension)."""

    name = "matmul"

    def forward(self, a: Array, b: Array) -> Array:
        self.save_for_backward(a, b)
        return a @ b

    def backward(self, grad: Array) -> TwoGradients:
        # For C = A @ B: dL/dA = dL/dC @ Bᵀ and dL/dB = Aᵀ @ dL/dC. A 1-D operand is treated as a
        # row (for A) or a column (for B) so the same two products apply; batch dimensions that
        # were broadcast are summed away by sum_to_shape.
        a, b = self.saved
        xp = self.xp
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = grad
        # restore B's column axis before A's row axis: for vector @ vector the gradient is 0-d,
        # and only the last-axis insertion is valid on a 0-d array
        if b.ndim == 1:
            g2 = xp.expand_dims(g2, -1)
        if a.ndim == 1:
            g2 = xp.expand_dims(g2, -2)
        grad_a = grad_b = None
        if self.needs_input_grad[0]:
            grad_a = sum_to_shape(g2 @ xp.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if self.needs_input_grad[1]:
            grad_b = sum_to_shape(xp.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
        return grad_a, grad_b


# ---------------------------------------------------------------------------------------------
# Elementwise functions
# ---------------------------------------------------------------------------------------------


class ExpFunction(Function):
    name = "exp"

    def forward(self, a: Array) -> Array:
        out = self.xp.exp(a)
        self.save_for_backward(out)
        return out

    def backward(self, grad: Array) -> Array:  # d(e^a)/da = e^a
        (out,) = self.saved
        return grad * out


class LogFunction(Function):
    name = "log"

    def forward(self, a: Array) -> Array:
        self.save_for_backward(a)
        return self.xp.log(a)

    def backward(self, grad: Array) -> Array:  # d(ln a)/da = 1/a
        (a,) = self.saved
        return grad / a


class SqrtFunction(Function):
    name = "sqrt"

    def forward(self, a: Array) -> Array:
        out = self.xp.sqrt(a)
        self.save_for_backward(out)
        return out

    def backward(self, grad: Array) -> Array:  # d(√a)/da = 1/(2√a)
        (out,) = self.saved
        return grad / (2 * out)


class AbsFunction(Function):
    name = "abs"

    def forward(self, a: Array) -> Array:
        self.save_for_backward(a)
        return self.xp.abs(a)

    def backward(self, grad: Array) -> Array:  # d|a|/da = sign(a), taken as 0 at a = 0 (as PyTorch)
        (a,) = self.saved
        return grad * self.xp.sign(a)


class SinFunction(Function):
    name = "sin"

    def forward(self, a: Array) -> Array:
        self.save_for_backward(a)
        return self.xp.sin(a)

    def backward(self, grad: Array) -> Array:
        (a,) = self.saved
        return grad * self.xp.cos(a)


class CosFunction(Function):
    name = "cos"

    def forward(self, a: Array) -> Array:
        self.save_for_backward(a)
        return self.xp.cos(a)

    def backward(self, grad: Array) -> Array:
        (a,) = self.saved
        return -grad * self.xp.sin(a)


class TanhFunction(Function):
    name = "tanh"

    def forward(self, a: Array) -> Array:
        out = self.xp.tanh(a)
        self.save_for_backward(out)
        return out

    def backward(self, grad: Array) -> Array:  # d tanh(a)/da = 1 - tanh²(a)
        (out,) = self.saved
        return grad * (1 - out * out)


class SigmoidFunction(Function):
    name = "sigmoid"

    def forward(self, a: Array) -> Array:
        xp = self.xp
        # 1/(1+e^-a) overflows for large negative a; e^a/(1+e^a) is the stable form there.
        e = xp.exp(-xp.abs(a))
        out = xp.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)
        self.save_for_backward(out)
        return out

    def backward(self, grad: Array) -> Array:  # dσ/da = σ(1-σ)
        (out,) = self.saved
        return grad * out * (1 - out)


class ReLUFunction(Function):
    name = "relu"

    def forward(self, a: Array) -> Array:
        out = self.xp.maximum(a, 0).astype(a.dtype, copy=False)
        self.save_for_backward(out)
        return out

    def backward(self, grad: Array) -> Array:  # passes the gradient where the input was positive
        (out,) = self.saved
        return grad * (out > 0)


class ClampFunction(Function):
    name = "clamp"

    def forward(self, a: Array, min: float | None = None, max: float | None = None) -> Array:
        self.save_for_backward(a)
        self.min, self.max = min, max
        return self.xp.clip(a, min, max).astype(a.dtype, copy=False)

    def backward(self, grad: Array) -> Array:  # 1 inside [min, max] (bounds included), 0 outside
        (a,) = self.saved
        inside = self.xp.ones(a.shape, dtype=bool)
        if self.min is not None:
            inside &= a >= self.min
        if self.max is not None:
            inside &= a <= self.max
        return grad * inside


class MaximumFunction(Function):
    name = "maximum"

    def forward(self, a: Array, b: Array) -> Array:
        self.save_for_backward(a, b)
        return self.xp.maximum(a, b)

    def backward(self, grad: Array) -> TwoGradients:
        # the larger input gets the gradient; on a tie each gets half (PyTorch's rule)
        a, b = self.saved
        share_a = (a > b) + 0.5 * (a == b)
        return grad * share_a, grad * (1 - share_a)


class MinimumFunction(Function):
    name = "minimum"

    def forward(self, a: Array, b: Array) -> Array:
        self.save_for_backward(a, b)
        return self.xp.minimum(a, b)

    def backward(self, grad: Array) -> TwoGradients:
        a, b = self.saved
        share_a = (a < b) + 0.5 * (a == b)
        return grad * share_a, grad * (1 - share_a)


class WhereFunction(Function):
    """``where(condition, a, b)``: the condition is a fixed (non-differentiable) mask."""

    name = "where"

    def forward(self, a: Array, b: Array, condition: Array | None = None) -> Array:
        self.save_for_backward(condition)
        return self.xp.where(condition, a, b)

    def backward(self, grad: Array) -> TwoGradients:
        (condition,) = self.saved
        return grad * condition, grad * ~condition


class CloneFunction(Function):
    name = "clone"

    def forward(self, a: Array) -> Array:
        return a.copy()

    def backward(self, grad: Array) -> Array:
        return grad


class CastFunction(Function):
    """Change dtype; the gradient is cast back to the input's dtype by the engine."""

    name = "to"

    def forward(self, a: Array, dtype: Any = None) -> Array:
        return a.astype(dtype)

    def backward(self, grad: Array) -> Array:
        return grad


class ToDeviceFunction(Function):
    """A copy to another device; the gradient is copied back to where the input was.

    The only Function whose output lives on another device than its input: ``Tensor._wrap``
    reads the output's device from its array. ``Tensor.to`` is the one place that calls it.
    """

    name = "to"

    def forward(self, a: Array, device: Device | None = None) -> Array:
        self.source_device = device_of_array(a)
        return array_module(device).asarray(to_host(a))

    def backward(self, grad: Array) -> Array:
        return array_module(self.source_device).asarray(to_host(grad))


# ---------------------------------------------------------------------------------------------
# Reductions. `axes` is a tuple of non-negative axes, already normalised by the Tensor method.
# ---------------------------------------------------------------------------------------------


def _restore_reduced(xp: Any, grad: Array, input_shape: tuple[int, ...], axes: tuple[int, ...],
                     keepdim: bool) -> Array:
    """Reinsert reduced axes (as size 1) so the gradient broadcasts against the input."""
    if not keepdim:
        for axis in sorted(axes):
            grad = xp.expand_dims(grad, axis)
    return xp.broadcast_to(grad, input_shape)


class SumFunction(Function):
    name = "sum"

    def forward(self, a: Array, axes: tuple[int, ...] | None = None,
                keepdim: bool = False) -> Array:
        self.input_shape, self.axes, self.keepdim = a.shape, axes, keepdim
        return a.sum(axis=axes, keepdims=keepdim)

    def backward(self, grad: Array) -> Array:  # every summed element contributed with weight 1
        return _restore_reduced(self.xp, grad, self.input_shape, self.axes, self.keepdim)


class MeanFunction(Function):
    name = "mean"

    def forward(self, a: Array, axes: tuple[int, ...] | None = None,
                keepdim: bool = False) -> Array:
        self.input_shape, self.axes, self.keepdim = a.shape, axes, keepdim
        self.count = 1
        for axis in axes:
            self.count *= a.shape[axis]
        return a.mean(axis=axes, keepdims=keepdim)

    def backward(self, grad: Array) -> Array:  # each element contributed with weight 1/count
        return _restore_reduced(self.xp, grad / self.count, self.input_shape, self.axes,
                                self.keepdim)


class VarFunction(Function):
    """Variance with ``correction`` (1: unbiased, PyTorch's default; 0: population)."""

    name = "var"

    def forward(self, a: Array, axes: tuple[int, ...] | None = None, keepdim: bool = False,
                correction: int = 1) -> Array:
        self.axes, self.keepdim = axes, keepdim
        count = 1
        for axis in axes:
            count *= a.shape[axis]
        self.divisor = max(count - correction, 0)
        centered = a - a.mean(axis=axes, keepdims=True)
        self.save_for_backward(centered)
        return (centered * centered).sum(axis=axes, keepdims=keepdim) / self.divisor

    def backward(self, grad: Array) -> Array:  # d/da_i of Σ(a_j - mean)²/D = 2(a_i - mean)/D
        (centered,) = self.saved
        grad = _restore_reduced(self.xp, grad, centered.shape, self.axes, self.keepdim)
        return grad * (2 / self.divisor) * centered


class AmaxFunction(Function):
    """Maximum over axes; the gradient is shared equally between tied maxima (as PyTorch)."""

    name = "amax"
    pick = staticmethod(lambda xp, a, axes: a.max(axis=axes, keepdims=True))

    def forward(self, a: Array, axes: tuple[int, ...] | None = None,
                keepdim: bool = False) -> Array:
        self.axes, self.keepdim = axes, keepdim
        best = self.pick(self.xp, a, axes)
        self.save_for_backward(a == best)
        return best if keepdim else best.squeeze(axis=axes)

    def backward(self, grad: Array) -> Array:
        (is_best,) = self.saved
        grad = _restore_reduced(self.xp, grad, is_best.shape, self.axes, self.keepdim)
        ties = is_best.sum(axis=self.axes, keepdims=True)
        return grad * is_best / ties


class AminFunction(AmaxFunction):
    name = "amin"
    pick = staticmethod(lambda xp, a, axes: a.min(axis=axes, keepdims=True))


class LogSumExpFunction(Function):
    name = "logsumexp"

    def forward(self, a: Array, axes: tuple[int, ...] | None = None,
                keepdim: bool = False) -> Array:
        xp = self.xp
        self.axes, self.keepdim = axes, keepdim
        # subtract the maximum first so exp never overflows: log Σe^a = m + log Σe^(a-m)
        m = a.max(axis=axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        out = m + xp.log(xp.exp(a - m).sum(axis=axes, keepdims=True))
        self.save_for_backward(a, out)
        return out if keepdim else out.squeeze(axis=axes)

    def backward(self, grad: Array) -> Array:  # d/da_i log Σe^a = softmax(a)_i
        a, out = self.saved
        grad = _restore_reduced(self.xp, grad, a.shape, self.axes, self.keepdim)
        return grad * self.xp.exp(a - out)


class TakeAlongDimFunction(Function):
    """``take_along_axis(a, indices, axis)``; backward scatters the gradient to those indices."""

    name = "take_along_dim"

    def forward(self, a: Array, indices: Array | None = None, axis: int = 0) -> Array:
        self.input_shape, self.indices, self.axis = a.shape, indices, axis
        return self.xp.take_along_axis(a, indices, axis=axis)

    def backward(self, grad: Array) -> Array:
        xp = self.xp
        out = xp.zeros(self.input_shape, dtype=grad.dtype)
        xp.put_along_axis(out, self.indices, grad, axis=self.axis)
        return out


# ---------------------------------------------------------------------------------------------
# Shape operations: they move values without changing them, so backward moves gradients back.
# ---------------------------------------------------------------------------------------------


class ReshapeFunction(Function):
    name = "reshape"

    def forward(self, a: Array, shape: tuple[int, ...] | None = None) -> Array:
        self.input_shape = a.shape
        return a.reshape(shape)

    def backward(self, grad: Array) -> Array:
        return grad.reshape(self.input_shape)


class PermuteFunction(Function):
    name = "permute"

    def forward(self, a: Array, dims: tuple[int, ...] | None = None) -> Array:
        self.dims = dims
        return a.transpose(dims)

    def backward(self, grad: Array) -> Array:
        # undo the permutation: axis dims[i] of the input became axis i of the output
        inverse = [0] * len(self.dims)
        for i, d in enumerate(self.dims):
            inverse[d] = i
        return grad.transpose(inverse)


class ExpandFunction(Function):
    name = "expand"

    def forward(self, a: Array, shape: tuple[int, ...] | None = None) -> Array:
        return self.xp.broadcast_to(a, shape)

    def backward(self, grad: Array) -> Array:  # the engine sums the copies back (sum_to_shape)
        return grad


def _scatter_add(xp: Any, target: Array, index: Any, values: Array) -> None:
    """``target[index] += values`` that adds repeated indices (plain ``+=`` would keep one)."""
    if xp.__name__ == "numpy":
        xp.add.at(target, index, values)
    else:  # CuPy spells it differently
        import cupyx

        cupyx.scatter_add(target, index, values)


class GetItemFunction(Function):
    name = "getitem"

    def forward(self, a: Array, index: Any = None) -> Array:
        self.input_shape, self.index = a.shape, index
        return a[index]

    def backward(self, grad: Array) -> Array:
        # every selected element sends its gradient back to where it came from; an element picked
        # twice (a[[0, 0]]) receives both gradients
        out = self.xp.zeros(self.input_shape, dtype=grad.dtype)
        _scatter_add(self.xp, out, self.index, grad)
        return out


class CatFunction(Function):
    name = "cat"

    def forward(self, *arrays: Array, axis: int = 0) -> Array:
        self.axis = axis
        self.sizes = [a.shape[axis] for a in arrays]
        return self.xp.concatenate(arrays, axis=axis)

    def backward(self, grad: Array) -> tuple[Array, ...]:
        # cut the gradient back into the pieces that were joined
        bounds, start = [], 0
        for size in self.sizes[:-1]:
            start += size
            bounds.append(start)
        return tuple(self.xp.split(grad, bounds, axis=self.axis))


class PadFunction(Function):
    """Constant padding; ``widths`` is NumPy's ((before, after), ...) per axis."""

    name = "pad"

    def forward(self, a: Array, widths: tuple[tuple[int, int], ...] | None = None,
                value: float = 0.0) -> Array:
        self.widths = widths
        return self.xp.pad(a, widths, mode="constant", constant_values=value)

    def backward(self, grad: Array) -> Array:  # padding added constants: crop them away
        crop = tuple(slice(before, grad.shape[i] - after)
                     for i, (before, after) in enumerate(self.widths))
        return grad[crop]
