"""gradcheck itself: it passes correct backward rules and catches wrong ones, naming the element."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinyconv as tc
from tinyconv.autograd import Function
from tinyconv.testing import GradcheckError, gradcheck
from tinyconv.testing.tensor_strategies import arrays, shapes


def leaf(values):
    return tc.tensor(np.asarray(values, dtype=np.float64), dtype=tc.float64, requires_grad=True)


class Cube(Function):
    """x³ with a correct backward."""

    name = "cube"

    def forward(self, a):
        self.save_for_backward(a)
        return a ** 3

    def backward(self, grad):
        (a,) = self.saved
        return grad * 3 * a ** 2


class CubeWrongFactor(Cube):
    """A classic slip: the power rule without the exponent as a factor."""

    name = "cube_wrong"

    def backward(self, grad):
        (a,) = self.saved
        return grad * a ** 2


class CubeWrongAtOneElement(Cube):
    """Right everywhere except one element (a bug only an elementwise check can see)."""

    name = "cube_one_wrong"

    def backward(self, grad):
        (a,) = self.saved
        out = grad * 3 * a ** 2
        out = out.copy()
        out.reshape(-1)[-1] += 0.5
        return out


class ProductForgetsSecondInput(Function):
    """a·b whose backward gives b no gradient: the error must name input 1."""

    name = "product_wrong"

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a * b

    def backward(self, grad):
        a, b = self.saved
        return grad * b, self.xp.zeros_like(b)


class NanBackward(Cube):
    name = "nan_backward"

    def backward(self, grad):
        return grad * np.nan


@given(x=arrays(shapes()))
def test_gradcheck_passes_a_correct_function(x):
    assert gradcheck(Cube.apply, [leaf(x)]) is True


@given(x=arrays(shapes(min_dims=1), "positive"))
def test_gradcheck_catches_a_wrong_factor(x):
    with pytest.raises(GradcheckError, match=r"gradient of input 0 at index \(.*\) is .* by "
                                             r"autograd but .* by central differences"):
        gradcheck(CubeWrongFactor.apply, [leaf(x)])


def test_gradcheck_names_the_worst_element():
    x = np.array([[0.5, 1.0, 1.5], [2.0, 2.5, 3.0]])
    with pytest.raises(GradcheckError) as info:
        gradcheck(CubeWrongAtOneElement.apply, [leaf(x)])
    message = str(info.value)
    assert "input 0 at index (1, 2)" in message
    assert isinstance(info.value, AssertionError)
    # the numeric value quoted is the true derivative (weighted by gradcheck's projection)
    weight = np.random.default_rng(0).standard_normal(x.shape)[1, 2]
    assert f"{weight * 3 * 3.0 ** 2:.8g} by central differences" in message


def test_gradcheck_names_the_wrong_input():
    with pytest.raises(GradcheckError, match=r"gradient of input 1 at index"):
        gradcheck(ProductForgetsSecondInput.apply, [leaf([1.0, 2.0]), leaf([3.0, -4.0])])
    # with only the first input checked, the (correct) first gradient passes
    assert gradcheck(ProductForgetsSecondInput.apply,
                     [leaf([1.0, 2.0]), tc.tensor([3.0, -4.0], dtype=tc.float64)])


def test_gradcheck_fails_on_nan_gradients():
    with pytest.raises(GradcheckError, match="nan by autograd"):
        gradcheck(NanBackward.apply, [leaf([1.0, 2.0])])


def test_gradcheck_catches_a_broken_builtin_rule(monkeypatch):
    """Planting a bug in a real op's backward makes gradcheck fail on it."""
    monkeypatch.setattr(tc.ops.SinFunction, "backward",
                        lambda self, grad: grad * np.sin(self.saved[0]))
    with pytest.raises(GradcheckError):
        gradcheck(lambda t: t.sin(), [leaf([0.1, 0.7, -1.2])])


def test_gradcheck_checks_tuple_outputs_and_several_inputs():
    def f(a, b):
        return a * b, (a - b).exp()

    assert gradcheck(f, [leaf([0.5, -1.0]), leaf([2.0, 0.25])])

    def g(a, b):  # the second output's backward is wrong
        return a * b, CubeWrongFactor.apply(b)

    with pytest.raises(GradcheckError, match="input 1"):
        gradcheck(g, [leaf([0.5, 1.0]), leaf([2.0, 1.5])])


@given(scale=st.floats(1e-3, 1e-2))
def test_gradcheck_tolerances_are_used(scale):
    """An error of `scale` relative is rejected at rtol/10 and accepted at rtol*10."""

    class Skewed(Cube):
        def backward(self, grad):
            (a,) = self.saved
            return grad * 3 * a ** 2 * (1 + scale)

    x = [1.0, 2.0]
    with pytest.raises(GradcheckError):
        gradcheck(Skewed.apply, [leaf(x)], atol=0, rtol=scale / 10)
    assert gradcheck(Skewed.apply, [leaf(x)], atol=0, rtol=scale * 10)


def test_gradcheck_leaves_inputs_unchanged():
    x = np.array([0.1, 0.2, 0.3])
    t = leaf(x)
    gradcheck(lambda a: a.exp(), [t])
    np.testing.assert_array_equal(t.detach().numpy(), x)
    assert t.grad is None


def test_gradcheck_accepts_a_single_tensor():
    assert gradcheck(lambda a: a.tanh(), leaf([0.3, 0.4]))


def test_gradcheck_rejects_float32_inputs():
    with pytest.raises(TypeError, match=r"gradcheck: input 0 is float32.*float64"):
        gradcheck(lambda a: a * 2, [tc.ones(2, requires_grad=True)])


def test_gradcheck_needs_an_input_that_requires_grad():
    with pytest.raises(ValueError, match="no input requires grad"):
        gradcheck(lambda a: a * 2, [tc.ones(2, dtype=tc.float64)])
