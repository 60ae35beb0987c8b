"""Checks on dimensions and shapes shared by the Tensor methods and the free functions.

Each raises an error that names the op, what it received and what would be valid.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["normalize_dim", "shape_args", "check_sizes", "check_broadcast"]


def normalize_dim(op: str, dim: Any, ndim: int) -> int:
    """``dim`` as an index in ``[0, ndim)``; negative dims count from the end, as in PyTorch.

    A 0-d tensor accepts dim 0 and -1 (PyTorch's rule), which map to 0.
    """
    if not isinstance(dim, numbers.Integral):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    bound = max(ndim, 1)
    if not -bound <= dim < bound:
        raise IndexError(f"{op}: dimension {dim} is out of range for a tensor with {ndim} "
                         f"dimensions (expected -{bound} <= dim < {bound})")
    return int(dim) % bound


def shape_args(op: str, args: Sequence[Any]) -> list[int]:
    """Sizes given as ``f(2, 3)``, ``f((2, 3))`` or ``f([2, 3])``, as a list of ints.

    Negative values pass (``reshape(-1)``, ``permute(-1, 0)``); :func:`check_sizes` refuses them.
    """
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    for a in args:
        if not isinstance(a, numbers.Integral) or isinstance(a, bool):
            raise TypeError(f"{op}: sizes must be ints, got {tuple(args)!r}")
    return [int(a) for a in args]


def check_sizes(op: str, args: Sequence[Any]) -> tuple[int, ...]:
    """The shape of a new tensor from ``f(2, 3)``, ``f((2, 3))``...: non-negative ints."""
    sizes = tuple(shape_args(op, args))
    if any(size < 0 for size in sizes):
        raise ValueError(f"{op}: sizes must be non-negative, got {sizes}")
    return sizes


def check_broadcast(op: str, shape_a: Sequence[int], shape_b: Sequence[int]) -> tuple[int, ...]:
    """The broadcast shape of two shapes, or a ValueError naming ``op`` and both shapes."""
    try:
        return tuple(np.broadcast_shapes(tuple(shape_a), tuple(shape_b)))
    except ValueError:
        raise ValueError(f"{op}: shapes {tuple(shape_a)} and {tuple(shape_b)} cannot be broadcast "
                         "together (compared from the right, each pair of sizes must be equal "
                         "or contain a 1)") from None
