"""The argument checks of every public entry point: ops, layers, optimizers, schedulers.

Each check exists once here and is reused, so every error reads the same way: the op (or class),
the argument, what was received and what would be valid, raised before anything is allocated or
any kernel runs. The helpers also normalise PyTorch-style arguments (``3``, ``(3, 5)``,
``"same"``) for the kernel contract, which takes pairs for stride/dilation/kernel and explicit
per-side padding ``(top, bottom, left, right)``.

Size limit: an op whose result would need more memory than :func:`max_result_bytes` (by default
the machine's physical memory; ``TINYCONV_MAX_RESULT_GIB`` or :func:`size_limit` change it) is
refused with the size in GiB, instead of failing inside NumPy, or swapping, halfway through.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
from collections.abc import Collection, Iterator, Sequence
from typing import Any

import numpy as np

from tinyconv.autograd import check_same_device
from tinyconv.kernels.contract import KERNEL_DTYPES
from tinyconv.tensor import Tensor, check_tensor  # check_tensor: one check, in the core

__all__ = [
    "check_choice",
    "check_float_tensors",
    "check_int",
    "check_non_negative",
    "check_number",
    "check_positive",
    "check_rank",
    "check_reduction",
    "check_result_size",
    "check_tensor",
    "conv_padding",
    "max_result_bytes",
    "pool_args",
    "size_limit",
    "symmetric_padding",
    "to_tuple",
]

REDUCTIONS = ("none", "mean", "sum")


def _describe(value: Any) -> str:
    """A received value for an error message: short, with its type when that is the problem."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    if isinstance(value, (numbers.Number, str, tuple, list)) or value is None:
        return text
    return f"{text} ({type(value).__name__})"


def check_int(op: str, name: str, value: Any, minimum: int | None = None) -> int:
    """``value`` must be an int (not a bool, not a float) and at least ``minimum``."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise TypeError(f"{op}: {name} must be an int{bound}, got {_describe(value)}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{op}: {name} must be an int >= {minimum}, got {value}")
    return int(value)


def check_number(op: str, name: str, value: Any, low: float | None = None,
                 high: float | None = None, low_open: bool = False, high_open: bool = False,
                 allow_none: bool = False) -> float | None:
    """``value`` must be a finite real number in ``[low, high]`` (``(`` / ``)`` when open).

    NaN and infinities are refused: a learning rate of ``inf`` or an ``eps`` of NaN turns every
    later number into NaN without any error.
    """
    if value is None and allow_none:
        return None
    left, right = "(" if low_open else "[", ")" if high_open else "]"
    if low is not None and high is not None:
        valid = f" in {left}{low:g}, {high:g}{right}"
    elif low is not None:
        valid = f" {'>' if low_open else '>='} {low:g}"
    elif high is not None:
        valid = f" {'<' if high_open else '<='} {high:g}"
    else:
        valid = ""
    if allow_none:
        valid += " (or None)"
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{op}: {name} must be a number{valid}, got {_describe(value)}")
    number = float(value)
    too_low = low is not None and (number <= low if low_open else number < low)
    too_high = high is not None and (number >= high if high_open else number > high)
    if not math.isfinite(number) or too_low or too_high:
        raise ValueError(f"{op}: {name} must be a finite number{valid}, got {value}")
    return number


def check_choice(op: str, name: str, value: Any, choices: Sequence[Any]) -> Any:
    """``value`` must be one of ``choices`` (of the same type: ``True`` is not ``1`` here)."""
    if any(type(value) is type(choice) and value == choice for choice in choices):
        return value
    listed = ", ".join(repr(c) for c in choices)
    raise ValueError(f"{op}: {name} must be one of {listed}; got {_describe(value)}")


def check_reduction(op: str, reduction: Any) -> str:
    """A loss's ``reduction``: ``'none'``, ``'mean'`` or ``'sum'``."""
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
    return reduction


# ---------------------------------------------------------------------------------------------
# The size limit
# ---------------------------------------------------------------------------------------------

_size_limit_override: list[int] = []  # a stack, so size_limit() blocks nest


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system: no limit we can know
        return 2 ** 62


def max_result_bytes() -> int:
    """The largest result (in bytes) an op may allocate: the innermost :func:`size_limit`, else
    ``TINYCONV_MAX_RESULT_GIB`` from the environment, else the machine's physical memory."""
    if _size_limit_override:
        return _size_limit_override[-1]
    configured = os.environ.get("TINYCONV_MAX_RESULT_GIB")
    if configured:
        try:
            return int(float(configured) * 2 ** 30)
        except ValueError:
            raise ValueError(f"TINYCONV_MAX_RESULT_GIB must be a number of GiB, got "
                             f"{configured!r}") from None
    return _physical_memory()


@contextlib.contextmanager
def size_limit(max_gib: float) -> Iterator[None]:
    """Refuse results larger than ``max_gib`` GiB inside the ``with`` block."""
    check_number("size_limit", "max_gib", max_gib, low=0, low_open=True)
    _size_limit_override.append(int(max_gib * 2 ** 30))
    try:
        yield
    finally:
        _size_limit_override.pop()


def check_result_size(op: str, what: str, shape: Sequence[int], dtype: Any) -> None:
    """Refuse to allocate ``shape`` elements of ``dtype`` when that exceeds the size limit.

    ``what`` says which array (``"output"``, ``"weight"``) for the message, e.g.
    ``conv2d: the output (4096, 2048, 510, 510) float32 would need 8160.0 GiB, more than the
    limit of 22.9 GiB``.
    """
    elements = math.prod(int(size) for size in shape)  # Python ints: no overflow
    nbytes = elements * np.dtype(dtype).itemsize
    limit = max_result_bytes()
    if nbytes > limit:
        raise MemoryError(f"{op}: the {what} of shape {tuple(shape)} ({np.dtype(dtype)}) would "
                          f"need {nbytes / 2 ** 30:.1f} GiB, more than the limit of "
                          f"{limit / 2 ** 30:.1f} GiB (the machine's memory, or "
                          f"TINYCONV_MAX_RESULT_GIB); use a smaller batch or input")


# ---------------------------------------------------------------------------------------------
# Conv and pool arguments
# ---------------------------------------------------------------------------------------------


def to_tuple(op: str, name: str, value: Any, n: int) -> tuple:
    """``3 -> (3, 3)``; ``(3, 5) -> (3, 5)``; anything else of the wrong length is an error."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return (int(value),) * n
    if isinstance(value, (tuple, list)) and len(value) == n and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value):
        return tuple(int(v) for v in value)
    raise ValueError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")


def check_positive(op: str, name: str, values: tuple) -> None:
    if any(v < 1 for v in values):
        raise ValueError(f"{op}: {name} must be positive, got {values}")


def check_non_negative(op: str, name: str, values: tuple) -> None:
    if any(v < 0 for v in values):
        raise ValueError(f"{op}: {name} must be non-negative, got {values}")


def symmetric_padding(padding: tuple) -> tuple:
    """``(pad_h, pad_w) -> (top, bottom, left, right)``."""
    return (padding[0], padding[0], padding[1], padding[1])


def conv_padding(op: str, padding: Any, kernel: tuple, stride: tuple, dilation: tuple) -> tuple:
    """A conv's ``padding`` argument as ``(top, bottom, left, right)``.

    ``"valid"`` is no padding. ``"same"`` pads so the output has the input's size (stride 1 only,
    as in PyTorch); the total ``d*(k-1)`` is split with the extra row/column at the bottom/right
    when it is odd.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{op}: padding='same' is not supported for strided "
                                 f"convolutions (stride={stride})")
            sides = []
            for k, d in zip(kernel, dilation, strict=True):
                total = d * (k - 1)
                sides += [total // 2, total - total // 2]
            return tuple(sides)
        raise ValueError(f"{op}: padding must be an int, a tuple, 'valid' or 'same', got "
                         f"{padding!r}")
    pads = to_tuple(op, "padding", padding, len(kernel))
    check_non_negative(op, "padding", pads)
    return symmetric_padding(pads)


def pool_args(op: str, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
              n: int = 2) -> tuple[tuple, tuple, tuple, tuple]:
    """A pooling's ``(kernel, stride, padding, dilation)`` as n-tuples, checked as far as they
    can be without an input: ``stride`` None (or ``()``) is the kernel (non-overlapping
    windows), and padding may be at most half the kernel, so every window sees the input."""
    kernel = to_tuple(op, "kernel_size", kernel_size, n)
    stride = kernel if stride is None or stride == () else to_tuple(op, "stride", stride, n)
    padding = to_tuple(op, "padding", padding, n)
    dilation = to_tuple(op, "dilation", dilation, n)
    check_positive(op, "kernel_size", kernel)
    check_positive(op, "stride", stride)
    check_positive(op, "dilation", dilation)
    check_non_negative(op, "padding", padding)
    for axis, p, k in zip("HW" if n == 2 else "L", padding, kernel, strict=True):
        if p > k // 2:  # a window made of padding alone would have no input to pool
            raise ValueError(f"{op}: padding along {axis} ({p}) must be at most half the kernel "
                             f"size ({k} // 2 = {k // 2})")
    return kernel, stride, padding, dilation


def check_float_tensors(op: str, required: Collection[str] = ("input",),
                        **tensors: Tensor | None) -> None:
    """Float tensors of one dtype on one device; the names in ``required`` may not be None (the
    others are optional, like a bias)."""
    for name in required:
        check_tensor(op, name, tensors[name])
    given = {name: t for name, t in tensors.items() if t is not None}
    for name, t in given.items():
        check_tensor(op, name, t)
        if t.dtype not in KERNEL_DTYPES:
            raise TypeError(f"{op}: {name} must be float32 or float64, got {t.dtype}")
    # compared as dtype objects: this runs on every op call, str() only for the message
    if len({t.dtype for t in given.values()}) > 1:
        dtypes = {name: str(t.dtype) for name, t in given.items()}
        raise TypeError(f"{op}: input, weight and bias must have the same dtype, got {dtypes}")
    check_same_device(op, given.values())


def check_rank(op: str, name: str, t: Tensor, allowed: Sequence[int], layout: str) -> None:
    """``t`` must have one of the ``allowed`` numbers of dimensions (``layout`` names them)."""
    check_tensor(op, name, t)
    if t.ndim not in allowed:
        ranks = " or ".join(f"{r}-D" for r in allowed)
        raise ValueError(f"{op}: expected {name} to be {ranks} {layout}, got shape {t.shape}")
