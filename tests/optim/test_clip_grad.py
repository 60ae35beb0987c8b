"""Tests of tc.nn.utils.clip_grad_norm_ and clip_grad_value_ (against PyTorch, and by hand)."""

import math

import numpy as np
import pytest

import tinyconv as tc
from tinyconv.nn.utils import clip_grad_norm_, clip_grad_value_

RNG = np.random.default_rng(7)
GRADIENTS = [RNG.standard_normal((3, 4)), RNG.standard_normal(5), np.array([[-2.5]])]


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="PyTorch is the reference for these comparisons "
                                               "(not a tinyconv dependency)")


def parameters_with_gradients(gradients, dtype=np.float64):
    """Parameters whose ``.grad`` are copies of ``gradients``, plus one without a gradient."""
    parameters = []
    for gradient in gradients:
        param = tc.nn.Parameter(tc.zeros(*gradient.shape, dtype=dtype))
        param.grad = tc.tensor(gradient.astype(dtype))
        parameters.append(param)
    parameters.append(tc.nn.Parameter(tc.zeros(2, dtype=dtype)))  # .grad is None: ignored
    return parameters


def gradient_arrays(parameters):
    return [param.grad.numpy().copy() for param in parameters if param.grad is not None]


# -- against PyTorch ------------------------------------------------------------------------------

@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, 0.5, math.inf, "inf"])
@pytest.mark.parametrize("max_norm", [0.3, 1e3])  # clipping, and no clipping
def test_clip_grad_norm_matches_torch(torch, norm_type, max_norm):
    ours = parameters_with_gradients(GRADIENTS)
    theirs = []
    for gradient in GRADIENTS:
        param = torch.zeros(gradient.shape, dtype=torch.float64, requires_grad=True)
        param.grad = torch.tensor(gradient)
        theirs.append(param)

    our_norm = clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    their_norm = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=float(norm_type))

    assert isinstance(our_norm, tc.Tensor) and our_norm.shape == ()
    assert float(our_norm) == pytest.approx(float(their_norm), rel=1e-12)
    for our_gradient, param in zip(gradient_arrays(ours), theirs, strict=True):
        np.testing.assert_allclose(our_gradient, param.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("clip_value", [0.1, 1.0, 10.0])
def test_clip_grad_value_matches_torch(torch, clip_value):
    ours = parameters_with_gradients(GRADIENTS)
    theirs = []
    for gradient in GRADIENTS:
        param = torch.zeros(gradient.shape, dtype=torch.float64, requires_grad=True)
        param.grad = torch.tensor(gradient)
        theirs.append(param)
    clip_grad_value_(ours, clip_value)
    torch.nn.utils.clip_grad_value_(theirs, clip_value)
    for our_gradient, param in zip(gradient_arrays(ours), theirs, strict=True):
        np.testing.assert_array_equal(our_gradient, param.grad.numpy())


# -- by hand --------------------------------------------------------------------------------------

def test_clip_grad_norm_3_4_5():
    """Gradients (3, 4) and (12,): total 2-norm √(9 + 16 + 144) = 13; clipped to norm 1 they keep
    their direction."""
    parameters = parameters_with_gradients([np.array([3.0, 4.0]), np.array([12.0])])
    total = clip_grad_norm_(parameters, max_norm=1.0)
    assert float(total) == pytest.approx(13.0, rel=1e-15)
    coefficient = 1.0 / (13.0 + 1e-6)
    clipped = gradient_arrays(parameters)
    np.testing.assert_allclose(clipped[0], [3.0 * coefficient, 4.0 * coefficient], rtol=1e-15)
    np.testing.assert_allclose(clipped[1], [12.0 * coefficient], rtol=1e-15)
    new_norm = math.sqrt(sum(float((g ** 2).sum()) for g in clipped))
    assert new_norm == pytest.approx(1.0, rel=1e-6)


def test_clip_grad_norm_other_norms_by_hand():
    gradients = [np.array([3.0, -4.0]), np.array([-12.0])]
    assert float(clip_grad_norm_(parameters_with_gradients(gradients), 1e9, norm_type=1)) == 19.0
    assert float(clip_grad_norm_(parameters_with_gradients(gradients), 1e9,
                                 norm_type=math.inf)) == 12.0
    p3 = (27.0 + 64.0 + 1728.0) ** (1 / 3)
    assert float(clip_grad_norm_(parameters_with_gradients(gradients), 1e9,
                                 norm_type=3)) == pytest.approx(p3, rel=1e-14)


def test_gradients_inside_the_ball_are_unchanged():
    parameters = parameters_with_gradients([np.array([0.3, -0.4])])
    total = clip_grad_norm_(parameters, max_norm=1.0)
    assert float(total) == pytest.approx(0.5)
    np.testing.assert_array_equal(gradient_arrays(parameters)[0], [0.3, -0.4])


def test_clip_grad_norm_works_in_place_keeping_dtype():
    parameters = parameters_with_gradients([np.array([30.0, 40.0])], dtype=np.float32)
    gradient_object, gradient_array = parameters[0].grad, parameters[0].grad.data
    total = clip_grad_norm_(parameters[0], max_norm=5.0)  # a single tensor is accepted
    assert parameters[0].grad is gradient_object and parameters[0].grad.data is gradient_array
    assert gradient_array.dtype == np.float32 and total.dtype == np.float32
    np.testing.assert_allclose(gradient_array, [3.0, 4.0], rtol=1e-6)


def test_clip_grad_norm_without_gradients_is_zero():
    total = clip_grad_norm_([tc.nn.Parameter(tc.zeros(3))], max_norm=1.0)
    assert float(total) == 0.0


def test_non_finite_norm():
    parameters = parameters_with_gradients([np.array([1.0, math.inf])])
    with pytest.raises(RuntimeError, match="is non-finite, so it cannot be clipped"):
        clip_grad_norm_(parameters, max_norm=1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(gradient_arrays(parameters)[0], [1.0, math.inf])  # untouched
    with np.errstate(invalid="ignore"):  # inf · 0 = nan, as in PyTorch
        total = clip_grad_norm_(parameters, max_norm=1.0)
    assert math.isinf(float(total))


def test_clip_grad_value_by_hand():
    parameters = parameters_with_gradients([np.array([-3.0, -0.5, 0.0, 0.7, 9.0])])
    assert clip_grad_value_(parameters, clip_value=1.0) is None
    np.testing.assert_array_equal(gradient_arrays(parameters)[0], [-1.0, -0.5, 0.0, 0.7, 1.0])


def test_exposed_as_tc_nn_utils():
    assert tc.nn.utils.clip_grad_norm_ is clip_grad_norm_
    assert tc.nn.utils.clip_grad_value_ is clip_grad_value_
