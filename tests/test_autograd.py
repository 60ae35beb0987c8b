"""The autograd engine: graph shapes (reuse, diamonds), accumulation, freeing, no_grad, detach."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinyconv as tc
from tinyconv.testing import gradcheck
from tinyconv.testing.tensor_strategies import arrays, shapes


def leaf(values, dtype=tc.float64):
    return tc.tensor(np.asarray(values, dtype=np.float64), dtype=dtype, requires_grad=True)


# -- graph shapes ------------------------------------------------------------------------------


def test_node_reuse_adds_gradients():
    a = leaf([1.0, -2.0, 3.0])
    b = a + a
    b.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [2.0, 2.0, 2.0])


def test_same_tensor_used_three_times_in_one_op_chain():
    a = leaf([1.5, -2.0])
    (a * a * a).sum().backward()  # d(a³)/da = 3a²
    np.testing.assert_allclose(a.grad.numpy(), 3 * np.array([1.5, -2.0]) ** 2)


@given(x=arrays(shapes(max_dims=2)))
def test_diamond_graph(x):
    """a feeds b and c, which both feed d: a's gradient is the sum over both paths."""
    a = leaf(x)
    b, c = a.exp(), a * 3
    d = b * c
    d.sum().backward()
    # d = 3a·e^a  ->  d'(a) = 3e^a + 3a·e^a
    np.testing.assert_allclose(a.grad.numpy(), 3 * np.exp(x) * (1 + x), rtol=1e-12)
    assert gradcheck(lambda t: t.exp() * (t * 3), [leaf(x)])


def test_shared_subexpression_is_backpropagated_once_per_use():
    x = leaf([0.3, -0.7])
    h = x.tanh()  # used by two branches, which rejoin
    y = (h * 2 + h.exp()).sum() + h.sum()
    y.backward()
    t = np.tanh([0.3, -0.7])
    np.testing.assert_allclose(x.grad.numpy(), (2 + np.exp(t) + 1) * (1 - t ** 2))


def test_only_inputs_that_require_grad_get_one():
    a, b = leaf([1.0, 2.0]), tc.tensor([3.0, 4.0], dtype=tc.float64)
    (a * b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 4.0])
    assert b.grad is None and not b.requires_grad


def test_result_requires_grad_if_any_input_does():
    a, b = leaf([1.0]), tc.tensor([1.0], dtype=tc.float64)
    assert (a + b).requires_grad and not (b + b).requires_grad
    assert not (a + b).is_leaf and a.is_leaf and b.is_leaf


# -- accumulation, freeing, retain_graph ---------------------------------------------------------


def test_gradients_accumulate_across_backward_calls():
    a = leaf([1.0, 2.0])
    (a * 3).sum().backward()
    (a * a).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), 3 + 2 * np.array([1.0, 2.0]))
    a.grad = None
    (a * 3).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 3.0])


def test_second_backward_through_a_freed_graph_raises():
    a = leaf([1.0, 2.0])
    y = (a * a).exp().sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"(exp|mul): trying to backward through the graph a "
                                           r"second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward_and_accumulates():
    x = np.array([0.5, -1.0])
    a = leaf(x)
    y = (a * a).exp().sum()
    y.backward(retain_graph=True)
    first = a.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(first, 2 * x * np.exp(x ** 2))
    np.testing.assert_allclose(a.grad.numpy(), 2 * first)
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()  # the second call did not retain


def test_backward_with_explicit_gradient():
    a = leaf([[1.0, 2.0], [3.0, 4.0]])
    y = a * 2
    upstream = np.array([[1.0, -1.0], [0.5, 2.0]])
    y.backward(tc.tensor(upstream, dtype=tc.float64))
    np.testing.assert_array_equal(a.grad.numpy(), 2 * upstream)


def test_backward_gradient_is_cast_to_the_tensor_dtype():
    a = leaf([1.0, 2.0], dtype=tc.float32)
    (a * 2).backward(tc.tensor([1.0, 1.0], dtype=tc.float64))
    assert a.grad.dtype == tc.float32


def test_backward_on_a_scalar_leaf():
    a = leaf(3.0)
    a.backward()
    assert a.grad.item() == 1.0


def test_deep_chain_of_ten_thousand_ops_is_iterative():
    x = leaf([1.0])
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001 ** 10_000], rtol=1e-9)


def test_retain_grad_keeps_a_non_leaf_gradient():
    a = leaf([1.0, 2.0])
    h = a * 3
    h.retain_grad()
    y = (h * h).sum()
    y.backward()
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.detach().numpy())
    np.testing.assert_allclose(a.grad.numpy(), 3 * 2 * h.detach().numpy())
    other = a * 4  # did not ask: no .grad kept
    other.sum().backward()
    assert other.grad is None


def test_retain_grad_on_a_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="retain_grad"):
        tc.ones(2).retain_grad()


def test_grads_have_the_leaf_dtype():
    a = leaf([1.0, 2.0], dtype=tc.float32)
    b = leaf([3.0, 4.0], dtype=tc.float64)
    (a * b).sum().backward()  # a is promoted to float64 inside the graph
    assert a.grad.dtype == tc.float32 and b.grad.dtype == tc.float64
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 4.0])


# -- no_grad, detach ---------------------------------------------------------------------------


def test_no_grad_context_manager():
    a = leaf([1.0, 2.0])
    with tc.no_grad():
        b = a * 2
        assert not tc.is_grad_enabled()
    assert tc.is_grad_enabled()
    assert not b.requires_grad and b.is_leaf
    c = a * 2
    assert c.requires_grad


def test_no_grad_restored_after_an_exception():
    with pytest.raises(ZeroDivisionError), tc.no_grad():
        raise ZeroDivisionError
    assert tc.is_grad_enabled()


@pytest.mark.parametrize("with_parentheses", [True, False])
def test_no_grad_decorator(with_parentheses):
    def double(t):
        assert not tc.is_grad_enabled()
        return t * 2

    decorated = tc.no_grad()(double) if with_parentheses else tc.no_grad(double)
    a = leaf([1.0])
    out = decorated(a)
    assert not out.requires_grad
    assert tc.is_grad_enabled()
    assert decorated.__name__ == "double"


def test_nested_no_grad_and_enable_grad():
    a = leaf([1.0])
    with tc.no_grad():
        with tc.enable_grad():
            assert (a * 2).requires_grad
        with tc.no_grad():
            pass
        assert not tc.is_grad_enabled()
    assert tc.is_grad_enabled()


def test_detach_cuts_the_graph_and_shares_memory():
    a = leaf([1.0, 2.0])
    h = a * 2
    d = h.detach()
    assert not d.requires_grad and d.is_leaf
    assert np.shares_memory(d.numpy(), h.data)
    y = (d * a).sum()  # gradient flows to a only through the second factor
    y.backward()
    np.testing.assert_array_equal(a.grad.numpy(), [2.0, 4.0])


def test_requires_grad_on_an_int_tensor_is_an_error():
    with pytest.raises(RuntimeError, match="requires_grad_.*floating point.*int64"):
        tc.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point"):
        tc.arange(3).requires_grad_()
    with pytest.raises(RuntimeError, match="floating point"):
        tc.zeros(2, dtype=tc.int64, requires_grad=True)


def test_requires_grad_false_on_non_leaf_is_an_error():
    h = leaf([1.0]) * 2
    with pytest.raises(RuntimeError, match="leaf"):
        h.requires_grad_(False)


@pytest.mark.parametrize("source, target", [(tc.float32, tc.float64), (tc.float64, tc.float32)])
def test_to_dtype_is_differentiable(source, target):
    a = leaf([1.0, 2.0], dtype=source)
    b = a.to(target)
    assert b.dtype == target and b.requires_grad and not b.is_leaf
    (b * b).sum().backward()
    assert a.grad.dtype == source
    np.testing.assert_allclose(a.grad.numpy(), [2.0, 4.0])
    x = leaf([0.25, -0.5])
    y = (x.to(tc.float32) * 3).to(tc.float64).exp()  # a float32 step inside a float64 graph
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * np.exp(3 * np.array([0.25, -0.5])),
                               rtol=1e-6)


def test_float_and_double_are_differentiable():
    a = leaf([1.0, 2.0], dtype=tc.float32)
    (a.double() * 2).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [2.0, 2.0])
    b = leaf([1.0], dtype=tc.float64)
    assert b.float().dtype == tc.float32 and b.float().requires_grad


def test_to_same_dtype_returns_the_tensor():
    a = leaf([1.0])
    assert a.to(tc.float64) is a


def test_clone_gradient_flows_back_and_memory_is_separate():
    a = leaf([1.0, 2.0])
    c = a.clone()
    assert not np.shares_memory(c.data, a.data)
    (c * 5).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [5.0, 5.0])


def test_inplace_on_a_leaf_that_requires_grad_raises_unless_no_grad():
    a = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="in-place"):
        a.add_(1.0)
    with tc.no_grad():
        a.add_(1.0)
    np.testing.assert_array_equal(a.detach().numpy(), [2.0, 3.0])


@given(depth=st.integers(1, 30), x=arrays(shapes(max_dims=2)))
def test_random_chains_match_gradcheck(depth, x):
    ops = [lambda t: t.sin(), lambda t: t * 0.9, lambda t: t.tanh() + t, lambda t: t.exp() * 0.5]

    def chain(t):
        for i in range(depth):
            t = ops[i % len(ops)](t)
        return t

    assert gradcheck(chain, [leaf(x)])


def test_nothing_is_saved_for_backward_under_no_grad():
    """The inference path: a Function learns before its forward runs that no gradient will be
    asked for, and keeps no arrays (a network's activations are freed layer by layer)."""
    from tinyconv.autograd import Function

    class Probe(Function):
        name = "probe"

        def forward(self, a):
            self.seen = self.needs_input_grad
            self.save_for_backward(a, a * 2)
            return a + 1

        def backward(self, grad):
            return grad

    x = tc.ones(3, requires_grad=True)
    with tc.no_grad():
        _, ctx = Probe.apply_with_ctx(x)
    assert ctx.seen == (False,) and ctx._saved == ()
    _, ctx = Probe.apply_with_ctx(tc.ones(3))  # a constant: no gradient either
    assert ctx.seen == (False,) and ctx._saved == ()
    out, ctx = Probe.apply_with_ctx(x)
    assert ctx.seen == (True,) and len(ctx.saved) == 2
    out.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0]
