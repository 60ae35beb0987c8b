"""Normalising PyTorch-style arguments (``3``, ``(3, 5)``, ``"same"``) for the kernel contract.

The kernel contract takes pairs for stride/dilation/kernel and explicit per-side padding
``(top, bottom, left, right)``. These helpers turn what a user may write into that, and check
what the kernel contract cannot see (dtypes, devices, ranks of the user's tensors).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

from tinyconv.kernels.contract import KERNEL_DTYPES
from tinyconv.tensor import Tensor, check_same_device


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
            for k, d in zip(kernel, dilation):
                total = d * (k - 1)
                sides += [total // 2, total - total // 2]
            return tuple(sides)
        raise ValueError(f"{op}: padding must be an int, a tuple, 'valid' or 'same', got "
                         f"{padding!r}")
    pads = to_tuple(op, "padding", padding, len(kernel))
    check_non_negative(op, "padding", pads)
    return symmetric_padding(pads)


def check_float_tensors(op: str, **tensors: Tensor) -> None:
    """Conv and pool inputs are float tensors of one dtype on one device."""
    given = {name: t for name, t in tensors.items() if t is not None}
    for name, t in given.items():
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
        if t.dtype not in KERNEL_DTYPES:
            raise TypeError(f"{op}: {name} must be float32 or float64, got {t.dtype}")
    # compared as dtype objects: this runs on every op call, str() only for the message
    if len({t.dtype for t in given.values()}) > 1:
        dtypes = {name: str(t.dtype) for name, t in given.items()}
        raise TypeError(f"{op}: input, weight and bias must have the same dtype, got {dtypes}")
    check_same_device(op, given.values())


def check_rank(op: str, name: str, t: Tensor, allowed: Sequence[int], layout: str) -> None:
    if t.ndim not in allowed:
        ranks = " or ".join(f"{r}-D" for r in allowed)
        raise ValueError(f"{op}: expected {name} to be {ranks} {layout}, got shape {t.shape}")
