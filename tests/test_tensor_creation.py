"""Creation functions, dtypes, attributes and conversions, checked against NumPy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

import tinyconv as tc
from tinyconv.testing.tensor_strategies import shapes

# -- tc.tensor ---------------------------------------------------------------------------------


@pytest.mark.parametrize("data, dtype", [
    ([1.0, 2.5], tc.float32),          # Python floats: float32, as torch
    ([[1, 2], [3, 4]], tc.int64),      # Python ints: int64
    ([True, False], tc.bool),
    (3.0, tc.float32),
    (7, tc.int64),
    (np.array([1.0, 2.0]), tc.float64),  # arrays keep their dtype
    (np.array([1, 2], dtype=np.int32), tc.int32),
    (np.float64(2.0), tc.float64),
])
def test_tensor_default_dtypes(data, dtype):
    t = tc.tensor(data)
    assert t.dtype == dtype
    np.testing.assert_array_equal(t.numpy(), np.asarray(data))
    assert t.shape == np.shape(data)


@pytest.mark.parametrize("dtype", [tc.float32, tc.float64, tc.int64, tc.bool])
def test_tensor_explicit_dtype(dtype):
    t = tc.tensor([0, 1, 2], dtype=dtype)
    assert t.dtype == dtype
    np.testing.assert_array_equal(t.numpy(), np.array([0, 1, 2]).astype(dtype))


@pytest.mark.parametrize("spelling", ["float64", "double", np.float64, tc.float64])
def test_dtype_spellings(spelling):
    assert tc.tensor([1.0], dtype=spelling).dtype == tc.float64


def test_tensor_copies_its_input():
    array = np.array([1.0, 2.0])
    t = tc.tensor(array)
    array[0] = 100.0
    assert t.tolist() == [1.0, 2.0]
    source = tc.tensor([1.0, 2.0])
    copy = tc.tensor(source)
    source.data[0] = 5.0
    assert copy.tolist() == [1.0, 2.0]


def test_tensor_requires_grad_and_device():
    t = tc.tensor([1.0, 2.0], requires_grad=True, device="cpu")
    assert t.requires_grad and t.is_leaf and t.grad is None
    assert t.device == "cpu" and t.device == tc.device("cpu")


# -- filled and random creation ------------------------------------------------------------------

FILLED = [
    ("zeros", lambda s, **k: tc.zeros(*s, **k), lambda s, d: np.zeros(s, d)),
    ("zeros_tuple", lambda s, **k: tc.zeros(s, **k), lambda s, d: np.zeros(s, d)),
    ("ones", lambda s, **k: tc.ones(*s, **k), lambda s, d: np.ones(s, d)),
    ("ones_list", lambda s, **k: tc.ones(list(s), **k), lambda s, d: np.ones(s, d)),
    ("full", lambda s, **k: tc.full(s, 2.5, **k), lambda s, d: np.full(s, 2.5, d)),
    ("empty", lambda s, **k: tc.empty(*s, **k), None),
]


@pytest.mark.parametrize("dtype", [None, tc.float32, tc.float64, tc.int64])
@pytest.mark.parametrize("name, make, reference", FILLED, ids=[f[0] for f in FILLED])
@given(shape=shapes(max_side=4))
def test_filled_creation(name, make, reference, dtype, shape):
    t = make(shape, dtype=dtype)
    expected_dtype = dtype or tc.float32
    assert t.shape == shape and t.dtype == expected_dtype and not t.requires_grad
    if reference is not None:
        np.testing.assert_array_equal(t.numpy(), reference(shape, expected_dtype))


def test_full_infers_dtype_from_the_fill_value():
    assert tc.full((2,), 3).dtype == tc.int64
    assert tc.full((2,), 3.0).dtype == tc.float32
    assert tc.full((2,), True).dtype == tc.bool
    assert tc.full(3, 1.0).shape == (3,)


@pytest.mark.parametrize("make", [tc.zeros_like, tc.ones_like, tc.randn_like, tc.rand_like])
@pytest.mark.parametrize("dtype", [tc.float32, tc.float64])
def test_like_functions_keep_shape_and_dtype(make, dtype):
    source = tc.ones(2, 3, dtype=dtype)
    t = make(source)
    assert t.shape == (2, 3) and t.dtype == dtype and t.device == source.device
    other = tc.float64 if dtype == tc.float32 else tc.float32
    assert make(source, dtype=other).dtype == other


def test_zeros_and_ones_like_values():
    source = tc.tensor([[1.0, 2.0]])
    np.testing.assert_array_equal(tc.zeros_like(source).numpy(), np.zeros((1, 2)))
    np.testing.assert_array_equal(tc.ones_like(source).numpy(), np.ones((1, 2)))
    assert tc.zeros_like(source, requires_grad=True).requires_grad


@pytest.mark.parametrize("make", [
    lambda: tc.rand(3, 4), lambda: tc.randn(3, 4), lambda: tc.randint(0, 10, (3, 4)),
    lambda: tc.randn((3, 4), dtype=tc.float64), lambda: tc.randperm(5),
])
def test_manual_seed_makes_draws_reproducible(make):
    tc.manual_seed(1234)
    first, second = make(), make()
    tc.manual_seed(1234)
    again = make()
    np.testing.assert_array_equal(first.numpy(), again.numpy())
    assert not np.array_equal(first.numpy(), second.numpy())  # the stream moves on


def test_random_distributions_dtypes_and_ranges():
    tc.manual_seed(0)
    u = tc.rand(2000)
    assert u.dtype == tc.float32 and 0 <= u.numpy().min() and u.numpy().max() < 1
    n = tc.randn(2000, dtype=tc.float64)
    assert n.dtype == tc.float64
    assert abs(n.numpy().mean()) < 0.15 and abs(n.numpy().std() - 1) < 0.15
    r = tc.randint(3, 7, (2000,))
    assert r.dtype == tc.int64 and set(np.unique(r.numpy())) == {3, 4, 5, 6}
    r = tc.randint(5, (100,))  # randint(high, size): low = 0, as torch.randint
    assert r.shape == (100,) and r.numpy().min() >= 0 and r.numpy().max() < 5
    assert tc.rand(2, 2, requires_grad=True).requires_grad
    assert sorted(tc.randperm(6).tolist()) == list(range(6))


@pytest.mark.parametrize("args, kwargs", [
    ((5,), {}), ((2, 7), {}), ((0, 10, 3), {}), ((0.0, 1.0, 0.25), {}), ((5, 0, -1), {}),
    ((3,), {"dtype": tc.float64}), ((1, 2, 0.5), {"dtype": tc.float64}),
])
def test_arange_matches_numpy(args, kwargs):
    t = tc.arange(*args, **kwargs)
    all_ints = all(isinstance(a, int) for a in args)
    expected_dtype = kwargs.get("dtype", tc.int64 if all_ints else tc.float32)
    assert t.dtype == expected_dtype
    np.testing.assert_allclose(t.numpy(), np.arange(*args).astype(expected_dtype))


@pytest.mark.parametrize("start, end, steps", [(0, 1, 5), (-2, 3, 1), (1, -1, 7), (0, 1, 0)])
@pytest.mark.parametrize("dtype", [None, tc.float64])
def test_linspace_matches_numpy(start, end, steps, dtype):
    t = tc.linspace(start, end, steps, dtype=dtype)
    assert t.dtype == (dtype or tc.float32)
    np.testing.assert_allclose(t.numpy(), np.linspace(start, end, steps), rtol=1e-6)


@pytest.mark.parametrize("n, m", [(1, None), (3, None), (2, 4), (4, 2)])
def test_eye_matches_numpy(n, m):
    t = tc.eye(n, m)
    assert t.dtype == tc.float32
    np.testing.assert_array_equal(t.numpy(), np.eye(n, m))
    assert tc.eye(n, m, dtype=tc.float64).dtype == tc.float64


# -- attributes and conversions ------------------------------------------------------------------


@given(shape=shapes(max_side=4))
def test_shape_attributes(shape):
    t = tc.zeros(shape)
    assert t.shape == shape and t.size() == shape and t.ndim == len(shape) == t.dim()
    assert t.numel() == int(np.prod(shape))
    for d in range(len(shape)):
        assert t.size(d) == shape[d]


def test_item_numpy_tolist_asarray():
    t = tc.tensor([[1.5, 2.0], [3.0, 4.0]], dtype=tc.float64)
    assert tc.tensor([[2.5]]).item() == 2.5 and isinstance(tc.tensor(3).item(), int)
    assert t.tolist() == [[1.5, 2.0], [3.0, 4.0]]
    a = np.asarray(t)
    assert a.dtype == np.float64 and a.shape == (2, 2)
    np.testing.assert_array_equal(a, t.numpy())
    assert np.asarray(t, dtype=np.float32).dtype == np.float32
    assert np.shares_memory(t.numpy(), t.data)  # like torch: numpy() shares memory on CPU
    assert float(tc.tensor(2.0)) == 2.0 and int(tc.tensor(3)) == 3


def test_numpy_of_a_tensor_that_requires_grad_needs_detach():
    t = tc.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="numpy.*detach"):
        t.numpy()
    np.testing.assert_array_equal(t.detach().numpy(), [1.0])


@pytest.mark.parametrize("convert, dtype", [
    (lambda t: t.float(), tc.float32), (lambda t: t.double(), tc.float64),
    (lambda t: t.to(tc.float64), tc.float64), (lambda t: t.to(np.float64), tc.float64),
    (lambda t: t.to(dtype=tc.int64), tc.int64), (lambda t: t.to("cpu", tc.float64), tc.float64),
    (lambda t: t.long(), tc.int64), (lambda t: t.bool(), tc.bool),
])
def test_conversions(convert, dtype):
    t = tc.tensor([0.0, 1.5, -2.0])
    out = convert(t)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out.numpy(), t.numpy().astype(dtype))


def test_to_device_cpu_keeps_the_tensor():
    t = tc.ones(2)
    assert t.to("cpu") is t and t.cpu() is t


def test_requires_grad_and_leaf_attributes():
    t = tc.ones(2)
    assert not t.requires_grad and t.is_leaf and t.grad is None
    assert t.requires_grad_() is t and t.requires_grad
    t.requires_grad_(False)
    assert not t.requires_grad


def test_repr_shows_grad_information():
    t = tc.tensor([1.0], requires_grad=True)
    assert "requires_grad=True" in repr(t)
    assert "grad_fn" in repr(t * 2)
    assert "float64" in repr(tc.ones(1, dtype=tc.float64))
