"""Activations and softmax: torch-free checks (gradcheck, identities, stability, errors), then
values and gradients against PyTorch on the same float64 inputs."""

import numpy as np
import pytest

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv.testing import gradcheck

# (name, function taking one tensor) for every elementwise activation and its options
ACTIVATIONS = {
    "relu": lambda x: F.relu(x),
    "relu6": lambda x: F.relu6(x),
    "leaky_relu_default": lambda x: F.leaky_relu(x),
    "leaky_relu_0.2": lambda x: F.leaky_relu(x, 0.2),
    "hardtanh_default": lambda x: F.hardtanh(x),
    "hardtanh_-2_0.5": lambda x: F.hardtanh(x, -2.0, 0.5),
    "sigmoid": lambda x: F.sigmoid(x),
    "tanh": lambda x: F.tanh(x),
    "gelu": lambda x: F.gelu(x),
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "softmax_dim0": lambda x: F.softmax(x, dim=0),
    "softmax_dim1": lambda x: F.softmax(x, dim=1),
    "softmax_dim-1": lambda x: F.softmax(x, dim=-1),
    "log_softmax_dim0": lambda x: F.log_softmax(x, dim=0),
    "log_softmax_dim1": lambda x: F.log_softmax(x, dim=1),
    "log_softmax_dim-1": lambda x: F.log_softmax(x, dim=-1),
}

# values where a piecewise activation has a kink; finite differences are wrong there
KINKS = np.array([-2.0, -1.0, 0.0, 0.5, 1.0, 6.0])


def away_from_kinks(shape, seed=0):
    """Random float64 values at least 0.05 from every kink, scaled to cover relu6's range."""
    rng = np.random.default_rng(seed)
    values = rng.uniform(-8, 8, size=shape)
    near = np.abs(values[..., None] - KINKS).min(axis=-1) < 0.05
    values[near] += 0.1
    return values


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_gradcheck(name):
    x = tc.tensor(away_from_kinks((3, 4, 2)), dtype=tc.float64, requires_grad=True)
    assert gradcheck(ACTIVATIONS[name], (x,))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_output_keeps_shape_and_float32(name):
    x = tc.randn(2, 3, 4)
    y = ACTIVATIONS[name](x)
    assert y.shape == x.shape and y.dtype == tc.float32


def test_piecewise_linear_values():
    x = tc.tensor([-3.0, -0.5, 0.0, 0.5, 3.0, 7.0])
    np.testing.assert_allclose(F.relu(x).numpy(), [0, 0, 0, 0.5, 3, 7])
    np.testing.assert_allclose(F.relu6(x).numpy(), [0, 0, 0, 0.5, 3, 6])
    np.testing.assert_allclose(F.leaky_relu(x, 0.1).numpy(), [-0.3, -0.05, 0, 0.5, 3, 7],
                               rtol=1e-6)
    np.testing.assert_allclose(F.hardtanh(x).numpy(), [-1, -0.5, 0, 0.5, 1, 1])


def test_kink_gradients_follow_pytorch_conventions():
    # relu, relu6, hardtanh: 0 at (and beyond) the kinks; leaky_relu: the slope at 0
    x = tc.tensor([-1.0, 0.0, 3.0, 6.0, 7.0], dtype=tc.float64, requires_grad=True)
    for fn, expected in [(F.relu, [0, 0, 1, 1, 1]), (F.relu6, [0, 0, 1, 0, 0]),
                         (lambda t: F.leaky_relu(t, 0.2), [0.2, 0.2, 1, 1, 1]),
                         (lambda t: F.hardtanh(t, -1.0, 3.0), [0, 1, 0, 0, 0])]:
        x.grad = None
        fn(x).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), expected)


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_softmax_slices_are_probabilities_and_log_softmax_is_their_log(dim):
    x = tc.randn(3, 4, 5, dtype=tc.float64) * 5
    s = F.softmax(x, dim=dim)
    assert (s.numpy() > 0).all()
    np.testing.assert_allclose(s.sum(dim=dim).numpy(), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(F.log_softmax(x, dim=dim).numpy(), np.log(s.numpy()),
                               rtol=0, atol=1e-12)


def test_softmax_ignores_a_constant_shift():
    x = tc.randn(4, 6, dtype=tc.float64)
    np.testing.assert_allclose(F.softmax(x + 1000.0, dim=1).numpy(), F.softmax(x, dim=1).numpy(),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [tc.float32, tc.float64])
def test_softmax_and_log_softmax_are_stable_for_huge_logits(dtype):
    x = tc.tensor([[1e4, 0.0, -1e4], [-1e4, -1e4, -1e4], [1e4, 1e4, 0.0]], dtype=dtype,
                  requires_grad=True)
    s = F.softmax(x, dim=1)
    log_s = F.log_softmax(x, dim=1)
    np.testing.assert_allclose(s.detach().numpy(),
                               [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0]], atol=1e-6)
    log2, log3 = np.log(2), np.log(3)
    np.testing.assert_allclose(log_s.detach().numpy(),
                               [[0, -1e4, -2e4], [-log3] * 3, [-log2, -log2, -1e4 - log2]],
                               rtol=1e-6)
    (s.sum() + log_s.sum()).backward()
    assert np.isfinite(x.grad.numpy()).all()


def test_softmax_without_dim_warns_and_uses_pytorchs_choice():
    x = tc.randn(2, 3)
    with pytest.warns(UserWarning, match="implicit dimension"):
        y = F.softmax(x)
    np.testing.assert_allclose(y.sum(dim=1).numpy(), 1.0, rtol=1e-6)


def test_softmax_of_a_scalar_is_one():
    assert F.softmax(tc.tensor(3.0), dim=0).item() == 1.0
    assert F.log_softmax(tc.tensor(3.0), dim=0).item() == 0.0


def test_softmax_dtype_argument_casts_first():
    y = F.softmax(tc.randn(2, 3), dim=1, dtype=tc.float64)
    assert y.dtype == tc.float64


def test_activation_modules_use_these_functions():
    x = tc.tensor([-1.0, 2.0, 8.0])
    np.testing.assert_allclose(tc.nn.ReLU6()(x).numpy(), [0, 2, 6])
    np.testing.assert_allclose(tc.nn.LeakyReLU(0.5)(x).numpy(), [-0.5, 2, 8])


@pytest.mark.parametrize("fn, match", [
    (lambda: F.softmax(tc.randn(2, 3), dim=2), "softmax: dimension 2 is out of range"),
    (lambda: F.log_softmax(tc.tensor([1, 2]), dim=0), "log_softmax: input must be a floating"),
    (lambda: F.relu([1.0, -1.0]), "relu: input must be a Tensor"),
    (lambda: F.hardtanh(tc.randn(3), 1.0, -1.0), "hardtanh: min_val .* greater than max_val"),
    (lambda: F.leaky_relu(tc.randn(3), "0.1"), "leaky_relu: negative_slope must be a number"),
    (lambda: F.gelu(tc.randn(3), approximate="erf"), "gelu: approximate must be"),
])
def test_errors_name_the_op_and_the_problem(fn, match):
    with pytest.raises((ValueError, TypeError, IndexError), match=match):
        fn()


# ---------------------------------------------------------------------------------------------
# Against PyTorch
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="PyTorch is only the reference for these values")


# the same grid as ACTIVATIONS, spelled with torch.nn.functional (tf)
TORCH_ACTIVATIONS = {
    "relu": lambda tf, x: tf.relu(x),
    "relu6": lambda tf, x: tf.relu6(x),
    "leaky_relu_default": lambda tf, x: tf.leaky_relu(x),
    "leaky_relu_0.2": lambda tf, x: tf.leaky_relu(x, 0.2),
    "hardtanh_default": lambda tf, x: tf.hardtanh(x),
    "hardtanh_-2_0.5": lambda tf, x: tf.hardtanh(x, -2.0, 0.5),
    "sigmoid": lambda tf, x: tf.sigmoid(x),
    "tanh": lambda tf, x: tf.tanh(x),
    "gelu": lambda tf, x: tf.gelu(x),
    "gelu_tanh": lambda tf, x: tf.gelu(x, approximate="tanh"),
    "softmax_dim0": lambda tf, x: tf.softmax(x, dim=0),
    "softmax_dim1": lambda tf, x: tf.softmax(x, dim=1),
    "softmax_dim-1": lambda tf, x: tf.softmax(x, dim=-1),
    "log_softmax_dim0": lambda tf, x: tf.log_softmax(x, dim=0),
    "log_softmax_dim1": lambda tf, x: tf.log_softmax(x, dim=1),
    "log_softmax_dim-1": lambda tf, x: tf.log_softmax(x, dim=-1),
}


def test_the_torch_grid_covers_every_activation():
    assert set(TORCH_ACTIVATIONS) == set(ACTIVATIONS)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_values_and_gradients_match_pytorch(torch, name):
    rng = np.random.default_rng(1)
    values = rng.uniform(-8, 8, size=(4, 5, 3))
    values.reshape(-1)[:KINKS.size] = KINKS  # the kinks themselves, where conventions differ
    values.reshape(-1)[-2:] = [40.0, -40.0]  # saturation
    upstream = rng.standard_normal(values.shape)

    x = tc.tensor(values, requires_grad=True)
    y = ACTIVATIONS[name](x)
    y.backward(tc.tensor(upstream))
    xt = torch.tensor(values, requires_grad=True)
    yt = TORCH_ACTIVATIONS[name](torch.nn.functional, xt)
    yt.backward(torch.tensor(upstream))

    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-10)
