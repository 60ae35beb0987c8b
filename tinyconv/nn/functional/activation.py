"""Activations: the elementwise nonlinearities between layers, and softmax / log-softmax.

ReLU, sigmoid and tanh are Tensor methods (their rules live in ``tinyconv.ops``). The ones below
that have a kink or a reduction get a small :class:`Function` each, so the gradient at the kink is
PyTorch's and softmax's backward is one formula instead of a chain of small ops.

All functions take a float tensor of any shape and return one of the same shape.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from tinyconv.autograd import Function
from tinyconv.dtypes import as_dtype, is_floating_dtype
from tinyconv.nn.functional._args import check_number, check_tensor
from tinyconv.shapes import normalize_dim
from tinyconv.tensor import Tensor


def _check_float_input(op: str, input: Any) -> None:
    check_tensor(op, "input", input)
    if not is_floating_dtype(input.dtype):
        raise TypeError(f"{op}: input must be a floating point tensor, got dtype {input.dtype}")


# ---------------------------------------------------------------------------------------------
# Piecewise-linear activations
# ---------------------------------------------------------------------------------------------


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """``max(0, x)``; the gradient is 1 where ``x > 0`` and 0 elsewhere (0 at the kink).

    ``inplace`` is accepted for PyTorch compatibility, but tinyconv never overwrites ``input``:
    use the returned tensor.
    """
    _check_float_input("relu", input)
    return input.relu()


class LeakyReLUFunction(Function):
    """``y = x`` for ``x > 0``, ``y = slope * x`` otherwise."""

    name = "leaky_relu"

    def forward(self, x, negative_slope=0.01):
        self.negative_slope = negative_slope
        positive = x > 0
        self.save_for_backward(positive)
        return self.xp.where(positive, x, x * negative_slope).astype(x.dtype, copy=False)

    def backward(self, grad):
        # dy/dx = 1 where x > 0 and slope elsewhere (PyTorch takes the slope at x = 0 too)
        (positive,) = self.saved
        return grad * self.xp.where(positive, 1.0, self.negative_slope).astype(grad.dtype,
                                                                               copy=False)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """``x`` where ``x > 0``, ``negative_slope * x`` elsewhere: a ReLU whose negative side still
    passes a small gradient. ``inplace`` is accepted and ignored (see :func:`relu`)."""
    _check_float_input("leaky_relu", input)
    slope = check_number("leaky_relu", "negative_slope", negative_slope)
    return LeakyReLUFunction.apply(input, negative_slope=slope)


class HardtanhFunction(Function):
    """``y = clip(x, min_val, max_val)`` with PyTorch's hardtanh gradient."""

    name = "hardtanh"

    def forward(self, x, min_val=-1.0, max_val=1.0):
        # strictly inside: PyTorch's hardtanh (and so relu6) passes no gradient AT the bounds,
        # unlike clamp, which does. relu6'(0) = 0 then agrees with relu'(0) = 0.
        self.save_for_backward((x > min_val) & (x < max_val))
        return self.xp.clip(x, min_val, max_val).astype(x.dtype, copy=False)

    def backward(self, grad):
        (inside,) = self.saved
        return grad * inside


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """``min(max(x, min_val), max_val)``; gradient 1 strictly between the bounds, else 0."""
    op = "hardtanh"
    _check_float_input(op, input)
    low, high = check_number(op, "min_val", min_val), check_number(op, "max_val", max_val)
    if low > high:
        raise ValueError(f"{op}: min_val ({low}) must not be greater than max_val ({high})")
    return HardtanhFunction.apply(input, min_val=low, max_val=high)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """``min(max(x, 0), 6)`` (MobileNetV2): a ReLU that saturates, which keeps activations in a
    range that low-precision arithmetic represents well. It is ``hardtanh(x, 0, 6)``."""
    _check_float_input("relu6", input)
    return HardtanhFunction.apply(input, min_val=0.0, max_val=6.0)


# ---------------------------------------------------------------------------------------------
# Smooth activations
# ---------------------------------------------------------------------------------------------


def sigmoid(input: Tensor) -> Tensor:
    """``1 / (1 + e^-x)``, computed without overflow for large ``|x|``."""
    _check_float_input("sigmoid", input)
    return input.sigmoid()


def tanh(input: Tensor) -> Tensor:
    """``(e^x - e^-x) / (e^x + e^-x)``."""
    _check_float_input("tanh", input)
    return input.tanh()


_erf_on_cpu = None


def _erf_scalar(value: float) -> float:
    return math.erf(value)


def _erf(xp, x):
    """The error function elementwise. NumPy has none, so on the CPU a Numba ufunc wraps
    ``math.erf`` (compiled on first use); CuPy ships one in ``cupyx.scipy.special``."""
    global _erf_on_cpu
    if xp.__name__ != "numpy":
        from cupyx.scipy.special import erf

        return erf(x)
    if _erf_on_cpu is None:
        import numba

        _erf_on_cpu = numba.vectorize(["float32(float32)", "float64(float64)"],
                                      cache=True)(_erf_scalar)
    return _erf_on_cpu(x)


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_CUBIC = 0.044715


class GELUFunction(Function):
    """``y = x Φ(x)``, Φ the standard normal CDF (or its tanh approximation)."""

    name = "gelu"

    def forward(self, x, approximate="none"):
        xp = self.xp
        self.approximate = approximate
        self.save_for_backward(x)
        if approximate == "tanh":
            inner = _SQRT_2_OVER_PI * (x + _GELU_CUBIC * x ** 3)
            return (0.5 * x * (1 + xp.tanh(inner))).astype(x.dtype, copy=False)
        return (0.5 * x * (1 + _erf(xp, x / math.sqrt(2.0)))).astype(x.dtype, copy=False)

    def backward(self, grad):
        xp = self.xp
        (x,) = self.saved
        if self.approximate == "tanh":
            # y = x/2 (1 + tanh(u)), u = k (x + c x³):
            # dy/dx = (1 + tanh u)/2 + x/2 (1 - tanh² u) k (1 + 3c x²)
            t = xp.tanh(_SQRT_2_OVER_PI * (x + _GELU_CUBIC * x ** 3))
            slope = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _SQRT_2_OVER_PI * (
                1 + 3 * _GELU_CUBIC * x * x)
        else:
            # y = x Φ(x): dy/dx = Φ(x) + x φ(x), φ(x) = e^(-x²/2) / √(2π)
            cdf = 0.5 * (1 + _erf(xp, x / math.sqrt(2.0)))
            pdf = xp.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
            slope = cdf + x * pdf
        return grad * slope.astype(grad.dtype, copy=False)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian Error Linear Unit ``x Φ(x)``: weights ``x`` by how likely a standard normal is
    below it. ``approximate="tanh"`` uses the approximation
    ``Φ(x) ≈ (1 + tanh(√(2/π)(x + 0.044715 x³))) / 2``."""
    _check_float_input("gelu", input)
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELUFunction.apply(input, approximate=approximate)


# ---------------------------------------------------------------------------------------------
# Softmax and log-softmax along one dimension
# ---------------------------------------------------------------------------------------------


class SoftmaxFunction(Function):
    """``s_i = e^(x_i) / Σ_j e^(x_j)`` along ``axis``."""

    name = "softmax"

    def forward(self, x, axis=-1):
        xp = self.xp
        self.axis = axis
        # softmax(x) = softmax(x - m) for any constant m; with m = max, every exponent is <= 0,
        # so e^(...) never overflows (and the largest term is exactly 1, so the sum is >= 1).
        shifted = x - x.max(axis=axis, keepdims=True)
        exps = xp.exp(shifted)
        s = exps / exps.sum(axis=axis, keepdims=True)
        self.save_for_backward(s)
        return s

    def backward(self, grad):
        # The Jacobian is ds_i/dx_j = s_i (δ_ij - s_j), so
        # dL/dx_j = Σ_i g_i s_i (δ_ij - s_j) = s_j (g_j - Σ_i g_i s_i).
        (s,) = self.saved
        return s * (grad - (grad * s).sum(axis=self.axis, keepdims=True))


class LogSoftmaxFunction(Function):
    """``y_i = x_i - log Σ_j e^(x_j)`` along ``axis``."""

    name = "log_softmax"

    def forward(self, x, axis=-1):
        xp = self.xp
        self.axis = axis
        # log Σ e^x = m + log Σ e^(x - m) with m = max: no overflow, and no log(0) for a very
        # negative x_i (which log(softmax(x)) would hit once e^(x_i - m) underflows to 0).
        shifted = x - x.max(axis=axis, keepdims=True)
        y = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
        self.save_for_backward(y)
        return y

    def backward(self, grad):
        # dy_i/dx_j = δ_ij - s_j with s = e^y = softmax(x), so dL/dx_j = g_j - s_j Σ_i g_i.
        (y,) = self.saved
        return grad - self.xp.exp(y) * grad.sum(axis=self.axis, keepdims=True)


def _softmax_axis(op: str, input: Tensor, dim: int | None) -> int:
    if dim is None:
        # PyTorch's legacy choice when no dim is given: 0 for 0-, 1- and 3-D inputs, else 1.
        warnings.warn(f"{op}: implicit dimension choice is deprecated; pass dim=... "
                      "(the class dimension, usually dim=1 or dim=-1)", UserWarning, stacklevel=3)
        dim = 0 if input.ndim in (0, 1, 3) else 1
    return normalize_dim(op, dim, input.ndim)


def _softmax_like(function: type, input: Tensor, dim: int | None, dtype: Any) -> Tensor:
    op = function.name
    _check_float_input(op, input)
    if dtype is not None:
        input = input.to(as_dtype(dtype))
    axis = _softmax_axis(op, input, dim)
    if input.ndim == 0:  # a single score: work on it as a vector of one
        return function.apply(input.reshape(1), axis=0).reshape(())
    return function.apply(input, axis=axis)


def softmax(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:
    """Scores to probabilities along ``dim``: ``e^(x_i) / Σ_j e^(x_j)``; every slice along ``dim``
    is positive and sums to 1. Stable for any logits (the maximum is subtracted first).

    ``input``: any shape, e.g. ``(N, C)`` scores with ``dim=1``. ``dtype``: cast the input first.
    """
    return _softmax_like(SoftmaxFunction, input, dim, dtype)


def log_softmax(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:
    """``log(softmax(x))`` along ``dim``, computed as ``x - logsumexp(x)`` so it stays finite and
    accurate where the softmax underflows to 0 (pairs with :func:`nll_loss`)."""
    return _softmax_like(LogSoftmaxFunction, input, dim, dtype)
