"""Differentiable operations on tensors: each forward sits next to its backward (chain rule).

Every class here is a :class:`~tinyconv.autograd.Function` working on plain arrays. In each
``backward``, ``grad`` is ``dL/d(output)`` and the method returns ``dL/d(input)`` for each input,
written as the chain rule ``dL/d(input) = dL/d(output) * d(output)/d(input)``. Broadcasting is undone by
the engine (``sum_to_shape``), so the rules below are written for equal shapes.

Convolution and pooling live in ``tinyconv.nn.functional``; they call the kernel contract.
"""

from __future__ import annotations

from tinyconv.autograd import Function

# ---------------------------------------------------------------------------------------------
# Arithmetic
# ---------------------------------------------------------------------------------------------


class Add(Function):
    name = "add"

    def forward(self, a, b):
        return a + b

    def backward(self, grad):  # d(a+b)/da = 1, d(a+b)/db = 1
        return grad, grad


class Sub(Function):
    name = "sub"

    def forward(self, a, b):
        return a - b

    def backward(self, grad):  # d(a-b)/da = 1, d(a-b)/db = -1
        return grad, -grad


class Mul(Function):
    name = "mul"

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a * b

    def backward(self, grad):  # d(ab)/da = b, d(ab)/db = a
        a, b = self.saved
        return grad * b, grad * a


class Div(Function):
    name = "div"

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a / b

    def backward(self, grad):  # d(a/b)/da = 1/b, d(a/b)/db = -a/b²
        a, b = self.saved
        grad_a = grad / b if self.needs_input_grad[0] else None
        grad_b = -grad * a / (b * b) if self.needs_input_grad[1] else None
        return grad_a, grad_b


class Pow(Function):
    name = "pow"

    def forward(self, a, b):
        out = a ** b
        self.save_for_backward(a, b, out)
        return out

    def backward(self, grad):  # d(a^b)/da = b·a^(b-1), d(a^b)/db = a^b·ln(a)
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


class Neg(Function):
    name = "neg"

    def forward(self, a):
        return -a

    def backward(self, grad):
        return -grad


class MatMul(Function):
    """Batched matrix product with NumPy's rules (1-D operands gain and lose a dimension)."""

    name = "matmul"

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a @ b

    def backward(self, grad):
        # For C = A @ B: dL/dA = dL/dC @ Bᵀ and dL/dB = Aᵀ @ dL/dC. A 1-D operand is treated as a
        # row (for A) or a column (for B) so the same two products apply; batch dimensions that
        # were broadcast are summed away by sum_to_shape.
        from tinyconv.autograd import sum_to_shape

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


class Exp(Function):
    name = "exp"

    def forward(self, a):
        out = self.xp.exp(a)
        self.save_for_backward(out)
        return out

    def backward(self, grad):  # d(e^a)/da = e^a
        (out,) = self.saved
        return grad * out


class Log(Function):
    name = "log"

    def forward(self, a):
        self.save_for_backward(a)
        return self.xp.log(a)

    def backward(self, grad):  # d(ln a)/da = 1/a
        (a,) = self.saved
        return grad / a


class Sqrt(Function):
    name = "sqrt"

    def forward(self, a):
        out = self.xp.sqrt(a)
        self.save_for_backward(out)
        return out

    def backward(self, grad):  # d(√a)/da = 1/(2√a)
        (out,) = self.saved
        return grad / (2 * out)


class Abs(Function):
    name = "abs"

    def forward(self, a):
        self.save_for_backward(a)
        return self.xp.abs(a)

    def backward(self, grad):  # d|a|/da = sign(a), taken as 0 at a = 0 (as PyTorch)
        (a,) = self.saved
        return grad * self.xp.sign(a)


class Sin(Function):
    name = "sin"

    def forward(self, a):
        self.save_for_backward(a)
        return self.xp.sin(a)

    def backward(self, grad):
        (a,) = self.saved
        return grad * self.xp.cos(a)


class Cos(Function):
    name = "cos"

    def forward(self, a):
        self.save_for_backward(a)
        return self.xp.cos(a)

    def backward(self, grad):
        (a,) = self.saved
        return -grad * self.xp.sin(a)


class Tanh(Function):
    name = "tanh"

    def forward(self, a):
        out = self.xp.tanh(a)
        self.save_for_backward(out)
        return out

    def backward(self, grad):  # d tanh(a)/da = 1 - tanh²(a)
        (out,) = self.saved
        return grad * (1 - out * out)


class Sigmoid(Function):
    name = "sigmoid"

    def forward(self, a):
        xp = self.xp
        # 1/(1+e^-a) overflows for large negative a; e^a/(1+e^a) is the stable form there.
        e = xp.exp(-xp.abs(a))
        out = xp.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)
        self.save_for_backward(out)
        return out

    def backward(self, grad):  # dσ/da = σ(1-σ)
        (out,) = self.saved
        return grad * out * (1 - out)


class ReLU(Function):
    name = "relu"

    def forward(self, a):
        out = self.xp.maximum(a, 0).astype(a.dtype, copy=False)
        self.save_for_backward(out)
        return out

    def backward(self, grad):  # passes the gradient where the input was positive
        (out,) = self.saved
        return grad * (out > 0)


class Clamp(Function):
    name = "clamp"

    def forward(self, a, min=None, max=None):
        self.save_for_backward(a)
        self.min, self.max = min, max
        return self.xp.clip(a, min, max).astype(a.dtype, copy=False)

    def backward(self, grad):  # 1 inside [min, max] (bounds included, as PyTorch), 0 outside
        (a,) = self.saved
        inside = self.xp.ones(a.shape, dtype=bool)
        if self.min is not None:
            inside &= a >= self.min
        if self.max is not None:
            inside &= a <= self.max
        return grad * inside


class Maximum(Function):
    name = "maximum"

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return self.xp.maximum(a, b)

    def backward(self, grad):
        # the larger input gets the gradient; on a tie each gets half (PyTorch's rule)
        a, b = self.saved
        share_a = (a > b) + 0.5 * (a == b)
        return grad * share_a, grad * (1 - share_a)


class Minimum(Function):
    name = "minimum"

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return self.xp.minimum(a, b)

    def backward(self, grad):
        a, b = self.saved
        share_a = (a < b) + 0.5 * (a == b)
        return grad * share_a, grad * (1 - share_a)


class Where(Function):
    """``where(condition, a, b)``: the condition is a fixed (non-differentiable) mask."""

    name = "where"

    def forward(self, a, b, condition=None):
        self.save_for_backward(condition)
        return self.xp.where(condition, a, b)

    def backward(self, grad):
        (condition,) = self.saved
        return grad * condition, grad * ~condition


class Clone(Function):
    name = "clone"

    def forward(self, a):
        return a.copy()

    def backward(self, grad):
        return grad


class Cast(Function):
    """Change dtype; the gradient is cast back to the input's dtype by the engine."""

    name = "to"

    def forward(self, a, dtype=None):
        return a.astype(dtype)

    def backward(self, grad):
        return grad


# ---------------------------------------------------------------------------------------------
# Reductions. `axes` is a tuple of non-negative axes, already normalised by the Tensor method.
# ---------------------------------------------------------------------------------------------


def _restore_reduced(xp, grad, input_shape, axes, keepdim):
    """Reinsert reduced axes (as size 1) so the gradient broadcasts against the input."""
    if not keepdim:
        for axis in sorted(axes):
            grad = xp.expand_dims(grad, axis)
    return xp.broadcast_to(grad, input_shape)


class Sum(Function):
    name = "sum"

    def forward(self, a, axes=None, keepdim=False):
        self.input_shape, self.axes, self.keepdim = a.shape, axes, keepdim
        return a.sum(axis=axes, keepdims=keepdim)

    def backward(self, grad):  # every summed element contributed with weight 1
        return _restore_reduced(self.xp, grad, self.input_shape, self.axes, self.keepdim)


class Mean(Function):
    name = "mean"

    def forward(self, a, axes=None, keepdim=False):
        self.input_shape, self.axes, self.keepdim = a.shape, axes, keepdim
        self.count = 1
        for axis in axes:
            self.count *= a.shape[axis]
        return a.mean(axis=axes, keepdims=keepdim)

    def backward(self, grad):  # each element contributed with weight 1/count
        return _restore_reduced(self.xp, grad / self.count, self.input_shape, self.axes,
                                self.keepdim)


class Var(Function):
    """Variance with ``correction`` (1: unbiased, PyTorch's default; 0: population)."""

    name = "var"

    def forward(self, a, axes=None, keepdim=False, correction=1):
        self.axes, self.keepdim = axes, keepdim
        count = 1
        for axis in axes:
            count *= a.shape[axis]
        self.divisor = max(count - correction, 0)
        centered = a - a.mean(axis=axes, keepdims=True)
        self.save_for_backward(centered)
        return (centered * centered).sum(axis=axes, keepdims=keepdim) / self.divisor

    def backward(self, grad):  # d/da_i of Σ(a_j - mean)²/D = 2(a_i - mean)/D
        (centered,) = self.saved
        grad = _restore_reduced(self.xp, grad, centered.shape, self.axes, self.keepdim)
        return grad * (2 / self.divisor) * centered


class Amax(Function):
    """Maximum over axes; the gradient is shared equally between tied maxima (as PyTorch)."""

    name = "amax"
    pick = staticmethod(lambda xp, a, axes: a.max(axis=axes, keepdims=True))

    def forward(self, a, axes=None, keepdim=False):
        self.axes, self.keepdim = axes, keepdim
        best = self.pick(self.xp, a, axes)
        self.save_for_backward(a == best)
        return best if keepdim else best.squeeze(axis=axes)

    def backward(self, grad):
        (is_best,) = self.saved
        grad = _restore_reduced(self.xp, grad, is_best.shape, self.axes, self.keepdim)
        ties = is_best.sum(axis=self.axes, keepdims=True)
        return grad * is_best / ties


class Amin(Amax):
    name = "amin"
    pick = staticmethod(lambda xp, a, axes: a.min(axis=axes, keepdims=True))


class LogSumExp(Function):
    name = "logsumexp"

    def forward(self, a, axes=None, keepdim=False):
        xp = self.xp
        self.axes, self.keepdim = axes, keepdim
        # subtract the maximum first so exp never overflows: log Σe^a = m + log Σe^(a-m)
        m = a.max(axis=axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        out = m + xp.log(xp.exp(a - m).sum(axis=axes, keepdims=True))
        self.save_for_backward(a, out)
        return out if keepdim else out.squeeze(axis=axes)

    def backward(self, grad):  # d/da_i log Σe^a = softmax(a)_i
        a, out = self.saved
        grad = _restore_reduced(self.xp, grad, a.shape, self.axes, self.keepdim)
        return grad * self.xp.exp(a - out)


class TakeAlongDim(Function):
    """``take_along_axis(a, indices, axis)``; backward scatters the gradient to those indices."""

    name = "take_along_dim"

    def forward(self, a, indices=None, axis=0):
        self.input_shape, self.indices, self.axis = a.shape, indices, axis
        return self.xp.take_along_axis(a, indices, axis=axis)

    def backward(self, grad):
        xp = self.xp
        out = xp.zeros(self.input_shape, dtype=grad.dtype)
        xp.put_along_axis(out, self.indices, grad, axis=self.axis)
        return out


# ---------------------------------------------------------------------------------------------
# Shape operations: they move values without changing them, so backward moves gradients back.
# ---------------------------------------------------------------------------------------------


class Reshape(Function):
    name = "reshape"

    def forward(self, a, shape=None):
        self.input_shape = a.shape
        return a.reshape(shape)

    def backward(self, grad):
        return grad.reshape(self.input_shape)


class Permute(Function):
    name = "permute"

    def forward(self, a, dims=None):
        self.dims = dims
        return a.transpose(dims)

    def backward(self, grad):
        # undo the permutation: axis dims[i] of the input became axis i of the output
        inverse = [0] * len(self.dims)
        for i, d in enumerate(self.dims):
            inverse[d] = i
        return grad.transpose(inverse)


class Expand(Function):
    name = "expand"

    def forward(self, a, shape=None):
        return self.xp.broadcast_to(a, shape)

    def backward(self, grad):  # the engine sums the copies back (sum_to_shape)
        return grad


def _scatter_add(xp, target, index, values):
    """``target[index] += values`` that adds repeated indices (plain ``+=`` would keep one)."""
    if xp.__name__ == "numpy":
        xp.add.at(target, index, values)
    else:  # CuPy spells it differently
        import cupyx

        cupyx.scatter_add(target, index, values)


class GetItem(Function):
    name = "getitem"

    def forward(self, a, index=None):
        self.input_shape, self.index = a.shape, index
        return a[index]

    def backward(self, grad):
        # every selected element sends its gradient back to where it came from; an element picked
        # twice (a[[0, 0]]) receives both gradients
        out = self.xp.zeros(self.input_shape, dtype=grad.dtype)
        _scatter_add(self.xp, out, self.index, grad)
        return out


class Cat(Function):
    name = "cat"

    def forward(self, *arrays, axis=0):
        self.axis = axis
        self.sizes = [a.shape[axis] for a in arrays]
        return self.xp.concatenate(arrays, axis=axis)

    def backward(self, grad):  # cut the gradient back into the pieces that were joined
        bounds, start = [], 0
        for size in self.sizes[:-1]:
            start += size
            bounds.append(start)
        return tuple(self.xp.split(grad, bounds, axis=self.axis))


class Pad(Function):
    """Constant padding; ``widths`` is NumPy's ((before, after), ...) per axis."""

    name = "pad"

    def forward(self, a, widths=None, value=0.0):
        self.widths = widths
        return self.xp.pad(a, widths, mode="constant", constant_values=value)

    def backward(self, grad):  # padding added constants: crop them away
        crop = tuple(slice(before, grad.shape[i] - after)
                     for i, (before, after) in enumerate(self.widths))
        return grad[crop]
