"""local_response_norm / nn.LocalResponseNorm: PyTorch's values and gradients, finite
differences, and clear errors for bad arguments."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv.testing import gradcheck
from tinyconv.testing.tensor_strategies import arrays, shapes


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="PyTorch is only the reference for these values")


lrn_arguments = st.fixed_dictionaries({
    "size": st.integers(1, 6),
    "alpha": st.sampled_from([1e-4, 0.1, 1.0]),
    "beta": st.sampled_from([0.5, 0.75, 1.3]),
    "k": st.sampled_from([0.5, 1.0, 2.0]),
})


@given(x=arrays(shapes(min_dims=3, max_dims=5, max_side=5)), args=lrn_arguments)
def test_matches_pytorch_values_and_gradient(torch, x, args):
    ours = tc.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    y_ours = F.local_response_norm(ours, **args)
    y_theirs = torch.nn.functional.local_response_norm(theirs, **args)
    np.testing.assert_allclose(y_ours.detach().numpy(), y_theirs.detach().numpy(),
                               rtol=1e-10, atol=1e-12)
    weights = np.cos(np.arange(x.size)).reshape(x.shape)       # a non-uniform upstream gradient
    (y_ours * tc.tensor(weights)).sum().backward()
    (y_theirs * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_module_matches_functional_and_pytorch_module(torch):
    x = np.random.default_rng(0).normal(size=(2, 6, 3, 3)).astype(np.float32)
    layer = tc.nn.LocalResponseNorm(3, alpha=0.2, beta=0.6, k=1.5)
    reference = torch.nn.LocalResponseNorm(3, alpha=0.2, beta=0.6, k=1.5)
    np.testing.assert_allclose(layer(tc.tensor(x)).numpy(),
                               reference(torch.tensor(x)).numpy(), rtol=1e-6)
    assert repr(layer) == "LocalResponseNorm(3, alpha=0.2, beta=0.6, k=1.5)"
    assert list(layer.parameters()) == []
    assert layer(tc.tensor(x)).dtype == tc.float32


def test_hand_computed_value():
    # one position, channels (1, 2, 3), size 3: channel 1 sees 1² + 2² + 3² = 14
    x = tc.tensor([1.0, 2.0, 3.0], dtype=tc.float64).reshape(1, 3, 1)
    y = F.local_response_norm(x, size=3, alpha=3.0, beta=1.0, k=1.0).numpy().ravel()
    expected = np.array([1 / (1 + (1 + 4)), 2 / (1 + 14), 3 / (1 + (4 + 9))])
    np.testing.assert_allclose(y, expected)


def test_gradcheck_finite_differences():
    x = tc.randn(2, 5, 3, 2, dtype=tc.float64, requires_grad=True)
    assert gradcheck(lambda t: F.local_response_norm(t, size=4, alpha=0.5, beta=0.75, k=1.0), x)


@pytest.mark.parametrize(("shape", "size", "message"), [
    ((3, 4), 2, r"expected an input of 3 or more dimensions .* got shape \(3, 4\)"),
    ((1, 3, 4), 0, "size must be a positive int"),
    ((1, 3, 4), 2.5, "size must be a positive int"),
])
def test_bad_arguments_raise_clear_errors(shape, size, message):
    with pytest.raises(ValueError, match="local_response_norm: " + message):
        F.local_response_norm(tc.zeros(*shape), size)


def test_integer_input_is_rejected():
    with pytest.raises((TypeError, ValueError), match="local_response_norm"):
        F.local_response_norm(tc.tensor([[[1, 2]]]), 2)
