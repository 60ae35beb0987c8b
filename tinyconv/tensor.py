"""The Tensor: an array (NumPy or CuPy) plus the bookkeeping reverse-mode autograd needs.

A tensor holds

- ``data``: its values, an ndarray of its device's array module. (PyTorch's ``.data`` is a tensor;
  here it is the raw array, which is what the engine and the optimizers work on.)
- ``device``: where ``data`` lives (``"cpu"``: a NumPy array, ``"cuda"``: a CuPy array);
- ``requires_grad``: whether gradients should flow to it;
- ``grad``: after ``backward()``, a Tensor with ``dL/d(self)`` (leaves only, unless
  ``retain_grad()``);
- ``_ctx``: the :class:`~tinyconv.autograd.Function` that produced it (``None`` for a leaf).

Every differentiable method below calls ``SomeFunction.apply(...)`` from :mod:`tinyconv.ops`, where
the forward and backward rules live side by side. This module holds the class only: dtypes are in
:mod:`tinyconv.dtypes`, ``tc.tensor``/``tc.zeros``/``tc.randn``... in :mod:`tinyconv.creation`,
``tc.cat``/``tc.where``/``tc.exp``... in :mod:`tinyconv.functions`.

Shapes in the docstrings: ``(*)`` is any shape; ``(*, n)`` any shape ending in ``n``.
"""

from __future__ import annotations

import builtins
import numbers
from collections import namedtuple
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from tinyconv import autograd, ops
from tinyconv.autograd import check_same_device
from tinyconv.backend import Device, array_module, device_of_array, to_host
from tinyconv.dtypes import (
    FLOAT_DTYPES,
    as_dtype,
    float32,
    float64,
    int32,
    int64,
    is_floating_dtype,
)
from tinyconv.random import random_array
from tinyconv.shapes import check_broadcast, normalize_dim, shape_args

__all__ = ["Tensor", "MinMax", "check_tensor"]

MinMax = namedtuple("MinMax", ["values", "indices"])
MinMax.__doc__ = "What ``t.max(dim)`` and ``t.min(dim)`` return: ``(values, indices)``."

DeviceLike = str | Device | None

_CPU = Device("cpu")
_BOOL = np.dtype("bool")  # the method Tensor.bool shadows the name inside the class body


class Tensor:
    """An n-dimensional array that records the operations applied to it for autograd.

    Build one with :func:`tinyconv.tensor` (``tc.tensor([[1.0, 2.0]])``) or a creation function
    (``tc.zeros``, ``tc.randn``...). ``Tensor(data, ...)`` accepts the same arguments.
    """

    __array_priority__ = 1000  # make `ndarray + Tensor` call Tensor.__radd__

    def __init__(self, data: Any, dtype: Any = None, device: DeviceLike = None,
                 requires_grad: builtins.bool = False):
        """Prefer :func:`tinyconv.tensor`; this constructor accepts the same arguments."""
        # what the data is gets checked before the device: tc.tensor("abc", device="cuda") is a
        # TypeError about the data, not an error about the GPU
        source_device = _device_of_data(data)
        device = Device(device) if device is not None else source_device
        xp = array_module(device)
        self.data = _to_array(data, as_dtype(dtype), xp, source_device)
        self.device = device
        self.grad: Tensor | None = None
        self._ctx: autograd.Function | None = None
        self._retains_grad = False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _from_array(cls, array: Any, device: Device,
                    requires_grad: builtins.bool = False) -> Tensor:
        """Wrap an array without copying or checking (internal: the engine's fast path)."""
        t = cls.__new__(cls)
        t.data, t.device, t.grad, t._ctx = array, device, None, None
        t._retains_grad, t.requires_grad = False, requires_grad
        return t

    def _wrap(self, array: Any) -> Tensor:
        """A new plain Tensor around ``array``, on the device the array lives on.

        The engine makes every result and gradient with it (see ``autograd.GraphTensor``); a
        Parameter's results are plain Tensors.
        """
        on_cpu = isinstance(array, (np.ndarray, np.generic))
        same_device = on_cpu == (self.device.type == "cpu")
        return Tensor._from_array(array, self.device if same_device else device_of_array(array))

    # -- attributes -------------------------------------------------------------------------
    @property
    def xp(self) -> Any:
        """The array module of this tensor's device (``numpy`` or ``cupy``)."""
        return np if self.device.type == "cpu" else array_module(self.device)

    @property
    def shape(self) -> tuple[int, ...]:
        """The size of each dimension, e.g. ``(N, C, H, W)``."""
        return tuple(self.data.shape)

    @property
    def ndim(self) -> int:
        """The number of dimensions (``len(t.shape)``)."""
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        """The element type (``tc.float32``, ``tc.int64``...: NumPy dtype objects)."""
        return self.data.dtype

    @property
    def is_leaf(self) -> builtins.bool:
        """True when no recorded op made this tensor (user-created, or made without a graph)."""
        return self._ctx is None

    @property
    def is_cuda(self) -> builtins.bool:
        """True when the tensor lives on a GPU."""
        return self.device.type == "cuda"

    @property
    def T(self) -> Tensor:
        """All dimensions reversed: ``(d0, ..., dk) -> (dk, ..., d0)``."""
        return self.permute(*reversed(range(self.ndim)))

    @property
    def mT(self) -> Tensor:
        """The last two dimensions swapped: ``(*, m, n) -> (*, n, m)``."""
        return self.transpose(-2, -1)

    def dim(self) -> int:
        """The number of dimensions, as ``t.ndim``."""
        return self.ndim

    def size(self, dim: int | None = None) -> tuple[int, ...] | int:
        """The shape, or with ``dim`` the size of that dimension."""
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        """The number of elements (the product of the shape)."""
        return int(self.data.size)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def item(self) -> builtins.float | builtins.int | builtins.bool:
        """The value of a one-element tensor (any shape with one element) as a Python number."""
        if self.numel() != 1:
            raise ValueError(f"item: only a tensor with one element can be converted to a Python "
                             f"number, got shape {self.shape}")
        return self.data.reshape(()).item()

    def numpy(self) -> np.ndarray:
        """The values as a NumPy array, same shape; shares memory (CPU tensors only, as PyTorch).

        A GPU tensor must be copied to the host first, explicitly: ``t.cpu().numpy()``.
        """
        if self.requires_grad:
            raise RuntimeError("numpy: can't call numpy() on a tensor that requires grad; "
                               "use tensor.detach().numpy()")
        self._check_on_cpu("numpy")
        return np.asarray(self.data)

    def tolist(self) -> list | builtins.float | builtins.int | builtins.bool:
        """The values as (nested) Python lists, or a number for a 0-d tensor (copies from a GPU)."""
        return to_host(self.data).tolist()

    def __array__(self, dtype: Any = None, copy: builtins.bool | None = None) -> np.ndarray:
        # np.asarray(t) works on CPU tensors; a GPU tensor must be moved with .cpu() first
        self._check_on_cpu("__array__")
        array = np.asarray(self.data)
        return array if dtype is None else array.astype(dtype)

    def _check_on_cpu(self, op: str) -> None:
        if self.device.type != "cpu":
            raise TypeError(f"{op}: can't convert a tensor on device '{self.device}' to a NumPy "
                            "array; copy it to the host first with .cpu()")

    def __dlpack__(self, **kwargs: Any) -> Any:
        """Export the data as a DLPack capsule (``torch.from_dlpack(t)``); shares memory.

        Keyword arguments (``stream``, ``max_version``...) are passed to the array's own
        ``__dlpack__``. As in PyTorch, a tensor that requires grad must be detached first.
        """
        if self.requires_grad:
            raise RuntimeError("__dlpack__: can't export a tensor that requires grad; use "
                               "tensor.detach()")
        return self.xp.asarray(self.data).__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        """``(device type, device index)`` in DLPack's codes (1: CPU, 2: CUDA)."""
        return self.xp.asarray(self.data).__dlpack_device__()

    def __repr__(self) -> str:
        body = np.array2string(to_host(self.data), separator=", ", prefix="tensor(", precision=4)
        extras = []
        if self.device.type != "cpu":
            extras.append(f"device='{self.device}'")
        if self.dtype not in (float32, int64, _BOOL):
            extras.append(f"dtype=tinyconv.{self.dtype}")
        if self._ctx is not None:
            name = type(self._ctx).__name__.removesuffix("Function")
            extras.append(f"grad_fn=<{name}Backward>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extras) + ")"

    def __bool__(self) -> builtins.bool:
        if self.numel() != 1:
            raise RuntimeError(f"the truth value of a tensor with {self.numel()} elements is "
                               "ambiguous; use .any() or .all()")
        return builtins.bool(self.item())

    def __float__(self) -> builtins.float:
        return builtins.float(self.item())

    def __int__(self) -> builtins.int:
        return builtins.int(self.item())

    def __index__(self) -> builtins.int:
        if self.dtype.kind not in "iu" or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        return builtins.int(self.item())

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    __hash__ = object.__hash__  # tensors are keys by identity (== is elementwise)

    # -- autograd ---------------------------------------------------------------------------
    def requires_grad_(self, requires_grad: builtins.bool = True) -> Tensor:
        """Start (or, for a leaf, stop) recording operations on this tensor; returns ``self``."""
        if requires_grad and not is_floating_dtype(self.dtype):
            raise RuntimeError(f"requires_grad_: only tensors of floating point dtype can "
                               f"require gradients, got {self.dtype}")
        if not requires_grad and not self.is_leaf:
            raise RuntimeError("requires_grad_: you can only change requires_grad of leaf tensors;"
                               " use .detach() for a non-leaf")
        self.requires_grad = builtins.bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` (same shape as the tensor) for this non-leaf tensor after backward."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: can't retain_grad on a tensor that doesn't require "
                               "grad")
        self._retains_grad = True

    def backward(self, gradient: Tensor | None = None,
                 retain_graph: builtins.bool = False) -> None:
        """Compute ``d(self)/d(leaf)`` for every leaf with ``requires_grad``, into ``leaf.grad``.

        ``gradient`` is ``dL/d(self)``, the same shape as ``self``; it may be omitted only when
        ``self`` has one element.
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
            if isinstance(gradient, Tensor):
                check_same_device("backward", (self, gradient))
                grad = gradient.data
            else:
                grad = self.xp.asarray(gradient)
            if tuple(grad.shape) != self.shape:
                raise RuntimeError(f"backward: gradient has shape {tuple(grad.shape)} but the "
                                   f"tensor has shape {self.shape}")
            grad = grad.astype(self.dtype, copy=False)
        autograd.backward(self, grad, retain_graph=retain_graph)

    def detach(self) -> Tensor:
        """The same values (shared memory, same shape), cut from the graph."""
        return Tensor._from_array(self.data, self.device)

    def detach_(self) -> Tensor:
        """Cut this tensor from the graph in place; returns ``self``."""
        self._ctx = None
        self.requires_grad = False
        return self

    def clone(self) -> Tensor:
        """A copy with its own memory (same shape); gradients flow back to the original."""
        return ops.CloneFunction.apply(self)

    # -- conversion -------------------------------------------------------------------------
    def to(self, *args: Any, dtype: Any = None, device: DeviceLike = None,
           non_blocking: builtins.bool = False, copy: builtins.bool = False) -> Tensor:
        """``t.to(tc.float64)``, ``t.to("cuda")``, ``t.to("cpu", tc.float32)`` or ``t.to(other)``.

        The one place data moves between devices: no op copies across devices silently. Both
        changes are differentiable (the gradient goes back to the original device and dtype).
        Returns ``self`` when nothing changes, unless ``copy=True``. Same shape.
        ``non_blocking`` is accepted for PyTorch's sake; copies here always complete before
        ``to`` returns.
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
            out = ops.ToDeviceFunction.apply(self, device=Device(device))
        dtype = as_dtype(dtype)
        if dtype is not None and dtype != out.dtype:
            out = ops.CastFunction.apply(out, dtype=dtype)
        return out.clone() if copy and out is self else out

    def cpu(self) -> Tensor:
        """This tensor on the CPU (``self`` if it is there already)."""
        return self.to("cpu")

    def cuda(self) -> Tensor:
        """This tensor on the GPU (``self`` if it is there already)."""
        return self.to("cuda")

    def float(self) -> Tensor:
        """As float32."""
        return self.to(float32)

    def double(self) -> Tensor:
        """As float64."""
        return self.to(float64)

    def long(self) -> Tensor:
        """As int64."""
        return self.to(int64)

    def int(self) -> Tensor:
        """As int32."""
        return self.to(int32)

    def bool(self) -> Tensor:
        """As bool (nonzero is True)."""
        return self.to(_BOOL)

    def type(self, dtype: Any = None) -> str | Tensor:
        """The dtype's name, or with ``dtype`` the tensor converted to it."""
        return str(self.dtype) if dtype is None else self.to(dtype)

    def is_contiguous(self) -> builtins.bool:
        """True when the data is laid out in row-major (C) order without gaps."""
        return builtins.bool(self.xp.asarray(self.data).flags.c_contiguous)

    def contiguous(self) -> Tensor:
        """``self`` if contiguous, else a row-major copy (differentiable). Same shape."""
        return self if self.is_contiguous() else self.clone()

    # -- arithmetic -------------------------------------------------------------------------
    def _binary(self, function: type[autograd.Function], other: Any,
                reverse: builtins.bool = False) -> Tensor:
        other = _as_operand(other, self, function.name)
        a, b = (other, self) if reverse else (self, other)
        check_same_device(function.name, (a, b))
        check_broadcast(function.name, a.shape, b.shape)
        a, b = _promote(a, b)
        return function.apply(a, b)

    # Operators follow NumPy broadcasting: shapes (*a) and (*b) give the broadcast shape.
    def __add__(self, other: Any) -> Tensor:
        return self._binary(ops.AddFunction, other)

    def __radd__(self, other: Any) -> Tensor:
        return self._binary(ops.AddFunction, other, reverse=True)

    def __sub__(self, other: Any) -> Tensor:
        return self._binary(ops.SubFunction, other)

    def __rsub__(self, other: Any) -> Tensor:
        return self._binary(ops.SubFunction, other, reverse=True)

    def __mul__(self, other: Any) -> Tensor:
        return self._binary(ops.MulFunction, other)

    def __rmul__(self, other: Any) -> Tensor:
        return self._binary(ops.MulFunction, other, reverse=True)

    # true division of integers gives float32, not NumPy's float64 (PyTorch's rule)
    def __truediv__(self, other: Any) -> Tensor:
        return self._floating()._binary(ops.DivFunction, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return self._floating()._binary(ops.DivFunction, other, reverse=True)

    def __pow__(self, other: Any) -> Tensor:
        return self._binary(ops.PowFunction, other)

    def __rpow__(self, other: Any) -> Tensor:
        return self._binary(ops.PowFunction, other, reverse=True)

    def __neg__(self) -> Tensor:
        return ops.NegFunction.apply(self)

    def __pos__(self) -> Tensor:
        return self

    def __matmul__(self, other: Any) -> Tensor:
        return self.matmul(other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _as_operand(other, self, "matmul").matmul(self)

    def add(self, other: Any) -> Tensor:
        """``self + other``, broadcast: ``(*a), (*b) -> broadcast shape``."""
        return self.__add__(other)

    def sub(self, other: Any) -> Tensor:
        """``self - other``, broadcast: ``(*a), (*b) -> broadcast shape``."""
        return self.__sub__(other)

    def mul(self, other: Any) -> Tensor:
        """``self * other``, broadcast: ``(*a), (*b) -> broadcast shape``."""
        return self.__mul__(other)

    def div(self, other: Any) -> Tensor:
        """``self / other`` (true division; integers give float32), broadcast."""
        return self.__truediv__(other)

    def pow(self, exponent: Any) -> Tensor:
        """``self ** exponent``, broadcast: ``(*a), (*b) -> broadcast shape``."""
        return self.__pow__(exponent)

    subtract, multiply, divide = sub, mul, div  # PyTorch's long names

    def neg(self) -> Tensor:
        """``-self``, same shape."""
        return ops.NegFunction.apply(self)

    def matmul(self, other: Tensor) -> Tensor:
        """Matrix product with NumPy's rules: ``(*, n, k) @ (*, k, m) -> (*, n, m)``.

        A 1-D operand is a row (on the left) or a column (on the right) that is dropped from the
        result; leading (batch) dimensions broadcast.
        """
        other = _as_operand(other, self, "matmul")
        check_same_device("matmul", (self, other))
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
            check_broadcast("matmul", self.shape[:-2], other.shape[:-2] if other.ndim > 1 else ())
        return ops.MatMulFunction.apply(self, other)

    # -- elementwise functions (same shape out as in) ------------------------------------------
    def _floating(self) -> Tensor:
        """Integer tensors become float32 before float-valued functions (as in PyTorch)."""
        if is_floating_dtype(self.dtype):
            return self
        return ops.CastFunction.apply(self, dtype=float32)

    def exp(self) -> Tensor:
        """``e^x`` elementwise, same shape (integers become float32)."""
        return ops.ExpFunction.apply(self._floating())

    def log(self) -> Tensor:
        """Natural logarithm elementwise, same shape (integers become float32)."""
        return ops.LogFunction.apply(self._floating())

    def sqrt(self) -> Tensor:
        """Square root elementwise, same shape (integers become float32)."""
        return ops.SqrtFunction.apply(self._floating())

    def abs(self) -> Tensor:
        """``|x|`` elementwise, same shape."""
        return ops.AbsFunction.apply(self)

    __abs__ = abs

    def sin(self) -> Tensor:
        """Sine elementwise, same shape (integers become float32)."""
        return ops.SinFunction.apply(self._floating())

    def cos(self) -> Tensor:
        """Cosine elementwise, same shape (integers become float32)."""
        return ops.CosFunction.apply(self._floating())

    def tanh(self) -> Tensor:
        """Hyperbolic tangent elementwise, same shape (integers become float32)."""
        return ops.TanhFunction.apply(self._floating())

    def sigmoid(self) -> Tensor:
        """``1 / (1 + e^-x)`` elementwise, same shape (integers become float32)."""
        return ops.SigmoidFunction.apply(self._floating())

    def relu(self) -> Tensor:
        """``max(x, 0)`` elementwise, same shape."""
        return ops.ReLUFunction.apply(self)

    def clamp(self, min: builtins.float | None = None,
              max: builtins.float | None = None) -> Tensor:
        """Values limited to ``[min, max]`` (either bound may be omitted), same shape."""
        _check_bounds("clamp", min, max)
        return ops.ClampFunction.apply(self, min=min, max=max)

    def clip(self, min: builtins.float | None = None,
             max: builtins.float | None = None) -> Tensor:
        """Another name of :meth:`clamp` (NumPy's)."""
        _check_bounds("clip", min, max)
        return ops.ClampFunction.apply(self, min=min, max=max)

    def maximum(self, other: Tensor) -> Tensor:
        """The larger of two values elementwise, broadcast (ties share the gradient)."""
        return self._binary(ops.MaximumFunction, other)

    def minimum(self, other: Tensor) -> Tensor:
        """The smaller of two values elementwise, broadcast (ties share the gradient)."""
        return self._binary(ops.MinimumFunction, other)

    def where(self, condition: Tensor, other: Any) -> Tensor:
        """``self`` where ``condition`` is true, else ``other``; all three broadcast together.

        ``t.where(c, y)`` is ``tc.where(c, t, y)``; differentiable in ``self`` and ``other``.
        """
        if not isinstance(condition, Tensor) or condition.dtype != _BOOL:
            raise TypeError("where: condition must be a bool tensor, got "
                            f"{getattr(condition, 'dtype', type(condition).__name__)}")
        other = _as_operand(other, self, "where")
        check_same_device("where", (condition, self, other))
        values_shape = check_broadcast("where", self.shape, other.shape)
        check_broadcast("where", condition.shape, values_shape)
        a, b = _promote(self, other)
        return ops.WhereFunction.apply(a, b, condition=condition.data)

    # -- reductions -------------------------------------------------------------------------
    # ``dim`` is an int, a tuple of ints or None (all dimensions). The reduced dimensions are
    # dropped, or kept with size 1 when ``keepdim=True``: (2, 3, 4).sum(1) -> (2, 4).
    def _axes(self, op: str, dim: Any, axis: Any) -> tuple[int, ...]:
        dim = axis if dim is None else dim
        if dim is None:
            return tuple(range(self.ndim))
        # anything but a tuple or list is one dim (normalize_dim rejects a non-int clearly)
        dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
        axes = tuple(sorted(normalize_dim(op, d, self.ndim) for d in dims))
        if len(set(axes)) != len(axes):
            raise ValueError(f"{op}: dim {tuple(dims)} names a dimension more than once "
                             f"(tensor of shape {self.shape})")
        # a 0-d tensor accepts dim 0 or -1 (as PyTorch) but has no axis to reduce
        return axes if self.ndim else ()

    def sum(self, dim: Any = None, keepdim: builtins.bool = False, *, axis: Any = None,
            keepdims: builtins.bool | None = None, dtype: Any = None) -> Tensor:
        """Sum over ``dim`` (all dims if None); bools are counted as int64."""
        source = self.to(dtype) if dtype is not None else self
        if source.dtype == _BOOL:
            source = source.to(int64)
        return ops.SumFunction.apply(source, axes=self._axes("sum", dim, axis),
                                     keepdim=keepdims if keepdims is not None else keepdim)

    def mean(self, dim: Any = None, keepdim: builtins.bool = False, *, axis: Any = None,
             keepdims: builtins.bool | None = None) -> Tensor:
        """Mean over ``dim`` (all dims if None); floating tensors only."""
        if not is_floating_dtype(self.dtype):
            raise TypeError(f"mean: input dtype should be floating point, got {self.dtype}")
        return ops.MeanFunction.apply(self, axes=self._axes("mean", dim, axis),
                                      keepdim=keepdims if keepdims is not None else keepdim)

    def var(self, dim: Any = None, unbiased: builtins.bool | None = None,
            keepdim: builtins.bool = False, *, correction: builtins.int | None = None,
            axis: Any = None, keepdims: builtins.bool | None = None) -> Tensor:
        """Variance over ``dim``; ``correction=1`` (the default) divides by ``count - 1``."""
        if correction is None:
            correction = 0 if unbiased is False else 1
        return ops.VarFunction.apply(self, axes=self._axes("var", dim, axis),
                                     keepdim=keepdims if keepdims is not None else keepdim,
                                     correction=correction)

    def std(self, dim: Any = None, unbiased: builtins.bool | None = None,
            keepdim: builtins.bool = False, *, correction: builtins.int | None = None,
            axis: Any = None, keepdims: builtins.bool | None = None) -> Tensor:
        """Standard deviation over ``dim``: the square root of :meth:`var`."""
        return self.var(dim, unbiased, keepdim, correction=correction, axis=axis,
                        keepdims=keepdims).sqrt()

    def amax(self, dim: Any = None, keepdim: builtins.bool = False, *, axis: Any = None,
             keepdims: builtins.bool | None = None) -> Tensor:
        """Largest value over ``dim``; tied maxima share the gradient equally."""
        self._check_nonempty("amax")
        return ops.AmaxFunction.apply(self, axes=self._axes("amax", dim, axis),
                                      keepdim=keepdims if keepdims is not None else keepdim)

    def amin(self, dim: Any = None, keepdim: builtins.bool = False, *, axis: Any = None,
             keepdims: builtins.bool | None = None) -> Tensor:
        """Smallest value over ``dim``; tied minima share the gradient equally."""
        self._check_nonempty("amin")
        return ops.AminFunction.apply(self, axes=self._axes("amin", dim, axis),
                                      keepdim=keepdims if keepdims is not None else keepdim)

    def max(self, dim: Any = None, keepdim: builtins.bool = False, *, axis: Any = None,
            keepdims: builtins.bool | None = None) -> Tensor | MinMax:
        """``t.max()``: the largest value (0-d). ``t.max(dim)``: ``(values, indices)`` along
        ``dim`` (both of the reduced shape). ``t.max(other_tensor)``: elementwise maximum."""
        if isinstance(dim, Tensor):
            return self.maximum(dim)
        return self._extreme("max", dim, axis, keepdims if keepdims is not None else keepdim)

    def min(self, dim: Any = None, keepdim: builtins.bool = False, *, axis: Any = None,
            keepdims: builtins.bool | None = None) -> Tensor | MinMax:
        """``t.min()``: the smallest value (0-d). ``t.min(dim)``: ``(values, indices)`` along
        ``dim``. ``t.min(other_tensor)``: elementwise minimum."""
        if isinstance(dim, Tensor):
            return self.minimum(dim)
        return self._extreme("min", dim, axis, keepdims if keepdims is not None else keepdim)

    def _extreme(self, op: str, dim: Any, axis: Any, keepdim: builtins.bool) -> Tensor | MinMax:
        self._check_nonempty(op)
        dim = axis if dim is None else dim
        if dim is None:  # over everything: ties share the gradient
            return self.amax() if op == "max" else self.amin()
        d = normalize_dim(op, dim, self.ndim)
        if self.ndim == 0:  # dim 0 of a 0-d tensor (allowed, as PyTorch): the value itself
            return MinMax(self.clone(), self._arg("arg" + op, d, keepdim))
        indices = self.argmax(d, keepdim=True) if op == "max" else self.argmin(d, keepdim=True)
        values = ops.TakeAlongDimFunction.apply(self, indices=indices.data, axis=d)
        if not keepdim:
            values, indices = values.squeeze(d), indices.squeeze(d)
        return MinMax(values, indices)

    def _check_nonempty(self, op: str) -> None:
        if self.numel() == 0:
            raise RuntimeError(f"{op}: cannot reduce an empty tensor of shape {self.shape}")

    def argmax(self, dim: builtins.int | None = None, keepdim: builtins.bool = False, *,
               axis: builtins.int | None = None) -> Tensor:
        """int64 index of the largest value along ``dim`` (of the flattened tensor if None)."""
        return self._arg("argmax", dim if dim is not None else axis, keepdim)

    def argmin(self, dim: builtins.int | None = None, keepdim: builtins.bool = False, *,
               axis: builtins.int | None = None) -> Tensor:
        """int64 index of the smallest value along ``dim`` (of the flattened tensor if None)."""
        return self._arg("argmin", dim if dim is not None else axis, keepdim)

    def _arg(self, op: str, dim: Any, keepdim: builtins.bool) -> Tensor:
        self._check_nonempty(op)
        find = self.xp.argmax if op == "argmax" else self.xp.argmin
        if dim is not None:
            normalize_dim(op, dim, self.ndim)
        if dim is None or self.ndim == 0:  # a 0-d tensor's only index is 0, whatever dim says
            result = find(self.data.reshape(-1))
            if keepdim:
                result = result.reshape((1,) * self.ndim)
        else:
            result = find(self.data, axis=normalize_dim(op, dim, self.ndim), keepdims=keepdim)
        return Tensor._from_array(self.xp.asarray(result, dtype=np.int64), self.device)

    def logsumexp(self, dim: Any = None, keepdim: builtins.bool = False, *, axis: Any = None,
                  keepdims: builtins.bool | None = None) -> Tensor:
        """``log(sum(exp(x)))`` over ``dim``, computed without overflow."""
        return ops.LogSumExpFunction.apply(self, axes=self._axes("logsumexp", dim, axis),
                                           keepdim=keepdims if keepdims is not None else keepdim)

    def all(self) -> Tensor:
        """0-d bool: every element is nonzero."""
        return Tensor._from_array(self.xp.asarray(self.data.all()), self.device)

    def any(self) -> Tensor:
        """0-d bool: some element is nonzero."""
        return Tensor._from_array(self.xp.asarray(self.data.any()), self.device)

    # -- comparisons (not differentiable; bool results of the broadcast shape) -----------------
    def _compare(self, other: Any, compare: str) -> Tensor:
        if isinstance(other, (Tensor, np.ndarray, list, tuple)):
            other = _as_operand(other, self, compare)
            check_same_device(compare, (self, other))
            check_broadcast(compare, self.shape, other.shape)
            other = other.data
        result = getattr(self.data, f"__{compare}__")(other)
        return Tensor._from_array(self.xp.asarray(result), self.device)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(other, "eq")

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(other, "ne")

    def __lt__(self, other: Any) -> Tensor:
        return self._compare(other, "lt")

    def __le__(self, other: Any) -> Tensor:
        return self._compare(other, "le")

    def __gt__(self, other: Any) -> Tensor:
        return self._compare(other, "gt")

    def __ge__(self, other: Any) -> Tensor:
        return self._compare(other, "ge")

    def eq(self, other: Any) -> Tensor:
        """``self == other`` elementwise (bool, broadcast shape)."""
        return self._compare(other, "eq")

    def ne(self, other: Any) -> Tensor:
        """``self != other`` elementwise (bool, broadcast shape)."""
        return self._compare(other, "ne")

    def lt(self, other: Any) -> Tensor:
        """``self < other`` elementwise (bool, broadcast shape)."""
        return self._compare(other, "lt")

    def le(self, other: Any) -> Tensor:
        """``self <= other`` elementwise (bool, broadcast shape)."""
        return self._compare(other, "le")

    def gt(self, other: Any) -> Tensor:
        """``self > other`` elementwise (bool, broadcast shape)."""
        return self._compare(other, "gt")

    def ge(self, other: Any) -> Tensor:
        """``self >= other`` elementwise (bool, broadcast shape)."""
        return self._compare(other, "ge")

    def _logical(self, other: Any, op: str) -> Tensor:
        if isinstance(other, Tensor):
            check_same_device(op.strip("_"), (self, other))
            other = other.data
        return Tensor._from_array(getattr(self.data, op)(other), self.device)

    def __and__(self, other: Any) -> Tensor:
        return self._logical(other, "__and__")

    def __or__(self, other: Any) -> Tensor:
        return self._logical(other, "__or__")

    def __xor__(self, other: Any) -> Tensor:
        return self._logical(other, "__xor__")

    def __invert__(self) -> Tensor:
        return Tensor._from_array(~self.data, self.device)

    def equal(self, other: Tensor) -> builtins.bool:
        """True when both tensors have the same shape and the same values."""
        other = _as_operand(other, self, "equal")
        check_same_device("equal", (self, other))
        return self.shape == other.shape and builtins.bool((self.data == other.data).all())

    def allclose(self, other: Tensor, rtol: builtins.float = 1e-5,
                 atol: builtins.float = 1e-8) -> builtins.bool:
        """True when ``|self - other| <= atol + rtol * |other|`` everywhere (broadcast)."""
        other = _as_operand(other, self, "allclose")
        check_same_device("allclose", (self, other))
        return builtins.bool(self.xp.allclose(self.data, other.data, rtol=rtol, atol=atol))

    # -- shape operations -------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        """The same values in a new shape with as many elements (one size may be -1)."""
        shape = shape_args("reshape", shape)
        known = [s for s in shape if s != -1]
        size = builtins.int(np.prod(known)) if known else 1
        if shape.count(-1) > 1 or (-1 not in shape and size != self.numel()) or \
                (-1 in shape and (size == 0 or self.numel() % size != 0)):
            raise ValueError(f"reshape: shape {tuple(shape)} is invalid for input of size "
                             f"{self.numel()} (shape {self.shape})")
        return ops.ReshapeFunction.apply(self, shape=tuple(shape))

    view = reshape

    def view_as(self, other: Tensor) -> Tensor:
        """Reshaped to ``other.shape``."""
        return self.reshape(other.shape)

    def permute(self, *dims: Any) -> Tensor:
        """Dimensions reordered: ``(2, 3, 4).permute(2, 0, 1) -> (4, 2, 3)``."""
        dims = tuple(normalize_dim("permute", d, self.ndim)
                     for d in shape_args("permute", dims))
        if sorted(dims) != list(range(self.ndim)):
            raise ValueError(f"permute: dims {dims} are not a permutation of the {self.ndim} "
                             f"dimensions of a tensor of shape {self.shape}")
        return ops.PermuteFunction.apply(self, dims=dims)

    def transpose(self, dim0: builtins.int, dim1: builtins.int) -> Tensor:
        """Two dimensions swapped: ``(2, 3, 4).transpose(0, 2) -> (4, 3, 2)``."""
        dims = list(range(self.ndim))
        d0 = normalize_dim("transpose", dim0, self.ndim)
        d1 = normalize_dim("transpose", dim1, self.ndim)
        dims[d0], dims[d1] = dims[d1], dims[d0]
        return ops.PermuteFunction.apply(self, dims=tuple(dims))

    def flatten(self, start_dim: builtins.int = 0, end_dim: builtins.int = -1) -> Tensor:
        """Dimensions ``start_dim..end_dim`` merged: ``(N, C, H, W).flatten(1) -> (N, C*H*W)``."""
        if self.ndim == 0:
            return self.reshape(1)
        start = normalize_dim("flatten", start_dim, self.ndim)
        end = normalize_dim("flatten", end_dim, self.ndim)
        if start > end:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
        middle = builtins.int(np.prod(self.shape[start:end + 1]))
        return self.reshape(self.shape[:start] + (middle,) + self.shape[end + 1:])

    def squeeze(self, dim: builtins.int | Sequence[builtins.int] | None = None) -> Tensor:
        """Dimensions of size 1 removed (only those in ``dim`` when given): ``(2, 1, 3) -> (2, 3)``.
        """
        if dim is None:
            return self.reshape(tuple(s for s in self.shape if s != 1))
        dims = (dim,) if isinstance(dim, numbers.Integral) else tuple(dim)
        dims = {normalize_dim("squeeze", d, self.ndim) for d in dims}
        return self.reshape(tuple(s for i, s in enumerate(self.shape)
                                  if not (i in dims and s == 1)))

    def unsqueeze(self, dim: builtins.int) -> Tensor:
        """A dimension of size 1 inserted at ``dim``: ``(2, 3).unsqueeze(0) -> (1, 2, 3)``."""
        d = normalize_dim("unsqueeze", dim, self.ndim + 1)
        return self.reshape(self.shape[:d] + (1,) + self.shape[d:])

    def expand(self, *sizes: Any) -> Tensor:
        """Size-1 dimensions repeated without copying: ``(3, 1).expand(3, 4) -> (3, 4)``.

        New leading dimensions may be added; -1 keeps a size.
        """
        sizes = shape_args("expand", sizes)
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
        return ops.ExpandFunction.apply(self, shape=tuple(target))

    def expand_as(self, other: Tensor) -> Tensor:
        """Expanded to ``other.shape``."""
        return self.expand(*other.shape)

    def repeat(self, *sizes: Any) -> Tensor:
        """Tiled ``sizes[i]`` times along dimension i: ``(2, 3).repeat(2, 1) -> (4, 3)``."""
        sizes = shape_args("repeat", sizes)
        if len(sizes) < self.ndim or builtins.any(size < 0 for size in sizes):
            raise ValueError(f"repeat: expected at least {self.ndim} non-negative counts (one "
                             f"per dimension of shape {self.shape}), got {tuple(sizes)}")
        t = self.reshape((1,) * (len(sizes) - self.ndim) + self.shape)
        # repeat = expand along a new axis next to each dimension, then merge the pairs
        expanded_shape, merged_shape = [], []
        for count, size in zip(sizes, t.shape, strict=True):
            expanded_shape += [count, size]
            merged_shape.append(count * size)
        interleaved = t.reshape(tuple(x for size in t.shape for x in (1, size)))
        return interleaved.expand(*expanded_shape).reshape(tuple(merged_shape))

    def __getitem__(self, index: Any) -> Tensor:
        return ops.GetItemFunction.apply(self, index=self._array_index(index))

    def __setitem__(self, index: Any, value: Any) -> None:
        self._check_inplace("__setitem__")
        self.data[self._array_index(index)] = self._operand_array("__setitem__", value)

    def _array_index(self, index: Any) -> Any:
        """Tensors, lists and NumPy arrays inside an index become arrays of this tensor's
        device (integer-array and boolean-mask indexing; CuPy takes no NumPy index)."""
        if isinstance(index, Tensor):
            check_same_device("index", (self, index))
            return index.data
        if isinstance(index, tuple):
            return tuple(self._array_index(i) for i in index)
        if isinstance(index, (list, np.ndarray)):
            return self.xp.asarray(index)
        return index

    def split(self, split_size_or_sections: builtins.int | Sequence[builtins.int],
              dim: builtins.int = 0) -> tuple[Tensor, ...]:
        """Pieces along ``dim`` of ``split_size`` each (the last may be smaller), or of the
        listed sizes: ``(5, 2).split(2) -> (2, 2), (2, 2), (1, 2)``."""
        d = normalize_dim("split", dim, self.ndim)
        length = self.shape[d]
        if isinstance(split_size_or_sections, numbers.Integral):
            if split_size_or_sections <= 0:
                raise ValueError(f"split: split_size must be positive, got "
                                 f"{split_size_or_sections}")
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
            pieces.append(self[index])
            start += size
        return tuple(pieces)

    def chunk(self, chunks: builtins.int, dim: builtins.int = 0) -> tuple[Tensor, ...]:
        """At most ``chunks`` equal pieces along ``dim`` (the last may be smaller)."""
        if not isinstance(chunks, numbers.Integral) or chunks <= 0:
            raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
        d = normalize_dim("chunk", dim, self.ndim)
        size = builtins.max(-(-self.shape[d] // chunks), 1)
        return self.split(size, d)

    # -- in-place updates (for initialisation and optimizers; never recorded in the graph) ----
    # Each returns ``self``, keeps its shape, and refuses a leaf that requires grad outside
    # no_grad() (the change would be invisible to autograd).
    def _check_inplace(self, op: str) -> None:
        if self.requires_grad and self.is_leaf and autograd.is_grad_enabled():
            raise RuntimeError(f"{op}: a leaf tensor that requires grad is being used in an "
                               "in-place operation; wrap it in tc.no_grad()")

    def _inplace(self, op: str, values: Any) -> Tensor:
        self._check_inplace(op)
        self.data[...] = values
        return self

    def _operand_array(self, op: str, other: Any) -> Any:
        """The array (or number) to combine with ``self.data`` in place: a tensor must be on
        this device; lists and NumPy arrays are constants, copied to it."""
        if isinstance(other, Tensor):
            check_same_device(op, (self, other))
            return other.data
        if isinstance(other, (list, tuple, np.ndarray)):
            return self.xp.asarray(other)
        return other

    def zero_(self) -> Tensor:
        """Fill with zeros."""
        return self._inplace("zero_", 0)

    def fill_(self, value: builtins.float) -> Tensor:
        """Fill with ``value``."""
        return self._inplace("fill_", value)

    def copy_(self, source: Any) -> Tensor:
        """Copy ``source`` (broadcast to this shape) into this tensor."""
        source = self.xp.asarray(self._operand_array("copy_", source))
        if tuple(source.shape) != self.shape:
            source = self.xp.broadcast_to(source, self.shape)
        return self._inplace("copy_", source)

    def add_(self, other: Any, alpha: builtins.float = 1) -> Tensor:
        """``self += alpha * other``."""
        return self._inplace("add_", self.data + alpha * self._operand_array("add_", other))

    def sub_(self, other: Any, alpha: builtins.float = 1) -> Tensor:
        """``self -= alpha * other``."""
        return self.add_(other, alpha=-alpha)

    def mul_(self, other: Any) -> Tensor:
        """``self *= other``."""
        return self._inplace("mul_", self.data * self._operand_array("mul_", other))

    def div_(self, other: Any) -> Tensor:
        """``self /= other``."""
        return self._inplace("div_", self.data / self._operand_array("div_", other))

    def clamp_(self, min: builtins.float | None = None,
               max: builtins.float | None = None) -> Tensor:
        """Limit the values to ``[min, max]`` in place."""
        _check_bounds("clamp_", min, max)
        return self._inplace("clamp_", self.xp.clip(self.data, min, max))

    def uniform_(self, a: builtins.float = 0.0, b: builtins.float = 1.0) -> Tensor:
        """Fill with draws uniform on ``[a, b)`` from the library generator."""
        return self._inplace("uniform_", random_array("uniform", self.shape, self.dtype,
                                                      self.device, low=a, high=b))

    def normal_(self, mean: builtins.float = 0.0, std: builtins.float = 1.0) -> Tensor:
        """Fill with normal draws of the given mean and standard deviation."""
        return self._inplace("normal_", random_array("normal", self.shape, self.dtype,
                                                     self.device, loc=mean, scale=std))


# ---------------------------------------------------------------------------------------------
# Helpers of the methods above
# ---------------------------------------------------------------------------------------------


def check_tensor(op: str, name: str, value: Any) -> Tensor:
    """``value`` itself if it is a Tensor, else a TypeError naming ``op`` and the argument."""
    if not isinstance(value, Tensor):
        hint = " (convert it with tc.tensor(...))" if isinstance(
            value, (list, tuple, np.ndarray, numbers.Number)) else ""
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(value).__name__}{hint}")
    return value


def _check_bounds(op: str, low: Any, high: Any) -> None:
    """``clamp``'s bounds: numbers or None, at least one given."""
    if low is None and high is None:
        raise ValueError(f"{op}: at least one of min and max must be given")
    for name, bound in (("min", low), ("max", high)):
        if bound is not None and (not isinstance(bound, numbers.Real) or
                                  isinstance(bound, builtins.bool)):
            raise TypeError(f"{op}: {name} must be a number or None, got {bound!r}")


def _scalar_like(value: numbers.Number, like: Tensor) -> Tensor:
    """A Python number as a 0-d tensor whose dtype follows PyTorch's promotion with ``like``:
    a number never widens a float tensor; a float number makes an integer tensor float32."""
    if is_floating_dtype(like.dtype):
        dtype = like.dtype
    elif isinstance(value, builtins.bool):
        dtype = like.dtype
    elif isinstance(value, numbers.Integral):
        dtype = like.dtype if like.dtype != _BOOL else int64
    else:
        dtype = float32
    return Tensor._from_array(like.xp.asarray(value, dtype=dtype), like.device)


def _as_operand(value: Any, like: Tensor, op: str) -> Tensor:
    """The other operand of a binary op as a Tensor (numbers and lists go to ``like``'s device)."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, numbers.Number):
        return _scalar_like(value, like)
    if isinstance(value, (np.ndarray, list, tuple)):
        return Tensor(value, device=like.device)
    raise TypeError(f"{op}: unsupported operand type {type(value).__name__} (expected a "
                    "Tensor, a number or a list of numbers)")


def _promote(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Cast two operands to their common dtype (differentiably), as PyTorch does."""
    if a.dtype == b.dtype:
        return a, b
    common = np.promote_types(a.dtype, b.dtype)
    if not is_floating_dtype(a.dtype) and not is_floating_dtype(b.dtype):
        pass
    elif common not in FLOAT_DTYPES:
        common = float32
    elif not is_floating_dtype(a.dtype) or not is_floating_dtype(b.dtype):
        # int tensor with float tensor: the float tensor's dtype wins (int64 + float32 = float32)
        common = a.dtype if is_floating_dtype(a.dtype) else b.dtype
    a = a if a.dtype == common else ops.CastFunction.apply(a, dtype=common)
    b = b if b.dtype == common else ops.CastFunction.apply(b, dtype=common)
    return a, b


_ACCEPTED_DATA = ("a number, a (nested) list or tuple of numbers, a range, a NumPy or CuPy array, "
                  "a Tensor, or an object with __array__ (a PyTorch CPU tensor...)")


def _device_of_data(data: Any) -> Device:
    """The device ``data`` is on, or a TypeError for data a tensor cannot be made from."""
    if isinstance(data, Tensor):
        return data.device
    if hasattr(data, "__cuda_array_interface__"):  # a CuPy array (or another GPU array)
        return Device("cuda")
    if isinstance(data, (np.ndarray, np.generic, list, tuple, range, numbers.Number)) or \
            hasattr(data, "__array__"):
        return _CPU
    raise TypeError(f"tensor: cannot make a tensor from {type(data).__name__} ({data!r:.40}); "
                    f"expected {_ACCEPTED_DATA}")


def _to_array(data: Any, dtype: np.dtype | None, xp: Any, source_device: Device) -> Any:
    """Copy ``data`` into a new array of the array module ``xp``, with PyTorch's default dtypes:
    Python floats become float32 and Python ints int64; arrays keep their dtype."""
    if isinstance(data, Tensor):
        data = data.data
    if not isinstance(data, (np.ndarray, np.generic, list, tuple, range, numbers.Number)) and \
            hasattr(data, "__array__") and not hasattr(data, "__cuda_array_interface__"):
        data = np.asarray(data)  # another library's CPU array: it keeps its dtype
    if isinstance(data, (np.ndarray, np.generic)) or hasattr(data, "__cuda_array_interface__"):
        same_module = source_device.type == ("cpu" if xp is np else "cuda")
        array = xp.array(data if same_module else to_host(data), copy=True)
    else:  # Python numbers, (nested) lists and tuples, ranges
        try:
            host = np.array(list(data) if isinstance(data, range) else data)
        except ValueError as error:  # ragged nesting: [[1, 2], [3]]
            raise ValueError(f"tensor: the nested lists do not form a rectangular array "
                             f"({error})") from None
        if dtype is None and host.dtype == np.float64:
            host = host.astype(np.float32)
        elif dtype is None and host.dtype.kind in "iu":
            host = host.astype(np.int64)
        array = xp.asarray(host)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"tensor: cannot make a tensor from data of dtype {array.dtype} "
                        f"(elements must be bools, ints or floats); expected {_ACCEPTED_DATA}")
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    return array
