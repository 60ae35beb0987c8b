"""The library's random numbers: one NumPy generator, seeded by :func:`manual_seed`.

Every random draw in tinyconv (weight initialisation, dropout masks, shuffling, ``tc.rand``...)
comes from :func:`default_generator`, so ``tc.manual_seed(s)`` makes a whole run reproducible.
Draws happen on the host and are copied to the device, so the same seed gives the same numbers on
the CPU and on a GPU.

This module sits below the Tensor and works on arrays; the tensor-making functions
(``tc.rand``, ``tc.randn``, ...) are in :mod:`tinyconv.creation`.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from tinyconv.backend import Device, array_module
from tinyconv.dtypes import as_dtype

__all__ = ["manual_seed", "default_generator", "random_array"]

_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> None:
    """Seed every random source of tinyconv (initialisation, dropout, shuffling, ``tc.rand``...).

    ``seed`` is a non-negative int.
    """
    global _generator
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
        raise TypeError(f"manual_seed: seed must be an int, got {seed!r}")
    if seed < 0:
        raise ValueError(f"manual_seed: seed must be non-negative, got {seed}")
    _generator = np.random.default_rng(seed)


def default_generator() -> np.random.Generator:
    """The library's NumPy generator (looked up at each draw: ``manual_seed`` replaces it)."""
    return _generator


def random_array(kind: str, shape: tuple[int, ...], dtype: Any, device: str | Device,
                 **params: Any) -> Any:
    """An array of ``shape`` on ``device`` drawn by the generator method ``kind``.

    ``kind`` is a :class:`numpy.random.Generator` method (``"uniform"``, ``"normal"``,
    ``"integers"``); ``params`` are its arguments (``low=``, ``scale=``...).
    """
    host = getattr(_generator, kind)(size=tuple(shape), **params)
    host = host.astype(as_dtype(dtype), copy=False)
    return array_module(device).asarray(host)
