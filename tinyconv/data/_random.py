"""Where the random draws of ``tinyconv.data`` come from.

Every random choice in this package (shuffling, splitting, random transforms) takes a
``generator`` argument that may be

- ``None``: the library generator :func:`tinyconv.default_generator`, looked up at the moment of the
  draw, so ``tc.manual_seed(s)`` (which replaces that generator) makes the draws reproducible;
- an ``int``: a seed for a fresh :class:`numpy.random.Generator`;
- a :class:`numpy.random.Generator`: used as given (and advanced by the draws).
"""

from __future__ import annotations

import numbers

import numpy as np

from tinyconv.random import default_generator

GeneratorLike = None | int | np.random.Generator


def check_generator(owner: str, generator: GeneratorLike) -> None:
    """Raise a clear ``TypeError`` when ``generator`` is none of the accepted kinds."""
    if generator is None or isinstance(generator, np.random.Generator):
        return
    if isinstance(generator, numbers.Integral) and not isinstance(generator, bool):
        if generator < 0:
            raise ValueError(f"{owner}: a seed must be a non-negative int, got {generator}")
        return
    raise TypeError(f"{owner}: generator must be None (the library generator, seeded by "
                    f"tc.manual_seed), an int seed or a numpy.random.Generator; "
                    f"got {type(generator).__name__}")


def make_generator(owner: str, generator: GeneratorLike) -> np.random.Generator | None:
    """A ``numpy.random.Generator`` for ``generator``, or ``None`` meaning "the library generator".

    An int seed becomes a new generator *once*: an object that keeps the result (a DataLoader)
    then draws a fresh, reproducible sequence from it on every use (a new shuffle per epoch).
    """
    check_generator(owner, generator)
    if isinstance(generator, numbers.Integral):
        return np.random.default_rng(int(generator))
    return generator


def current(generator: np.random.Generator | None) -> np.random.Generator:
    """The generator to draw from now: the given one, else the library's current generator."""
    return generator if generator is not None else default_generator()
