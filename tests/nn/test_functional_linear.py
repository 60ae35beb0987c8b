"""linear: gradcheck, the 1×1-convolution identity, shape errors, and PyTorch on a grid."""

import itertools

import numpy as np
import pytest

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv.testing import gradcheck

INPUT_SHAPES = [(5,), (4, 5), (2, 3, 5), (2, 1, 3, 5)]


@pytest.mark.parametrize("shape, use_bias", list(itertools.product(INPUT_SHAPES, [True, False])))
def test_gradcheck_and_output_shape(shape, use_bias):
    rng = np.random.default_rng(0)
    x = tc.tensor(rng.standard_normal(shape), requires_grad=True)
    w = tc.tensor(rng.standard_normal((3, 5)), requires_grad=True)
    b = tc.tensor(rng.standard_normal(3), requires_grad=True)
    params = (w, b) if use_bias else (w,)
    assert F.linear(x, *params).shape == shape[:-1] + (3,)
    assert gradcheck(lambda *args: F.linear(*args), (x,) + params)


def test_linear_is_a_matrix_product_plus_bias():
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((4, 5)), rng.standard_normal((3, 5)), rng.standard_normal(3)
    np.testing.assert_allclose(F.linear(tc.tensor(x), tc.tensor(w), tc.tensor(b)).numpy(),
                               x @ w.T + b, rtol=1e-12)


def test_a_1x1_convolution_is_linear_at_every_pixel():
    rng = np.random.default_rng(2)
    x = tc.tensor(rng.standard_normal((2, 5, 3, 4)))
    w, b = tc.tensor(rng.standard_normal((6, 5))), tc.tensor(rng.standard_normal(6))
    by_conv = F.conv2d(x, w.reshape(6, 5, 1, 1), b)
    by_linear = F.linear(x.permute(0, 2, 3, 1), w, b).permute(0, 3, 1, 2)
    np.testing.assert_allclose(by_conv.numpy(), by_linear.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("fn, error, match", [
    (lambda: F.linear(tc.randn(4, 6), tc.randn(3, 5)), ValueError,
     r"linear: input of shape \(4, 6\) does not fit weight of shape \(3, 5\).*in_features = 5"),
    (lambda: F.linear(tc.randn(4, 5), tc.randn(5)), ValueError,
     r"linear: weight must be 2-D \(out_features, in_features\), got shape \(5,\)"),
    (lambda: F.linear(tc.randn(4, 5), tc.randn(3, 5), tc.randn(4)), ValueError,
     r"linear: bias must have shape \(3,\)"),
    (lambda: F.linear(tc.randn(4, 5), tc.randn(3, 5, dtype=tc.float64)), TypeError,
     r"linear: .*same dtype"),
    (lambda: F.linear(tc.tensor([1, 2]), tc.randn(3, 2)), TypeError,
     r"linear: input must be float32 or float64"),
])
def test_errors_name_the_op_and_the_shapes(fn, error, match):
    with pytest.raises(error, match=match):
        fn()


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="PyTorch is only the reference for these values")


@pytest.mark.parametrize("shape, use_bias", list(itertools.product(INPUT_SHAPES, [True, False])))
def test_linear_matches_pytorch(torch, shape, use_bias):
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(shape), rng.standard_normal((3, 5)), rng.standard_normal(3)]
    upstream = rng.standard_normal(shape[:-1] + (3,))
    results = []
    for lib, functional in ((tc, F), (torch, torch.nn.functional)):
        leaves = [lib.tensor(a, requires_grad=True) for a in arrays[:3 if use_bias else 2]]
        y = functional.linear(*leaves)
        y.backward(lib.tensor(upstream))
        results.append([y.detach().numpy()] + [leaf.grad.numpy() for leaf in leaves])
    for mine, reference in zip(*results, strict=True):
        np.testing.assert_allclose(mine, reference, rtol=1e-10, atol=1e-10)
