"""``tc.signal``: correlate2d / convolve2d against scipy.signal, their gradients, and rot180.

scipy is the oracle for values (every mode, both orders of which argument is larger, even and odd
sizes, float32 and float64); central differences (``tc.testing.gradcheck``) are the oracle for
the gradients in both arguments.
"""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

import tinyconv as tc
import tinyconv.signal
from tinyconv.testing import gradcheck

MODES = ("full", "valid", "same")
FUNCTIONS = {"correlate2d": scipy.signal.correlate2d, "convolve2d": scipy.signal.convolve2d}

# gradcheck evaluates the function twice per input element: fewer, smaller examples
GRADCHECK_EXAMPLES = max(5, settings().max_examples // 3)


def signal_fn(name: str):
    return getattr(tc.signal, name)


@st.composite
def shape_pairs(draw, max_size: int = 6, nested: bool = False) -> tuple[tuple, tuple]:
    """Two 2-D shapes; with ``nested=True`` one contains the other (what "valid" needs), in either
    order (in1 larger or in2 larger)."""
    sizes = st.integers(1, max_size)
    if not nested:
        return (draw(sizes), draw(sizes)), (draw(sizes), draw(sizes))
    big = (draw(sizes), draw(sizes))
    small = (draw(st.integers(1, big[0])), draw(st.integers(1, big[1])))
    return (big, small) if draw(st.booleans()) else (small, big)


@st.composite
def signal_problems(draw, max_size: int = 6):
    """(mode, shape1, shape2, seed) for which scipy gives a result."""
    mode = draw(st.sampled_from(MODES))
    shape1, shape2 = draw(shape_pairs(max_size, nested=(mode == "valid")))
    return mode, shape1, shape2, draw(st.integers(0, 2**32 - 1))


def random_pair(shape1, shape2, seed, dtype):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape1).astype(dtype), rng.standard_normal(shape2).astype(dtype))


def as_tensors(*arrays, requires_grad=False):
    return tuple(tc.tensor(a, requires_grad=requires_grad) for a in arrays)


def expected_length(mode: str, n: int, k: int) -> int:
    return {"full": n + k - 1, "valid": abs(n - k) + 1, "same": n}[mode]


# ------------------------------------------------------------------------------------------------
# Values against scipy.signal
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(FUNCTIONS))
@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@given(problem=signal_problems())
def test_matches_scipy(name, dtype, rtol, problem):
    mode, shape1, shape2, seed = problem
    a, b = random_pair(shape1, shape2, seed, dtype)
    expected = FUNCTIONS[name](a.astype(np.float64), b.astype(np.float64), mode=mode)
    result = signal_fn(name)(*as_tensors(a, b), mode=mode)
    assert result.dtype == dtype
    assert result.shape == expected.shape
    assert result.shape == tuple(expected_length(mode, n, k)
                                 for n, k in zip(shape1, shape2, strict=True))
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(result.numpy(), expected, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_default_mode_is_full_like_scipy(name):
    a, b = random_pair((4, 5), (2, 3), 0, np.float64)
    result = signal_fn(name)(*as_tensors(a, b))
    np.testing.assert_allclose(result.numpy(), FUNCTIONS[name](a, b), rtol=1e-12)
    assert result.shape == (5, 7)


@pytest.mark.parametrize("name", list(FUNCTIONS))
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6, 7])
def test_same_mode_centring_for_even_and_odd_kernels(name, k):
    """"same" is a window of "full" whose start scipy puts at k//2 for correlate2d and (k-1)//2
    for convolve2d (they differ for even k); the result always has in1's shape."""
    a, b = random_pair((5, 4), (k, k), k, np.float64)
    full = signal_fn(name)(*as_tensors(a, b), mode="full").numpy()
    same = signal_fn(name)(*as_tensors(a, b), mode="same").numpy()
    start = k // 2 if name == "correlate2d" else (k - 1) // 2
    assert same.shape == a.shape
    np.testing.assert_array_equal(same, full[start:start + 5, start:start + 4])
    np.testing.assert_allclose(same, FUNCTIONS[name](a, b, mode="same"), rtol=1e-12)


def test_valid_swaps_when_in2_is_larger():
    small, big = random_pair((2, 3), (4, 6), 1, np.float64)
    correlation = tc.signal.correlate2d(*as_tensors(small, big), mode="valid")
    # correlate2d swaps and rotates back: the same as correlating big with small, rotated
    swapped = tc.signal.correlate2d(*as_tensors(big, small), mode="valid")
    np.testing.assert_allclose(correlation.numpy(), tc.signal.rot180(swapped).numpy(), rtol=1e-12)
    assert correlation.shape == (3, 4)
    # convolution commutes, so the swap changes nothing
    np.testing.assert_allclose(tc.signal.convolve2d(*as_tensors(small, big), mode="valid").numpy(),
                               tc.signal.convolve2d(*as_tensors(big, small), mode="valid").numpy(),
                               rtol=1e-12)


def test_docstring_examples_run():
    failures, attempted = doctest.testmod(tinyconv.signal, verbose=False)
    assert attempted > 0
    assert failures == 0


# ------------------------------------------------------------------------------------------------
# Gradients in both arguments
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(FUNCTIONS))
@settings(max_examples=GRADCHECK_EXAMPLES)
@given(problem=signal_problems(max_size=4))
def test_gradcheck_both_arguments(name, problem):
    mode, shape1, shape2, seed = problem
    a, b = as_tensors(*random_pair(shape1, shape2, seed, np.float64), requires_grad=True)
    assert gradcheck(lambda x, k: signal_fn(name)(x, k, mode=mode), (a, b))


def test_gradients_of_valid_correlation_are_the_identities_of_design():
    """For y = x ⋆ w (valid) and δ = dL/dy: dL/dw = x ⋆ δ (valid) and dL/dx = full_conv(δ, w)."""
    x_array, w_array = random_pair((6, 5), (3, 2), 2, np.float64)
    delta = np.random.default_rng(3).standard_normal((4, 4))
    x, w = as_tensors(x_array, w_array, requires_grad=True)
    (tc.signal.correlate2d(x, w, mode="valid") * tc.tensor(delta)).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(),
                               scipy.signal.correlate2d(x_array, delta, mode="valid"), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(),
                               scipy.signal.convolve2d(delta, w_array, mode="full"), rtol=1e-12)


# ------------------------------------------------------------------------------------------------
# rot180 and the identities between correlation and convolution
# ------------------------------------------------------------------------------------------------


@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(1, 5)),
       seed=st.integers(0, 2**32 - 1))
def test_rot180_properties(shape, seed):
    array = np.random.default_rng(seed).standard_normal(shape)
    t = tc.tensor(array, requires_grad=True)
    rotated = tc.signal.rot180(t).detach()
    assert rotated.shape == t.shape
    np.testing.assert_array_equal(rotated.numpy(), array[..., ::-1, ::-1])
    np.testing.assert_array_equal(tc.signal.rot180(rotated).numpy(), array)  # an involution
    np.testing.assert_array_equal(rotated.numpy(), np.rot90(array, 2, axes=(-2, -1)))
    assert gradcheck(tc.signal.rot180, (t,))


def test_rot180_rejects_fewer_than_two_dimensions():
    with pytest.raises(ValueError, match=r"rot180: .*at least 2 dimensions.*\(5,\)"):
        tc.signal.rot180(tc.ones(5))
    with pytest.raises(TypeError, match="rot180: expected a Tensor"):
        tc.signal.rot180(np.ones((2, 2)))


@given(problem=signal_problems())
def test_convolution_is_correlation_with_the_rotated_kernel(problem):
    mode, shape1, shape2, seed = problem
    a, b = as_tensors(*random_pair(shape1, shape2, seed, np.float64))
    convolution = tc.signal.convolve2d(a, b, mode=mode).numpy()
    correlation = tc.signal.correlate2d(a, tc.signal.rot180(b), mode=mode).numpy()
    if mode == "same":
        # "same" keeps the window of "full" starting at (k-1)//2 for convolve2d but k//2 for
        # correlate2d, so the two agree directly only for odd kernel sizes (see the docstring)
        full = tc.signal.correlate2d(a, tc.signal.rot180(b), mode="full").numpy()
        top, left = ((k - 1) // 2 for k in shape2)
        if all(k % 2 for k in shape2):
            np.testing.assert_allclose(full[top:top + shape1[0], left:left + shape1[1]],
                                       correlation, rtol=1e-12, atol=1e-12)
        correlation = full[top:top + shape1[0], left:left + shape1[1]]
    np.testing.assert_allclose(convolution, correlation, rtol=1e-12, atol=1e-12)


@given(shapes=shape_pairs(), seed=st.integers(0, 2**32 - 1))
def test_full_convolution_commutes_and_correlation_rotates(shapes, seed):
    a, b = as_tensors(*random_pair(*shapes, seed, np.float64))
    np.testing.assert_allclose(tc.signal.convolve2d(a, b).numpy(),
                               tc.signal.convolve2d(b, a).numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tc.signal.correlate2d(a, b).numpy(),
                               tc.signal.rot180(tc.signal.correlate2d(b, a)).numpy(),
                               rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_errors_name_the_function(name):
    fn = signal_fn(name)
    image, kernel = tc.ones(4, 4), tc.ones(2, 2)
    with pytest.raises(ValueError, match=rf"{name}: mode must be one of .*'wide'"):
        fn(image, kernel, mode="wide")
    with pytest.raises(ValueError, match=rf"{name}: in1 must be 2-D, got shape \(1, 4, 4\)"):
        fn(tc.ones(1, 4, 4), kernel)
    with pytest.raises(ValueError, match=rf"{name}: in2 must be 2-D, got shape \(2,\)"):
        fn(image, tc.ones(2))
    with pytest.raises(TypeError, match=rf"{name}: in1 must be float32 or float64, got int64"):
        fn(tc.tensor(np.ones((4, 4), dtype=np.int64)), kernel)
    with pytest.raises(TypeError, match=rf"{name}: in1 and in2 must have the same dtype"):
        fn(image, kernel.double())
    with pytest.raises(TypeError, match=rf"{name}: in2 must be a Tensor"):
        fn(image, np.ones((2, 2)))
    with pytest.raises(ValueError, match=rf"{name}: in2 must not be empty"):
        fn(image, tc.ones(0, 2))


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_valid_mode_needs_one_input_to_contain_the_other(name):
    a, b = random_pair((2, 7), (3, 5), 0, np.float64)
    with pytest.raises(ValueError, match="at least as large as the other"):
        FUNCTIONS[name](a, b, mode="valid")  # scipy refuses too
    with pytest.raises(ValueError, match=rf"{name}: for mode 'valid', one input must be at least "
                                         r"as large as the other .*\(2, 7\) and \(3, 5\)"):
        signal_fn(name)(*as_tensors(a, b), mode="valid")
    # "full" and "same" accept any pair of shapes, as in scipy
    for mode in ("full", "same"):
        np.testing.assert_allclose(signal_fn(name)(*as_tensors(a, b), mode=mode).numpy(),
                                   FUNCTIONS[name](a, b, mode=mode), rtol=1e-12)


def test_mixing_devices_is_an_error():
    # a tensor that claims to live on the GPU: only the device check looks at it, so no GPU needed
    on_gpu = tc.Tensor._from_array(np.ones((2, 2), np.float32), tc.Device("cuda"))
    with pytest.raises(RuntimeError, match=r"correlate2d: expected all tensors on the same device, "
                                           r"got \['cpu', 'cuda'\]"):
        tc.signal.correlate2d(tc.ones(3, 3), on_gpu)
