"""Hypothesis strategies for testing Tensor ops: shapes that broadcast, and values in safe domains.

Finite differences (``gradcheck``) only agree with autograd where the function is smooth, so the
values an op is tested on must keep away from its kinks and poles:

- ``"real"``: any value in [-2, 2] (smooth ops: +, *, exp, sin, tanh, sigmoid...);
- ``"positive"``: [0.5, 3] (log, sqrt, the base of a power, a divisor);
- ``"distinct"``: values on the grid ``(k + 1/2) · 0.3``, all different within one array. They are
  never 0 (abs, relu), never tied (max, amax, argmax) and at least 0.05 from any multiple of 0.5
  (use such numbers as clamp bounds);
- ``"distinct_shifted"``: the same grid shifted by 0.1, so a ``"distinct"`` array and a
  ``"distinct_shifted"`` one never hold equal values (maximum, minimum).

Shapes are small (sides 1-3 by default, so size-1 dimensions are common) because gradcheck
evaluates the op twice per input element.

Example::

    from hypothesis import given
    from tinyconv.testing.tensor_strategies import broadcastable_arrays

    @given(broadcastable_arrays(n=2, domains=("real", "positive")))
    def test_div(arrays):
        a, b = arrays
        ...
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

__all__ = ["DOMAINS", "shapes", "broadcastable_shapes", "arrays", "broadcastable_arrays",
           "arrays_and_dims", "float_dtypes"]

GRID_STEP = 0.3
DOMAINS = ("real", "positive", "distinct", "distinct_shifted")


def float_dtypes() -> st.SearchStrategy:
    """float32 or float64."""
    return st.sampled_from([np.dtype("float32"), np.dtype("float64")])


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1,
           max_side: int = 3) -> st.SearchStrategy:
    """Array shapes (0-d included by default), with size-1 dimensions common."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def broadcastable_shapes(n: int = 2, min_dims: int = 0, max_dims: int = 3,
                         max_side: int = 3) -> st.SearchStrategy:
    """``n`` shapes that broadcast together (different ranks, size-1 dims stretched)."""
    return hnp.mutually_broadcastable_shapes(num_shapes=n, min_dims=min_dims, max_dims=max_dims,
                                             min_side=1, max_side=max_side).map(
        lambda b: tuple(b.input_shapes))


def _elements(domain: str) -> st.SearchStrategy:
    if domain == "real":
        return st.floats(-2, 2, allow_nan=False, allow_subnormal=False)
    if domain == "positive":
        return st.floats(0.5, 3, allow_nan=False)
    grid = st.integers(-60, 59).map(lambda k: (k + 0.5) * GRID_STEP)
    if domain == "distinct":
        return grid
    if domain == "distinct_shifted":
        return grid.map(lambda v: v + 0.1)
    raise ValueError(f"unknown domain {domain!r}; expected one of {DOMAINS}")


def arrays(shape, domain: str = "real", dtype=np.float64) -> st.SearchStrategy:
    """A float array of ``shape`` (a tuple or a strategy of tuples) with values from ``domain``."""
    unique = domain.startswith("distinct")
    return hnp.arrays(np.dtype(dtype), shape, elements=_elements(domain), unique=unique)


@st.composite
def broadcastable_arrays(draw, n: int = 2, domains=("real", "real"), dtype=np.float64,
                         max_dims: int = 3, max_side: int = 3) -> tuple:
    """``n`` arrays whose shapes broadcast together; array ``i`` has values from ``domains[i]``."""
    shape_list = draw(broadcastable_shapes(n, max_dims=max_dims, max_side=max_side))
    return tuple(draw(arrays(s, d, dtype)) for s, d in zip(shape_list, domains, strict=False))


@st.composite
def arrays_and_dims(draw, domain: str = "real", dtype=np.float64, min_dims: int = 0,
                    max_dims: int = 3, max_side: int = 3) -> tuple:
    """``(array, dim, keepdim)`` for a reduction: ``dim`` is None, an int (maybe negative) or a
    tuple of distinct ints (maybe negative)."""
    array = draw(arrays(shapes(min_dims=min_dims, max_dims=max_dims, max_side=max_side), domain,
                        dtype))
    ndim = array.ndim
    if ndim == 0:
        dim = draw(st.sampled_from([None, 0, -1]))
    else:
        one = st.integers(-ndim, ndim - 1)
        several = st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(
            lambda ds: tuple(d - ndim if i % 2 else d for i, d in enumerate(ds)))
        dim = draw(st.one_of(st.none(), one, several))
    return array, dim, draw(st.booleans())
