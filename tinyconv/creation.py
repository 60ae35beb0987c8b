"""Functions that make tensors: from data (``tc.tensor``), filled (``tc.zeros``), ranges
(``tc.arange``), random (``tc.randn``), and from other libraries' arrays (``tc.from_numpy``,
``tc.from_dlpack``).

Sizes may be given as ``f(2, 3)`` or ``f((2, 3))``. Defaults follow PyTorch: float32, on the CPU,
``requires_grad=False``. ``device="cuda"`` makes the tensor on the GPU (CuPy); random draws come
from the library generator on the host (:mod:`tinyconv.random`), so the same seed gives the same
numbers on either device.
"""

from __future__ import annotations

import builtins
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from tinyconv.backend import Device, array_module
from tinyconv.dtypes import as_dtype, float32, int64, is_floating_dtype
from tinyconv.random import default_generator, random_array
from tinyconv.shapes import check_sizes
from tinyconv.tensor import Tensor, check_tensor

__all__ = ["tensor", "as_tensor", "is_tensor", "from_numpy", "from_dlpack", "zeros", "ones",
           "empty", "full", "zeros_like", "ones_like", "empty_like", "full_like", "arange",
           "linspace", "eye", "rand", "randn", "randint", "rand_like", "randn_like", "randperm"]

DeviceLike = str | Device | None
Size = int | Sequence[int]


def tensor(data: Any, dtype: Any = None, device: DeviceLike = None,
           requires_grad: builtins.bool = False) -> Tensor:
    """A new tensor holding a copy of ``data``.

    ``data`` is a number, a (nested) list or tuple of numbers, a ``range``, a NumPy or CuPy
    array, or a Tensor; the result has its shape. Python floats become float32 and Python ints
    int64 (as in PyTorch); arrays keep their dtype unless ``dtype`` is given. ``device`` defaults to
    where ``data`` is.
    """
    return Tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)


def as_tensor(data: Any, dtype: Any = None, device: DeviceLike = None) -> Tensor:
    """``data`` as a tensor, without a copy when it already is one of that dtype and device."""
    if isinstance(data, Tensor):
        return data.to(dtype=dtype, device=device)
    return tensor(data, dtype=dtype, device=device)


def is_tensor(obj: Any) -> builtins.bool:
    """True when ``obj`` is a :class:`Tensor` (a Parameter included)."""
    return isinstance(obj, Tensor)


def from_numpy(array: np.ndarray) -> Tensor:
    """A CPU tensor sharing memory with ``array`` (as ``torch.from_numpy``); same shape/dtype."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor._from_array(array, Device("cpu"))


# DLPack's device codes (dlpack.h: kDLCPU = 1, kDLCUDA = 2)
_DLPACK_CPU, _DLPACK_CUDA = 1, 2


def from_dlpack(external: Any) -> Tensor:
    """A tensor sharing memory with any array that speaks DLPack (a PyTorch tensor, a NumPy or
    CuPy array, a JAX array...). Same shape and dtype; the device is the array's.

    ``tc.from_dlpack(torch_tensor)`` and ``torch.from_dlpack(tc_tensor)`` move no data.
    """
    if not hasattr(external, "__dlpack__") or not hasattr(external, "__dlpack_device__"):
        raise TypeError(f"from_dlpack: expected an object with __dlpack__ and "
                        f"__dlpack_device__ (a PyTorch tensor, a NumPy or CuPy array...), "
                        f"got {type(external).__name__}")
    device_code, _ = external.__dlpack_device__()
    if device_code == _DLPACK_CPU:
        device = Device("cpu")
    elif device_code == _DLPACK_CUDA:
        device = Device("cuda")
    else:
        raise ValueError(f"from_dlpack: the array lives on DLPack device type {device_code}; "
                         "tinyconv handles the CPU (1) and CUDA GPUs (2)")
    array = array_module(device).from_dlpack(external)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"from_dlpack: unsupported dtype {array.dtype} (bools, ints and floats "
                        "only)")
    return Tensor._from_array(array, device)


# -- filled ----------------------------------------------------------------------------------


def _filled(op: str, fill: Any, size: Sequence[Any], dtype: Any, device: DeviceLike,
            requires_grad: builtins.bool) -> Tensor:
    shape = check_sizes(op, size)
    device = Device(device or "cpu")
    dtype = as_dtype(dtype) or float32
    array = array_module(device).full(shape, fill, dtype=dtype)
    t = Tensor._from_array(array, device)
    return t.requires_grad_(True) if requires_grad else t


def _one_size(op: str, size: Size) -> tuple[Any, ...]:
    """``size`` given as one argument (``full(3, ...)``, ``full((2, 3), ...)``), as a tuple."""
    if isinstance(size, numbers.Integral):
        return (size,)
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"{op}: size must be an int or a tuple of ints, got {size!r}")
    return tuple(size)


def _check_count(op: str, name: str, value: Any) -> int:
    """A number of elements: a non-negative int."""
    if not isinstance(value, numbers.Integral) or isinstance(value, builtins.bool):
        raise TypeError(f"{op}: {name} must be an int, got {value!r}")
    if value < 0:
        raise ValueError(f"{op}: {name} must be non-negative, got {value}")
    return int(value)


def zeros(*size: Any, dtype: Any = None, device: DeviceLike = None,
          requires_grad: builtins.bool = False) -> Tensor:
    """A tensor of the given size filled with 0 (float32 unless ``dtype``)."""
    return _filled("zeros", 0, size, dtype, device, requires_grad)


def ones(*size: Any, dtype: Any = None, device: DeviceLike = None,
         requires_grad: builtins.bool = False) -> Tensor:
    """A tensor of the given size filled with 1 (float32 unless ``dtype``)."""
    return _filled("ones", 1, size, dtype, device, requires_grad)


def empty(*size: Any, dtype: Any = None, device: DeviceLike = None,
          requires_grad: builtins.bool = False) -> Tensor:
    """A tensor of the given size whose values will be overwritten.

    Zero-filled rather than uninitialised: same speed here, and no stale values to confuse anyone.
    """
    return _filled("empty", 0, size, dtype, device, requires_grad)


def full(size: Size, fill_value: builtins.float, dtype: Any = None, device: DeviceLike = None,
         requires_grad: builtins.bool = False) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value``; the dtype follows the value's type."""
    if not isinstance(fill_value, numbers.Real):
        raise TypeError(f"full: fill_value must be a number, got {fill_value!r}")
    if dtype is None:
        dtype = float32 if isinstance(fill_value, builtins.float) else \
            np.dtype("bool") if isinstance(fill_value, builtins.bool) else int64
    return _filled("full", fill_value, _one_size("full", size), dtype, device, requires_grad)


def zeros_like(t: Tensor, dtype: Any = None, device: DeviceLike = None,
               requires_grad: builtins.bool = False) -> Tensor:
    """Zeros with ``t``'s shape, dtype and device (unless given)."""
    check_tensor("zeros_like", "input", t)
    return zeros(t.shape, dtype=dtype or t.dtype, device=device or t.device,
                 requires_grad=requires_grad)


def ones_like(t: Tensor, dtype: Any = None, device: DeviceLike = None,
              requires_grad: builtins.bool = False) -> Tensor:
    """Ones with ``t``'s shape, dtype and device (unless given)."""
    check_tensor("ones_like", "input", t)
    return ones(t.shape, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def full_like(t: Tensor, fill_value: builtins.float, dtype: Any = None,
              device: DeviceLike = None, requires_grad: builtins.bool = False) -> Tensor:
    """``fill_value`` everywhere, with ``t``'s shape, dtype and device (unless given)."""
    check_tensor("full_like", "input", t)
    return full(t.shape, fill_value, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def empty_like(t: Tensor, dtype: Any = None, device: DeviceLike = None,
               requires_grad: builtins.bool = False) -> Tensor:
    """As :func:`zeros_like` (see :func:`empty`)."""
    check_tensor("empty_like", "input", t)
    return zeros_like(t, dtype=dtype, device=device, requires_grad=requires_grad)


# -- ranges ----------------------------------------------------------------------------------


def arange(start: builtins.float, end: builtins.float | None = None, step: builtins.float = 1,
           dtype: Any = None, device: DeviceLike = None,
           requires_grad: builtins.bool = False) -> Tensor:
    """``start, start + step, ...`` up to (not including) ``end``; ``arange(n)`` is 0..n-1.

    int64 when all arguments are ints, else float32. Shape ``(ceil((end - start) / step),)``.
    """
    if end is None:
        start, end = 0, start
    for name, value in (("start", start), ("end", end), ("step", step)):
        if not isinstance(value, numbers.Real) or isinstance(value, builtins.bool):
            raise TypeError(f"arange: {name} must be a number, got {value!r}")
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    all_ints = builtins.all(isinstance(v, numbers.Integral) for v in (start, end, step))
    dtype = as_dtype(dtype) or (int64 if all_ints else float32)
    array = np.arange(start, end, step, dtype=np.float64 if not all_ints else np.int64)
    return tensor(array.astype(dtype), device=device, requires_grad=requires_grad)


def linspace(start: builtins.float, end: builtins.float, steps: int, dtype: Any = None,
             device: DeviceLike = None, requires_grad: builtins.bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` (both included); shape (steps,)."""
    steps = _check_count("linspace", "steps", steps)
    array = np.linspace(start, end, steps).astype(as_dtype(dtype) or float32)
    return tensor(array, device=device, requires_grad=requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, device: DeviceLike = None,
        requires_grad: builtins.bool = False) -> Tensor:
    """The ``(n, m)`` identity matrix (``m = n`` by default)."""
    n = _check_count("eye", "n", n)
    m = None if m is None else _check_count("eye", "m", m)
    array = np.eye(n, m, dtype=as_dtype(dtype) or float32)
    return tensor(array, device=device, requires_grad=requires_grad)


# -- random ----------------------------------------------------------------------------------


def _random_tensor(op: str, kind: str, size: Sequence[Any], dtype: Any, device: DeviceLike,
                   requires_grad: builtins.bool, **params: Any) -> Tensor:
    shape = check_sizes(op, size)
    dtype = as_dtype(dtype) or float32
    if kind in ("uniform", "normal") and not is_floating_dtype(dtype):
        raise TypeError(f"{op}: dtype must be floating point, got {dtype}")
    device = Device(device or "cpu")
    array = random_array(kind, shape, dtype, device, **params)
    t = Tensor._from_array(array, device)
    return t.requires_grad_(True) if requires_grad else t


def rand(*size: Any, dtype: Any = None, device: DeviceLike = None,
         requires_grad: builtins.bool = False) -> Tensor:
    """Draws uniform on [0, 1), of the given size."""
    return _random_tensor("rand", "uniform", size, dtype, device, requires_grad)


def randn(*size: Any, dtype: Any = None, device: DeviceLike = None,
          requires_grad: builtins.bool = False) -> Tensor:
    """Draws from the standard normal distribution, of the given size."""
    return _random_tensor("randn", "normal", size, dtype, device, requires_grad)


def randint(low: int, high: int | None = None, size: Size = (), dtype: Any = None,
            device: DeviceLike = None) -> Tensor:
    """Integers uniform on [low, high) (``randint(high, size)`` means low = 0), int64."""
    if high is None:
        low, high = 0, low
    elif isinstance(high, (tuple, list)):  # randint(high, size), as torch.randint(5, (3,))
        low, high, size = 0, low, high
    for name, value in (("low", low), ("high", high)):
        if not isinstance(value, numbers.Integral) or isinstance(value, builtins.bool):
            raise TypeError(f"randint: {name} must be an int, got {value!r}")
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    return _random_tensor("randint", "integers", _one_size("randint", size), dtype or int64,
                          device, False, low=low, high=high)


def rand_like(t: Tensor, dtype: Any = None, device: DeviceLike = None) -> Tensor:
    """:func:`rand` with ``t``'s shape, dtype and device (unless given)."""
    check_tensor("rand_like", "input", t)
    return rand(t.shape, dtype=dtype or t.dtype, device=device or t.device)


def randn_like(t: Tensor, dtype: Any = None, device: DeviceLike = None) -> Tensor:
    """:func:`randn` with ``t``'s shape, dtype and device (unless given)."""
    check_tensor("randn_like", "input", t)
    return randn(t.shape, dtype=dtype or t.dtype, device=device or t.device)


def randperm(n: int, device: DeviceLike = None) -> Tensor:
    """A random permutation of ``0..n-1`` (int64, shape (n,))."""
    n = _check_count("randperm", "n", n)
    return tensor(default_generator().permutation(n).astype(np.int64), device=device)
