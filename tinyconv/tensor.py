"""The Tensor: an array (NumPy or CuPy) plus the bookkeeping reverse-mode autograd needs.

A tensor holds

- ``data``: its values, an ndarray of its device's array module. (PyTorch's ``.data`` is a tensor;
  here it is the raw array, which is what the engine and the optimizers work on.)
- ``requires_grad``: whether gradients should flow to it;
- ``grad``: after ``backward()``, a Tensor with ``dL/d(self)`` (leaves only, unless ``retain_grad()``);
- ``_ctx``: the :class:`~tinyconv.autograd.Function` that produced it (``None`` for a leaf).

Every differentiable method below calls ``SomeFunction.apply(...)`` from :mod:`tinyconv.ops`, where
the forward and backward rules live side by side.
"""

from __future__ import annotations

import builtins
import numbers
from collections import namedtuple
from collections.abc import Iterable, Sequence
from typing import Any, Union

import numpy as np

from tinyconv import autograd, ops
from tinyconv.backend import Device, array_module, device_of_array, to_host

# dtypes: NumPy's dtype objects, so `t.dtype == tc.float32` and `t.dtype == np.float32` both work.
float32 = np.dtype("float32")
float64 = np.dtype("float64")
float16 = np.dtype("float16")
int64 = np.dtype("int64")
int32 = np.dtype("int32")
uint8 = np.dtype("uint8")
bool = np.dtype("bool")  # noqa: A001 - tc.bool, as torch.bool
_FLOAT_DTYPES = (float16, float32, float64)
_DTYPE_NAMES = {"float": float32, "float32": float32, "float64": float64, "double": float64,
                "float16": float16, "half": float16, "int64": int64, "long": int64,
                "int32": int32, "int": int32, "uint8": uint8, "bool": np.dtype("bool")}

MinMax = namedtuple("MinMax", ["values", "indices"])

DeviceLike = Union[str, Device, None]
Shape = Union[int, Sequence[int]]


def as_dtype(dtype: Any) -> np.dtype | None:
    """Normalise ``tc.float32``, ``np.float32`` or ``"float32"`` to a NumPy dtype (None stays None)."""
    if dtype is None:
        return None
    if isinstance(dtype, str) and dtype in _DTYPE_NAMES:
        return _DTYPE_NAMES[dtype]
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"unknown dtype {dtype!r}; use tc.float32, tc.float64, tc.int64 or tc.bool")


def is_floating_dtype(dtype: np.dtype) -> builtins.bool:
    return np.dtype(dtype) in _FLOAT_DTYPES


def check_same_device(op: str, tensors: Iterable[Tensor]) -> None:
    """Ops never move data silently: all tensors of one op must share a device."""
    devices = {t.device.type for t in tensors}
    if len(devices) > 1:
        raise RuntimeError(f"{op}: expected all tensors on the same device, got "
                           f"{sorted(devices)}; move them first with .to(device)")


class Tensor:
    """An n-dimensional array that records the operations applied to it for autograd."""

    __array_priority__ = 1000  # make `ndarray + Tensor` call Tensor.__radd__

    def __init__(self, data: Any, dtype: Any = None, device: DeviceLike = None,
                 requires_grad: builtins.bool = False):
        """Prefer :func:`tensor`; this constructor accepts the same arguments."""
        device = Device(device) if device is not None else _infer_device(data)
        xp = array_module(device)
        self.data = _to_array(data, as_dtype(dtype), xp)
        self.device = device
        self.grad: Tensor | None = None
        self._ctx = None
        self._retains_grad = False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _from_array(cls, array: Any, device: Device, requires_grad: builtins.bool = False):
        """Wrap an array without copying or checking (internal: the engine's fast path)."""
        t = cls.__new__(cls)
        t.data, t.device, t.grad, t._ctx = array, device, None, None
        t._retains_grad, t.requires_grad = False, requires_grad
        return t

    # -- attributes -------------------------------------------------------------------------
    @property
    def xp(self):
        """The array module of this tensor's device (numpy or cupy)."""
        return np if self.device.type == "cpu" else array_module(self.device)

    @property
    def shape(self) -> tuple:
        return tuple(self.data.shape)

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def is_leaf(self) -> builtins.bool:
        return self._ctx is None

    @property
    def T(self) -> Tensor:
        return self.permute(*reversed(range(self.ndim)))

    @property
    def mT(self) -> Tensor:
        return self.transpose(-2, -1)

    def dim(self) -> int:
        return self.ndim

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        return int(self.data.size)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def item(self):
        if self.numel() != 1:
            raise ValueError(f"item: only a tensor with one element can be converted to a Python "
                             f"number, got shape {self.shape}")
        return self.data.reshape(()).item()

    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (shares memory on the CPU, like PyTorch)."""
        if self.requires_grad:
            raise RuntimeError("numpy: can't call numpy() on a tensor that requires grad; "
                               "use tensor.detach().numpy()")
        return to_host(self.data)

    def tolist(self):
        return to_host(self.data).tolist()

    def __array__(self, dtype=None, copy=None):
        array = to_host(self.data)
        return array if dtype is None else array.astype(dtype)

    def __repr__(self) -> str:
        body = np.array2string(to_host(self.data), separator=", ", prefix="tensor(", precision=4)
        extras = []
        if self.device.type != "cpu":
            extras.append(f"device='{self.device}'")
        if self.dtype not in (float32, int64, np.dtype("bool")):
            extras.append(f"dtype=tinyconv.{self.dtype}")
        if self._ctx is not None:
            extras.append(f"grad_fn=<{type(self._ctx).__name__}Backward>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extras) + ")"

    def __bool__(self) -> builtins.bool:
        if self.numel() != 1:
            raise RuntimeError(f"the truth value of a tensor with {self.numel()} elements is "
                               "ambiguous; use .any() or .all()")
        return builtins.bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.kind not in "iu" or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        return int(self.item())

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    __hash__ = object.__hash__  # tensors are keys by identity (== is elementwise)

    # -- autograd ---------------------------------------------------------------------------
    def requires_grad_(self, requires_grad: builtins.bool = True) -> Tensor:
        if requires_grad and not is_floating_dtype(self.dtype):
            raise RuntimeError(f"requires_grad_: only tensors of floating point dtype can "
                               f"require gradients, got {self.dtype}")
        if not requires_grad and not self.is_leaf:
            raise RuntimeError("requires_grad_: you can only change requires_grad of leaf tensors;"
                               " use .detach() for a non-leaf")
        self.requires_grad = builtins.bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after backward."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: can't retain_grad on a tensor that doesn't require "
                               "grad")
        self._retains_grad = True

    def backward(self, gradient: Tensor | None = None,
                 retain_graph: builtins.bool = False) -> None:
        """Compute ``d(self)/d(leaf)`` for every leaf with ``requires_grad``, into ``leaf.grad``.

        ``gradient`` is ``dL/d(self)``; it may be omitted only when ``self`` has one element.
        """
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad and has no grad_fn "
                               "(did you forget requires_grad=True, or run inside no_grad()?)")
        if gradient is None:
            if self.numel() != 1:
                raise RuntimeError(f"backward: grad can be implicitly created only for scalar "
                                   f"outputs; this tensor has shape {self.shape}, so pass "
                                   f"gradient= with that shape")
            grad = self.xp.ones(self.shape, dtype=self.dtype)
        else:
            grad = gradient.data if isinstance(gradient, Tensor) else self.xp.asarray(gradient)
            if tuple(grad.shape) != self.shape:
                raise RuntimeError(f"backward: gradient has shape {tuple(grad.shape)} but the "
                                   f"tensor has shape {self.shape}")
            grad = grad.astype(self.dtype, copy=False)
        autograd.backward(self, grad, retain_graph=retain_graph)

    def detach(self) -> Tensor:
        """The same values (shared memory), cut from the graph."""
        return Tensor._from_array(self.data, self.device)

    def detach_(self) -> Tensor:
        self._ctx = None
        self.requires_grad = False
        return self

    def clone(self) -> Tensor:
        """A copy with its own memory; gradients flow back to the original."""
        return ops.Clone.apply(self)

    # -- conversion -------------------------------------------------------------------------
    def to(self, *args: Any, dtype: Any = None, device: DeviceLike = None) -> Tensor:
        """``t.to(tc.float64)``, ``t.to("cuda")`` or ``t.to("cpu", tc.float32)``.

        A dtype change is differentiable; a device change copies (also differentiable in PyTorch;
        here the copy is a new leaf cut from the graph unless the device is unchanged).
        """
        for arg in args:
            if isinstance(arg, (str, Device)):
                device = arg
            elif isinstance(arg, Tensor):
                dtype, device = arg.dtype, arg.device
            else:
                dtype = arg
        out = self
        if device is not None and Device(device) != self.device:
            xp = array_module(device)
            array = xp.asarray(to_host(self.data))
            out = Tensor._from_array(array, Device(device), requires_grad=self.requires_grad)
        dtype = as_dtype(dtype)
        if dtype is not None and dtype != out.dtype:
            out = ops.Cast.apply(out, dtype=dtype)
        return out

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    def float(self) -> Tensor:
        return self.to(float32)

    def double(self) -> Tensor:
        return self.to(float64)

    def long(self) -> Tensor:
        return self.to(int64)

    def int(self) -> Tensor:
        return self.to(int32)

    def bool(self) -> Tensor:
        return self.to(np.dtype("bool"))

    def type(self, dtype: Any = None):
        return str(self.dtype) if dtype is None else self.to(dtype)

    def contiguous(self) -> Tensor:
        return self

    # -- arithmetic -------------------------------------------------------------------------
    def _binary(self, function: type, other: Any, reverse: builtins.bool = False) -> Tensor:
        other = _as_operand(other, self, function.name)
        a, b = (other, self) if reverse else (self, other)
        _check_broadcast(function.name, a.shape, b.shape)
        a, b = _promote(a, b)
        return function.apply(a, b)

    def __add__(self, other): return self._binary(ops.Add, other)
    def __radd__(self, other): return self._binary(ops.Add, other, reverse=True)
    def __sub__(self, other): return self._binary(ops.Sub, other)
    def __rsub__(self, other): return self._binary(ops.Sub, other, reverse=True)
    def __mul__(self, other): return self._binary(ops.Mul, other)
    def __rmul__(self, other): return self._binary(ops.Mul, other, reverse=True)
    # true division of integers gives float32, not NumPy's float64 (PyTorch's rule)
    def __truediv__(self, other): return self._floating()._binary(ops.Div, other)
    def __rtruediv__(self, other): return self._floating()._binary(ops.Div, other, reverse=True)
    def __pow__(self, other): return self._binary(ops.Pow, other)
    def __rpow__(self, other): return self._binary(ops.Pow, other, reverse=True)
    def __neg__(self): return ops.Neg.apply(self)
    def __pos__(self): return self
    def __matmul__(self, other): return self.matmul(other)
    def __rmatmul__(self, other): return _as_operand(other, self, "matmul").matmul(self)

    add, sub, mul, div, pow = __add__, __sub__, __mul__, __truediv__, __pow__
    subtract, multiply, divide = sub, mul, div

    def neg(self) -> Tensor:
        return ops.Neg.apply(self)

    def matmul(self, other: Tensor) -> Tensor:
        other = _as_operand(other, self, "matmul")
        if self.ndim == 0 or other.ndim == 0:
            raise ValueError(f"matmul: both arguments need at least 1 dimension, got shapes "
                             f"{self.shape} and {other.shape}")
        if self.dtype != other.dtype:
            raise TypeError(f"matmul: expected both tensors to have the same dtype, got "
                            f"{self.dtype} and {other.dtype}")
        inner_a = self.shape[-1]
        inner_b = other.shape[0] if other.ndim == 1 else other.shape[-2]
        if inner_a != inner_b:
            raise ValueError(f"matmul: shapes {self.shape} and {other.shape} cannot be "
                             f"multiplied ({inner_a} columns vs {inner_b} rows)")
        if self.ndim > 2 or other.ndim > 2:
            _check_broadcast("matmul", self.shape[:-2], other.shape[:-2] if other.ndim > 1 else ())
        return ops.MatMul.apply(self, other)

    # -- elementwise functions ------------------------------------------------------------
    def _floating(self) -> Tensor:
        """Integer tensors become float32 before float-valued functions (as in PyTorch)."""
        return self if is_floating_dtype(self.dtype) else ops.Cast.apply(self, dtype=float32)

    def exp(self): return ops.Exp.apply(self._floating())
    def log(self): return ops.Log.apply(self._floating())
    def sqrt(self): return ops.Sqrt.apply(self._floating())
    def abs(self): return ops.Abs.apply(self)
    def sin(self): return ops.Sin.apply(self._floating())
    def cos(self): return ops.Cos.apply(self._floating())
    def tanh(self): return ops.Tanh.apply(self._floating())
    def sigmoid(self): return ops.Sigmoid.apply(self._floating())
    def relu(self): return ops.ReLU.apply(self)
    __abs__ = abs

    def clamp(self, min: float | None = None, max: float | None = None) -> Tensor:
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must be given")
        return ops.Clamp.apply(self, min=min, max=max)

    clip = clamp

    def maximum(self, other: Tensor) -> Tensor:
        return self._binary(ops.Maximum, other)

    def minimum(self, other: Tensor) -> Tensor:
        return self._binary(ops.Minimum, other)

    # -- reductions -------------------------------------------------------------------------
    def _axes(self, op: str, dim: Any, axis: Any) -> tuple:
        dim = axis if dim is None else dim
        if dim is None:
            return tuple(range(self.ndim))
        # anything but a tuple or list is one dim (_normalize_dim rejects a non-int clearly)
        dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
        axes = tuple(sorted(_normalize_dim(op, d, self.ndim) for d in dims))
        if len(set(axes)) != len(axes):
            raise ValueError(f"{op}: dim {tuple(dims)} names a dimension more than once "
                             f"(tensor of shape {self.shape})")
        # a 0-d tensor accepts dim 0 or -1 (as PyTorch) but has no axis to reduce
        return axes if self.ndim else ()

    def sum(self, dim=None, keepdim=False, *, axis=None, keepdims=None, dtype=None) -> Tensor:
        source = self.to(dtype) if dtype is not None else self
        if source.dtype == np.dtype("bool"):
            source = source.to(int64)
        return ops.Sum.apply(source, axes=self._axes("sum", dim, axis),
                             keepdim=keepdims if keepdims is not None else keepdim)

    def mean(self, dim=None, keepdim=False, *, axis=None, keepdims=None) -> Tensor:
        if not is_floating_dtype(self.dtype):
            raise TypeError(f"mean: input dtype should be floating point, got {self.dtype}")
        return ops.Mean.apply(self, axes=self._axes("mean", dim, axis),
                              keepdim=keepdims if keepdims is not None else keepdim)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None,
            keepdims=None) -> Tensor:
        if correction is None:
            correction = 0 if unbiased is False else 1
        return ops.Var.apply(self, axes=self._axes("var", dim, axis),
                             keepdim=keepdims if keepdims is not None else keepdim,
                             correction=correction)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None,
            keepdims=None) -> Tensor:
        return self.var(dim, unbiased, keepdim, correction=correction, axis=axis,
                        keepdims=keepdims).sqrt()

    def amax(self, dim=None, keepdim=False, *, axis=None, keepdims=None) -> Tensor:
        self._check_nonempty("amax")
        return ops.Amax.apply(self, axes=self._axes("amax", dim, axis),
                              keepdim=keepdims if keepdims is not None else keepdim)

    def amin(self, dim=None, keepdim=False, *, axis=None, keepdims=None) -> Tensor:
        self._check_nonempty("amin")
        return ops.Amin.apply(self, axes=self._axes("amin", dim, axis),
                              keepdim=keepdims if keepdims is not None else keepdim)

    def max(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        """``t.max()``: the largest value. ``t.max(dim)``: ``(values, indices)`` along ``dim``.

        ``t.max(other_tensor)`` is the elementwise maximum, as in PyTorch.
        """
        if isinstance(dim, Tensor):
            return self.maximum(dim)
        return self._extreme("max", dim, axis, keepdims if keepdims is not None else keepdim)

    def min(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        if isinstance(dim, Tensor):
            return self.minimum(dim)
        return self._extreme("min", dim, axis, keepdims if keepdims is not None else keepdim)

    def _extreme(self, op: str, dim: Any, axis: Any, keepdim: builtins.bool):
        self._check_nonempty(op)
        dim = axis if dim is None else dim
        if dim is None:  # over everything: ties share the gradient
            return self.amax() if op == "max" else self.amin()
        d = _normalize_dim(op, dim, self.ndim)
        if self.ndim == 0:  # dim 0 of a 0-d tensor (allowed, as PyTorch): the value itself
            return MinMax(self.clone(), self._arg("arg" + op, d, keepdim))
        indices = self.argmax(d, keepdim=True) if op == "max" else self.argmin(d, keepdim=True)
        values = ops.TakeAlongDim.apply(self, indices=indices.data, axis=d)
        if not keepdim:
            values, indices = values.squeeze(d), indices.squeeze(d)
        return MinMax(values, indices)

    def _check_nonempty(self, op: str) -> None:
        if self.numel() == 0:
            raise RuntimeError(f"{op}: cannot reduce an empty tensor of shape {self.shape}")

    def argmax(self, dim=None, keepdim=False, *, axis=None) -> Tensor:
        return self._arg("argmax", dim if dim is not None else axis, keepdim)

    def argmin(self, dim=None, keepdim=False, *, axis=None) -> Tensor:
        return self._arg("argmin", dim if dim is not None else axis, keepdim)

    def _arg(self, op: str, dim: Any, keepdim: builtins.bool) -> Tensor:
        self._check_nonempty(op)
        find = self.xp.argmax if op == "argmax" else self.xp.argmin
        if dim is not None:
            _normalize_dim(op, dim, self.ndim)
        if dim is None or self.ndim == 0:  # a 0-d tensor's only index is 0, whatever dim says
            result = find(self.data.reshape(-1))
            if keepdim:
                result = result.reshape((1,) * self.ndim)
        else:
            result = find(self.data, axis=_normalize_dim(op, dim, self.ndim), keepdims=keepdim)
        return Tensor._from_array(self.xp.asarray(result, dtype=np.int64), self.device)

    def logsumexp(self, dim=None, keepdim=False, *, axis=None, keepdims=None) -> Tensor:
        return ops.LogSumExp.apply(self, axes=self._axes("logsumexp", dim, axis),
                                   keepdim=keepdims if keepdims is not None else keepdim)

    def all(self) -> Tensor:
        return Tensor._from_array(self.xp.asarray(self.data.all()), self.device)

    def any(self) -> Tensor:
        return Tensor._from_array(self.xp.asarray(self.data.any()), self.device)

    # -- comparisons (not differentiable) ----------------------------------------------------
    def _compare(self, other: Any, compare: str) -> Tensor:
        other_array = other.data if isinstance(other, Tensor) else other
        if isinstance(other, Tensor):
            check_same_device(compare, (self, other))
            _check_broadcast(compare, self.shape, other.shape)
        result = getattr(self.data, f"__{compare}__")(other_array)
        return Tensor._from_array(self.xp.asarray(result), self.device)

    def __eq__(self, other): return self._compare(other, "eq")  # type: ignore[override]
    def __ne__(self, other): return self._compare(other, "ne")  # type: ignore[override]
    def __lt__(self, other): return self._compare(other, "lt")
    def __le__(self, other): return self._compare(other, "le")
    def __gt__(self, other): return self._compare(other, "gt")
    def __ge__(self, other): return self._compare(other, "ge")
    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__

    def _logical(self, other: Any, op: str) -> Tensor:
        other_array = other.data if isinstance(other, Tensor) else other
        return Tensor._from_array(getattr(self.data, op)(other_array), self.device)

    def __and__(self, other): return self._logical(other, "__and__")
    def __or__(self, other): return self._logical(other, "__or__")
    def __xor__(self, other): return self._logical(other, "__xor__")

    def __invert__(self) -> Tensor:
        return Tensor._from_array(~self.data, self.device)

    def equal(self, other: Tensor) -> builtins.bool:
        return self.shape == other.shape and builtins.bool((self.data == other.data).all())

    def allclose(self, other: Tensor, rtol: float = 1e-5, atol: float = 1e-8) -> builtins.bool:
        return builtins.bool(self.xp.allclose(self.data, other.data, rtol=rtol, atol=atol))

    # -- shape operations -------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        shape = _shape_args(shape)
        known = [s for s in shape if s != -1]
        size = int(np.prod(known)) if known else 1
        if shape.count(-1) > 1 or (-1 not in shape and size != self.numel()) or \
                (-1 in shape and (size == 0 or self.numel() % size != 0)):
            raise ValueError(f"reshape: shape {tuple(shape)} is invalid for input of size "
                             f"{self.numel()} (shape {self.shape})")
        return ops.Reshape.apply(self, shape=tuple(shape))

    view = reshape

    def view_as(self, other: Tensor) -> Tensor:
        return self.reshape(other.shape)

    def permute(self, *dims: Any) -> Tensor:
        dims = tuple(_normalize_dim("permute", d, self.ndim) for d in _shape_args(dims))
        if sorted(dims) != list(range(self.ndim)):
            raise ValueError(f"permute: dims {dims} are not a permutation of the {self.ndim} "
                             f"dimensions of a tensor of shape {self.shape}")
        return ops.Permute.apply(self, dims=dims)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        dims = list(range(self.ndim))
        d0, d1 = _normalize_dim("transpose", dim0, self.ndim), _normalize_dim("transpose", dim1,
                                                                              self.ndim)
        dims[d0], dims[d1] = dims[d1], dims[d0]
        return ops.Permute.apply(self, dims=tuple(dims))

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        if self.ndim == 0:
            return self.reshape(1)
        start = _normalize_dim("flatten", start_dim, self.ndim)
        end = _normalize_dim("flatten", end_dim, self.ndim)
        if start > end:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
        middle = int(np.prod(self.shape[start:end + 1]))
        return self.reshape(self.shape[:start] + (middle,) + self.shape[end + 1:])

    def squeeze(self, dim: int | None = None) -> Tensor:
        if dim is None:
            return self.reshape(tuple(s for s in self.shape if s != 1))
        dims = (dim,) if isinstance(dim, numbers.Integral) else tuple(dim)
        dims = {_normalize_dim("squeeze", d, self.ndim) for d in dims}
        return self.reshape(tuple(s for i, s in enumerate(self.shape)
                                  if not (i in dims and s == 1)))

    def unsqueeze(self, dim: int) -> Tensor:
        d = _normalize_dim("unsqueeze", dim, self.ndim + 1)
        return self.reshape(self.shape[:d] + (1,) + self.shape[d:])

    def expand(self, *sizes: Any) -> Tensor:
        sizes = _shape_args(sizes)
        if len(sizes) < self.ndim:
            raise ValueError(f"expand: the number of sizes ({len(sizes)}) must be at least the "
                             f"number of dimensions ({self.ndim}) of shape {self.shape}")
        offset = len(sizes) - self.ndim
        target = []
        for i, size in enumerate(sizes):
            current = self.shape[i - offset] if i >= offset else None
            if size == -1:
                if current is None:
                    raise ValueError("expand: -1 is not allowed for a new leading dimension")
                size = current
            if current is not None and current != 1 and current != size:
                raise ValueError(f"expand: the expanded size {size} must match the existing "
                                 f"size {current} at dimension {i} (shape {self.shape})")
            target.append(size)
        return ops.Expand.apply(self, shape=tuple(target))

    def expand_as(self, other: Tensor) -> Tensor:
        return self.expand(*other.shape)

    def repeat(self, *sizes: Any) -> Tensor:
        sizes = _shape_args(sizes)
        t = self.reshape((1,) * (len(sizes) - self.ndim) + self.shape)
        # repeat = expand along a new axis next to each dimension, then merge the pairs
        expanded_shape, merged_shape = [], []
        for count, size in zip(sizes, t.shape):
            expanded_shape += [count, size]
            merged_shape.append(count * size)
        interleaved = t.reshape(tuple(x for size in t.shape for x in (1, size)))
        return interleaved.expand(*expanded_shape).reshape(tuple(merged_shape))

    def __getitem__(self, index: Any) -> Tensor:
        return ops.GetItem.apply(self, index=_array_index(index, self))

    def __setitem__(self, index: Any, value: Any) -> None:
        self._check_inplace("__setitem__")
        value = value.data if isinstance(value, Tensor) else value
        self.data[_array_index(index, self)] = value

    def split(self, split_size_or_sections, dim: int = 0) -> tuple:
        return split(self, split_size_or_sections, dim)

    def chunk(self, chunks: int, dim: int = 0) -> tuple:
        size = -(-self.shape[dim] // chunks)
        return split(self, size, dim)

    # -- in-place updates (for initialisation and optimizers; never recorded in the graph) ----
    def _check_inplace(self, op: str) -> None:
        if self.requires_grad and self.is_leaf and autograd.is_grad_enabled():
            raise RuntimeError(f"{op}: a leaf tensor that requires grad is being used in an "
                               "in-place operation; wrap it in tc.no_grad()")

    def _inplace(self, op: str, values: Any) -> Tensor:
        self._check_inplace(op)
        values = values.data if isinstance(values, Tensor) else values
        self.data[...] = values
        return self

    def zero_(self) -> Tensor:
        return self._inplace("zero_", 0)

    def fill_(self, value: float) -> Tensor:
        return self._inplace("fill_", value)

    def copy_(self, source: Tensor) -> Tensor:
        source = source.data if isinstance(source, Tensor) else self.xp.asarray(source)
        if tuple(source.shape) != self.shape:
            source = self.xp.broadcast_to(source, self.shape)
        return self._inplace("copy_", source)

    def add_(self, other: Any, alpha: float = 1) -> Tensor:
        other = other.data if isinstance(other, Tensor) else other
        return self._inplace("add_", self.data + alpha * other)

    def sub_(self, other: Any, alpha: float = 1) -> Tensor:
        return self.add_(other, alpha=-alpha)

    def mul_(self, other: Any) -> Tensor:
        other = other.data if isinstance(other, Tensor) else other
        return self._inplace("mul_", self.data * other)

    def div_(self, other: Any) -> Tensor:
        other = other.data if isinstance(other, Tensor) else other
        return self._inplace("div_", self.data / other)

    def clamp_(self, min: float | None = None, max: float | None = None) -> Tensor:
        return self._inplace("clamp_", self.xp.clip(self.data, min, max))

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> Tensor:
        return self._inplace("uniform_", _random_array("uniform", self.shape, self.dtype,
                                                       self.device, low=a, high=b))

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> Tensor:
        return self._inplace("normal_", _random_array("normal", self.shape, self.dtype,
                                                      self.device, loc=mean, scale=std))


# ---------------------------------------------------------------------------------------------
# Helpers used by the methods above
# ---------------------------------------------------------------------------------------------


def _normalize_dim(op: str, dim: Any, ndim: int) -> int:
    if not isinstance(dim, numbers.Integral):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    bound = builtins.max(ndim, 1)
    if not -bound <= dim < bound:
        raise IndexError(f"{op}: dimension {dim} is out of range for a tensor with {ndim} "
                         f"dimensions (expected -{bound} <= dim < {bound})")
    return int(dim) % bound


def _shape_args(args: tuple) -> list:
    """Accept ``f(2, 3)``, ``f((2, 3))`` and ``f([2, 3])`` alike."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    for a in args:
        if not isinstance(a, numbers.Integral):
            raise TypeError(f"sizes must be ints, got {args!r}")
    return [int(a) for a in args]


def _check_broadcast(op: str, shape_a: tuple, shape_b: tuple) -> None:
    try:
        np.broadcast_shapes(tuple(shape_a), tuple(shape_b))
    except ValueError:
        raise ValueError(f"{op}: shapes {tuple(shape_a)} and {tuple(shape_b)} cannot be broadcast "
                         "together (compared from the right, each pair of sizes must be equal "
                         "or contain a 1)") from None


def _scalar_like(value: Any, like: Tensor) -> Tensor:
    """A Python number as a 0-d tensor whose dtype follows PyTorch's promotion with ``like``:
    a number never widens a float tensor; a float number makes an integer tensor float32."""
    if is_floating_dtype(like.dtype):
        dtype = like.dtype
    elif isinstance(value, builtins.bool):
        dtype = like.dtype
    elif isinstance(value, numbers.Integral):
        dtype = like.dtype if like.dtype != np.dtype("bool") else int64
    else:
        dtype = float32
    return Tensor._from_array(like.xp.asarray(value, dtype=dtype), like.device)


def _as_operand(value: Any, like: Tensor, op: str) -> Tensor:
    if isinstance(value, Tensor):
        return value
    if isinstance(value, numbers.Number):
        return _scalar_like(value, like)
    if isinstance(value, (np.ndarray, list, tuple)):
        return tensor(value, device=like.device)
    raise TypeError(f"{op}: unsupported operand type {type(value).__name__}")


def _promote(a: Tensor, b: Tensor) -> tuple:
    """Cast two operands to their common dtype (differentiably), as PyTorch does."""
    if a.dtype == b.dtype:
        return a, b
    common = np.promote_types(a.dtype, b.dtype)
    if not is_floating_dtype(a.dtype) and not is_floating_dtype(b.dtype):
        pass
    elif common not in _FLOAT_DTYPES:
        common = float32
    elif not is_floating_dtype(a.dtype) or not is_floating_dtype(b.dtype):
        # int tensor with float tensor: the float tensor's dtype wins (int64 + float32 = float32)
        common = a.dtype if is_floating_dtype(a.dtype) else b.dtype
    a = a if a.dtype == common else ops.Cast.apply(a, dtype=common)
    b = b if b.dtype == common else ops.Cast.apply(b, dtype=common)
    return a, b


def _array_index(index: Any, like: Tensor) -> Any:
    """Turn tensors inside an index into arrays (for integer-array and boolean-mask indexing)."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(_array_index(i, like) for i in index)
    if isinstance(index, list):
        return like.xp.asarray(index)
    return index


def _infer_device(data: Any) -> Device:
    if isinstance(data, Tensor):
        return data.device
    if isinstance(data, (np.ndarray, np.generic, list, tuple, numbers.Number)):
        return Device("cpu")
    return device_of_array(data)


def _to_array(data: Any, dtype: np.dtype | None, xp: Any) -> Any:
    """Copy ``data`` into a new array on the device of ``xp``, with PyTorch's default dtypes:
    Python floats become float32 and Python ints int64; arrays keep their dtype."""
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, (np.ndarray, np.generic)) or hasattr(data, "__cuda_array_interface__"):
        same_module = device_of_array(data).type == ("cpu" if xp is np else "cuda")
        array = xp.array(data if same_module else to_host(data), copy=True)
    else:  # Python numbers and (nested) lists
        host = np.array(data)
        if dtype is None and host.dtype == np.float64:
            host = host.astype(np.float32)
        elif dtype is None and host.dtype.kind in "iu":
            host = host.astype(np.int64)
        array = xp.asarray(host)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"tensor: cannot make a tensor from data of dtype {array.dtype}")
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    return array


# ---------------------------------------------------------------------------------------------
# Creation functions (tc.tensor, tc.zeros, ...)
# ---------------------------------------------------------------------------------------------


def tensor(data: Any, dtype: Any = None, device: DeviceLike = None,
           requires_grad: builtins.bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, numbers, arrays or a tensor)."""
    return Tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)


def _filled(fill: Any, size: tuple, dtype: Any, device: DeviceLike,
            requires_grad: builtins.bool) -> Tensor:
    device = Device(device or "cpu")
    dtype = as_dtype(dtype) or float32
    array = array_module(device).full(tuple(_shape_args(size)), fill, dtype=dtype)
    t = Tensor._from_array(array, device)
    return t.requires_grad_(True) if requires_grad else t


def zeros(*size: Any, dtype: Any = None, device: DeviceLike = None,
          requires_grad: builtins.bool = False) -> Tensor:
    return _filled(0, size, dtype, device, requires_grad)


def ones(*size: Any, dtype: Any = None, device: DeviceLike = None,
         requires_grad: builtins.bool = False) -> Tensor:
    return _filled(1, size, dtype, device, requires_grad)


def empty(*size: Any, dtype: Any = None, device: DeviceLike = None,
          requires_grad: builtins.bool = False) -> Tensor:
    # zero-filled rather than uninitialised: same speed here, and no stale values to confuse anyone
    return _filled(0, size, dtype, device, requires_grad)


def full(size: Shape, fill_value: float, dtype: Any = None, device: DeviceLike = None,
         requires_grad: builtins.bool = False) -> Tensor:
    if dtype is None:
        dtype = float32 if isinstance(fill_value, float) else \
            np.dtype("bool") if isinstance(fill_value, builtins.bool) else int64
    size = (size,) if isinstance(size, numbers.Integral) else tuple(size)
    return _filled(fill_value, size, dtype, device, requires_grad)


def zeros_like(t: Tensor, dtype: Any = None, device: DeviceLike = None,
               requires_grad: builtins.bool = False) -> Tensor:
    return zeros(t.shape, dtype=dtype or t.dtype, device=device or t.device,
                 requires_grad=requires_grad)


def ones_like(t: Tensor, dtype: Any = None, device: DeviceLike = None,
              requires_grad: builtins.bool = False) -> Tensor:
    return ones(t.shape, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def full_like(t: Tensor, fill_value: float, dtype: Any = None, device: DeviceLike = None,
              requires_grad: builtins.bool = False) -> Tensor:
    return full(t.shape, fill_value, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def empty_like(t: Tensor, dtype: Any = None, device: DeviceLike = None,
               requires_grad: builtins.bool = False) -> Tensor:
    return zeros_like(t, dtype=dtype, device=device, requires_grad=requires_grad)


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None,
           device: DeviceLike = None, requires_grad: builtins.bool = False) -> Tensor:
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    all_ints = builtins.all(isinstance(v, numbers.Integral) for v in (start, end, step))
    dtype = as_dtype(dtype) or (int64 if all_ints else float32)
    array = np.arange(start, end, step, dtype=np.float64 if not all_ints else np.int64)
    return tensor(array.astype(dtype), device=device, requires_grad=requires_grad)


def linspace(start: float, end: float, steps: int, dtype: Any = None, device: DeviceLike = None,
             requires_grad: builtins.bool = False) -> Tensor:
    array = np.linspace(start, end, steps).astype(as_dtype(dtype) or float32)
    return tensor(array, device=device, requires_grad=requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, device: DeviceLike = None,
        requires_grad: builtins.bool = False) -> Tensor:
    array = np.eye(n, m, dtype=as_dtype(dtype) or float32)
    return tensor(array, device=device, requires_grad=requires_grad)


def from_numpy(array: np.ndarray) -> Tensor:
    """A CPU tensor sharing memory with ``array`` (as ``torch.from_numpy``)."""
    return Tensor._from_array(array, Device("cpu"))


# -- random numbers: one generator for the whole library, seeded by tc.manual_seed -------------

_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> None:
    """Seed every random source of tinyconv (initialisation, dropout, shuffling, tc.rand...)."""
    global _generator
    _generator = np.random.default_rng(seed)


def default_generator() -> np.random.Generator:
    """The library's NumPy generator (draws happen on the host, so CPU and GPU runs agree)."""
    return _generator


def _random_array(kind: str, shape: tuple, dtype: Any, device: DeviceLike, **params: Any):
    host = getattr(_generator, kind)(size=tuple(shape), **params)
    host = host.astype(as_dtype(dtype), copy=False)
    return array_module(Device(device or "cpu")).asarray(host)


def _random_tensor(kind: str, size: tuple, dtype: Any, device: DeviceLike,
                   requires_grad: builtins.bool, **params: Any) -> Tensor:
    dtype = as_dtype(dtype) or float32
    if kind in ("uniform", "normal") and not is_floating_dtype(dtype):
        raise TypeError(f"{kind}: dtype must be floating point, got {dtype}")
    device = Device(device or "cpu")
    t = Tensor._from_array(_random_array(kind, size, dtype, device, **params), device)
    return t.requires_grad_(True) if requires_grad else t


def rand(*size: Any, dtype: Any = None, device: DeviceLike = None,
         requires_grad: builtins.bool = False) -> Tensor:
    """Uniform on [0, 1)."""
    return _random_tensor("uniform", tuple(_shape_args(size)), dtype, device, requires_grad)


def randn(*size: Any, dtype: Any = None, device: DeviceLike = None,
          requires_grad: builtins.bool = False) -> Tensor:
    """Standard normal."""
    return _random_tensor("normal", tuple(_shape_args(size)), dtype, device, requires_grad)


def randint(low: int, high: int | None = None, size: Shape = (), dtype: Any = None,
            device: DeviceLike = None) -> Tensor:
    """Integers uniform on [low, high) (``randint(high, size)`` means low = 0)."""
    if high is None:
        low, high = 0, low
    elif not isinstance(high, numbers.Integral):  # randint(high, size), as torch.randint(5, (3,))
        low, high, size = 0, low, high
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    size = (size,) if isinstance(size, numbers.Integral) else tuple(size)
    return _random_tensor("integers", size, dtype or int64, device, False, low=low, high=high)


def rand_like(t: Tensor, dtype: Any = None, device: DeviceLike = None) -> Tensor:
    return rand(t.shape, dtype=dtype or t.dtype, device=device or t.device)


def randn_like(t: Tensor, dtype: Any = None, device: DeviceLike = None) -> Tensor:
    return randn(t.shape, dtype=dtype or t.dtype, device=device or t.device)


def randperm(n: int, device: DeviceLike = None) -> Tensor:
    return tensor(_generator.permutation(n).astype(np.int64), device=device)


# ---------------------------------------------------------------------------------------------
# Functions on several tensors
# ---------------------------------------------------------------------------------------------


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing dimension."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    first = tensors[0]
    d = _normalize_dim("cat", dim, first.ndim)
    for i, t in enumerate(tensors):
        if t.ndim != first.ndim or t.shape[:d] + t.shape[d + 1:] != \
                first.shape[:d] + first.shape[d + 1:]:
            raise ValueError(f"cat: tensor {i} has shape {t.shape} but tensor 0 has shape "
                             f"{first.shape}; all sizes except dimension {d} must match")
    common = np.result_type(*[t.dtype for t in tensors])
    tensors = [t if t.dtype == common else t.to(common) for t in tensors]
    return ops.Cat.apply(*tensors, axis=d)


concat = cat


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join equally shaped tensors along a new dimension."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: tensor {i} has shape {t.shape} but tensor 0 has shape "
                             f"{tensors[0].shape}; stack needs equal shapes")
    d = _normalize_dim("stack", dim, tensors[0].ndim + 1)
    return cat([t.unsqueeze(d) for t in tensors], dim=d)


def split(t: Tensor, split_size_or_sections: int | Sequence[int], dim: int = 0) -> tuple:
    """Cut ``t`` along ``dim`` into chunks of one size, or of the listed sizes."""
    d = _normalize_dim("split", dim, t.ndim)
    length = t.shape[d]
    if isinstance(split_size_or_sections, numbers.Integral):
        if split_size_or_sections <= 0:
            raise ValueError(f"split: split_size must be positive, got {split_size_or_sections}")
        sizes = [split_size_or_sections] * (length // split_size_or_sections)
        if length % split_size_or_sections:
            sizes.append(length % split_size_or_sections)
    else:
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != length:
            raise ValueError(f"split: sections {sizes} sum to {builtins.sum(sizes)} but "
                             f"dimension {d} has size {length}")
    pieces, start = [], 0
    for size in sizes:
        index = (slice(None),) * d + (slice(start, start + size),)
        pieces.append(t[index])
        start += size
    return tuple(pieces)


def where(condition: Tensor, input: Any, other: Any) -> Tensor:
    """``input`` where ``condition`` is true, else ``other`` (differentiable in both)."""
    if not isinstance(condition, Tensor) or condition.dtype != np.dtype("bool"):
        raise TypeError("where: condition must be a bool tensor")
    like = input if isinstance(input, Tensor) else other if isinstance(other, Tensor) else None
    if like is None:
        like = tensor(input)
    a, b = _as_operand(input, like, "where"), _as_operand(other, like, "where")
    _check_broadcast("where", a.shape, b.shape)
    _check_broadcast("where", condition.shape, np.broadcast_shapes(a.shape, b.shape))
    a, b = _promote(a, b)
    check_same_device("where", (condition, a, b))
    return ops.Where.apply(a, b, condition=condition.data)


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float = 0.0) -> Tensor:
    """Constant padding with PyTorch's order: ``pad`` lists (before, after) pairs starting from the
    LAST dimension, e.g. ``(left, right, top, bottom)`` for an image."""
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
    return ops.Pad.apply(input, widths=tuple(widths), value=value)


# Functional forms of the methods, as in the torch namespace
def _method(name: str):
    def function(input: Tensor, *args: Any, **kwargs: Any):
        return getattr(input, name)(*args, **kwargs)
    function.__name__ = name
    function.__doc__ = f"``tc.{name}(t, ...)`` is ``t.{name}(...)``."
    return function


for _name in ("exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu", "clamp",
              "clip", "maximum", "minimum", "matmul", "sum", "mean", "var", "std", "amax", "amin",
              "max", "min", "argmax", "argmin", "logsumexp", "reshape", "transpose", "permute",
              "flatten", "squeeze", "unsqueeze", "neg", "add", "sub", "mul", "div", "pow",
              "eq", "ne", "lt", "le", "gt", "ge", "allclose", "equal", "chunk"):
    globals()[_name] = _method(_name)
del _name

is_tensor = lambda obj: isinstance(obj, Tensor)  # noqa: E731
