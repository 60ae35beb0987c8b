"""tinyconv against PyTorch: same inputs, same values and gradients to float64 rounding.

PyTorch is not a dependency of tinyconv; these tests run only where it is installed. They pin the
conventions where "a" gradient is not "the" gradient: ties in max/amax/maximum, clamp exactly at
its bounds, abs/relu at 0, the unbiased default of var, repeated indices, padding order.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinyconv as tc
from tinyconv.testing.tensor_strategies import arrays, broadcastable_shapes, shapes

torch = pytest.importorskip("torch", reason="PyTorch is not installed; it is only an oracle here")

RTOL, ATOL = 1e-12, 1e-12


def run_both(fn_tc, fn_torch, arrays_, upstream_seed=0):
    """Run the same function in both libraries on float64 copies of ``arrays_``; backprop the same
    random upstream gradient; return (tc value, torch value, tc grads, torch grads)."""
    tc_inputs = [tc.tensor(a, dtype=tc.float64, requires_grad=True) for a in arrays_]
    torch_inputs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays_]
    out_tc, out_torch = fn_tc(*tc_inputs), fn_torch(*torch_inputs)
    upstream = np.random.default_rng(upstream_seed).standard_normal(out_tc.shape)
    out_tc.backward(tc.tensor(upstream, dtype=tc.float64))
    out_torch.backward(torch.tensor(upstream, dtype=torch.float64))
    grads_tc = [np.zeros(a.shape) if t.grad is None else t.grad.numpy() for a, t in
                zip(arrays_, tc_inputs, strict=True)]
    grads_torch = [np.zeros(a.shape) if t.grad is None else t.grad.numpy() for a, t in
                   zip(arrays_, torch_inputs, strict=True)]
    return out_tc.detach().numpy(), out_torch.detach().numpy(), grads_tc, grads_torch


def assert_same(fn_tc, fn_torch, arrays_, rtol=RTOL, atol=ATOL):
    value_tc, value_torch, grads_tc, grads_torch = run_both(fn_tc, fn_torch, arrays_)
    assert value_tc.shape == value_torch.shape
    np.testing.assert_allclose(value_tc, value_torch, rtol=rtol, atol=atol)
    for i, (g_tc, g_torch) in enumerate(zip(grads_tc, grads_torch, strict=True)):
        np.testing.assert_allclose(g_tc, g_torch, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {i}")


# Small integers: ties, zeros and clamp bounds are hit often.
def tie_arrays(shape):
    return arrays(shape, "real").map(np.round)


# -- one op at a time, on values full of ties and kinks -----------------------------------------

UNARY = [
    ("abs_at_zero", lambda t: t.abs(), lambda t: t.abs()),
    ("relu_at_zero", lambda t: t.relu(), lambda t: t.relu()),
    ("clamp_at_bounds", lambda t: t.clamp(-1.0, 1.0), lambda t: t.clamp(-1.0, 1.0)),
    ("clamp_min_only", lambda t: t.clamp(min=0.0), lambda t: t.clamp(min=0.0)),
    ("sigmoid", lambda t: t.sigmoid(), lambda t: t.sigmoid()),
    ("tanh", lambda t: t.tanh(), lambda t: t.tanh()),
    ("square_at_zero", lambda t: t ** 2, lambda t: t ** 2),
    ("pow_zero_at_zero", lambda t: t ** 0.0, lambda t: t ** 0.0),
    ("sum_all", lambda t: t.sum(), lambda t: t.sum()),
    ("max_all_ties", lambda t: t.max(), lambda t: t.max()),
    ("min_all_ties", lambda t: t.min(), lambda t: t.min()),
    ("amax_all_ties", lambda t: t.amax(), lambda t: t.amax()),
    ("amin_all_ties", lambda t: t.amin(), lambda t: t.amin()),
    ("mean_all", lambda t: t.mean(), lambda t: t.mean()),
    ("logsumexp_all", lambda t: t.logsumexp(tuple(range(t.ndim))),
     lambda t: t.logsumexp(tuple(range(t.ndim)))),
    ("clone", lambda t: t.clone(), lambda t: t.clone()),
]


@pytest.mark.parametrize("name, fn_tc, fn_torch", UNARY, ids=[u[0] for u in UNARY])
@given(x=tie_arrays(shapes()))
def test_unary_matches_torch(name, fn_tc, fn_torch, x):
    assert_same(fn_tc, fn_torch, [x])


@st.composite
def array_and_dim(draw):
    x = draw(tie_arrays(shapes(min_dims=1)))
    return x, draw(st.integers(-x.ndim, x.ndim - 1)), draw(st.booleans())


DIM_REDUCTIONS = [
    ("max_dim_ties", lambda t, d, k: t.max(d, keepdim=k)[0],
     lambda t, d, k: t.max(d, keepdim=k)[0]),
    ("min_dim_ties", lambda t, d, k: t.min(d, keepdim=k)[0],
     lambda t, d, k: t.min(d, keepdim=k)[0]),
    ("amax_dim_ties", lambda t, d, k: t.amax(d, k), lambda t, d, k: t.amax(d, k)),
    ("amin_dim_ties", lambda t, d, k: t.amin(d, k), lambda t, d, k: t.amin(d, k)),
    ("sum_dim", lambda t, d, k: t.sum(d, k), lambda t, d, k: t.sum(d, k)),
    ("mean_dim", lambda t, d, k: t.mean(d, k), lambda t, d, k: t.mean(d, k)),
    ("var_default_unbiased", lambda t, d, k: t.var(d, keepdim=k),
     lambda t, d, k: t.var(d, keepdim=k)),
    ("var_unbiased_false", lambda t, d, k: t.var(d, unbiased=False, keepdim=k),
     lambda t, d, k: t.var(d, unbiased=False, keepdim=k)),
    ("logsumexp_dim", lambda t, d, k: t.logsumexp(d, k), lambda t, d, k: t.logsumexp(d, k)),
]


@pytest.mark.parametrize("name, fn_tc, fn_torch", DIM_REDUCTIONS,
                         ids=[r[0] for r in DIM_REDUCTIONS])
@given(case=array_and_dim())
def test_reduction_along_dim_matches_torch(name, fn_tc, fn_torch, case):
    x, dim, keepdim = case
    if name.startswith("var") and x.shape[dim] < 2:
        return  # both give nan (with a warning): nothing to compare
    assert_same(lambda t: fn_tc(t, dim, keepdim), lambda t: fn_torch(t, dim, keepdim), [x])


@pytest.mark.parametrize("which", ["max", "min", "argmax", "argmin"])
@given(case=array_and_dim())
def test_indices_of_ties_match_torch(which, case):
    """With ties, both return the first index of the extreme value."""
    x, dim, keepdim = case
    ours, theirs = tc.tensor(x), torch.tensor(x)
    if which in ("max", "min"):
        got = getattr(ours, which)(dim, keepdim=keepdim).indices.numpy()
        expected = getattr(theirs, which)(dim, keepdim=keepdim).indices.numpy()
    else:
        got = getattr(ours, which)(dim, keepdim=keepdim).numpy()
        expected = getattr(theirs, which)(dim, keepdim=keepdim).numpy()
    np.testing.assert_array_equal(got, expected)


BINARY = [
    ("add", lambda a, b: a + b), ("sub", lambda a, b: a - b), ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / (b * b + 1)),
    ("maximum_ties", lambda a, b: a.maximum(b)), ("minimum_ties", lambda a, b: a.minimum(b)),
    ("pow", lambda a, b: (a * a + 1) ** b),
    ("where", lambda a, b: (a + b).relu() * a - b.abs()),
]


@pytest.mark.parametrize("name, fn", BINARY, ids=[b[0] for b in BINARY])
@given(data=st.data())
def test_binary_matches_torch(name, fn, data):
    shape_a, shape_b = data.draw(broadcastable_shapes(2))
    x, y = data.draw(tie_arrays(shape_a)), data.draw(tie_arrays(shape_b))
    assert_same(fn, fn, [x, y])


@st.composite
def matmul_shapes(draw):
    m, k, n = (draw(st.integers(1, 3)) for _ in range(3))
    batch_a, batch_b = draw(broadcastable_shapes(2, min_dims=0, max_dims=2))
    shape_a = draw(st.sampled_from([(k,), batch_a + (m, k)]))
    shape_b = draw(st.sampled_from([(k,), batch_b + (k, n)]))
    return draw(arrays(shape_a)), draw(arrays(shape_b))


@given(case=matmul_shapes())
def test_matmul_matches_torch(case):
    assert_same(lambda a, b: a @ b, lambda a, b: a @ b, list(case), rtol=1e-10, atol=1e-12)


def test_where_matches_torch():
    x = np.array([[-1.0, 0.0, 2.0], [3.0, -4.0, 0.5]])
    y = np.array([10.0, 20.0, 30.0])
    assert_same(lambda a, b: tc.where(a > 0, a, b), lambda a, b: torch.where(a > 0, a, b), [x, y])


# -- indexing, joining, padding -----------------------------------------------------------------


@pytest.mark.parametrize("index", [
    [0, 0, 2, 0],                      # repeated indices accumulate
    (slice(None), [1, 1, 0]),
    ([2, 0, 2], [1, 1, 1]),
    (slice(None, None, -1), 1),
    (Ellipsis, None, slice(1, 3)),
    -1,
], ids=["repeated", "repeated_columns", "pairs", "reversed", "ellipsis_none", "negative"])
def test_getitem_matches_torch(index):
    x = np.arange(12.0).reshape(3, 4) / 7

    def torch_getitem(t):
        if index == (slice(None, None, -1), 1):  # torch takes no negative steps: flip instead
            return t.flip(0)[:, 1]
        return t[index]

    assert_same(lambda t: t[index], torch_getitem, [x])


def test_getitem_with_a_mask_matches_torch():
    x = np.array([[1.0, -2.0, 3.0], [-4.0, 5.0, -6.0]])
    assert_same(lambda t: t[t > 0] * 2, lambda t: t[t > 0] * 2, [x])


@pytest.mark.parametrize("pad", [(1, 2), (0, 1, 2, 0), (1, 1, 1, 1, 1, 1)])
@pytest.mark.parametrize("value", [0.0, -2.5])
def test_pad_matches_torch(pad, value):
    x = np.arange(24.0).reshape(2, 3, 4)
    assert_same(lambda t: tc.pad(t, pad, value=value),
                lambda t: torch.nn.functional.pad(t, pad, value=value), [x])


def test_cat_stack_split_match_torch():
    x, y = np.arange(6.0).reshape(2, 3), np.arange(4.0).reshape(2, 2) - 2
    assert_same(lambda a, b: tc.cat([a, b, a], dim=1) ** 2,
                lambda a, b: torch.cat([a, b, a], dim=1) ** 2, [x, y])
    assert_same(lambda a, b: tc.stack([a, a * 2], dim=-1).sum(0),
                lambda a, b: torch.stack([a, a * 2], dim=-1).sum(0), [x, y])
    assert_same(lambda a, b: tc.split(a, [1, 2], dim=1)[1] * b[:, :1],
                lambda a, b: torch.split(a, [1, 2], dim=1)[1] * b[:, :1], [x, y])


def test_shape_ops_match_torch():
    x = np.arange(24.0).reshape(2, 3, 4) / 5

    def f(lib):
        def g(t):
            a = t.permute(2, 0, 1).reshape(4, 6).T
            b = t.transpose(0, 2).flatten(1).unsqueeze(0).squeeze(0)
            c = t[:, :1, :].expand(2, 3, 4)
            return a.sum(1) * 2 + b.sum(1) @ b + c.sum() + t.view(-1, 4).amax(0).sum()
        return g

    assert_same(f(tc), f(torch), [x], rtol=1e-10)


# -- compound expressions -----------------------------------------------------------------------


def _softmax_cross_entropy(lib):
    def f(logits, weights):
        z = logits @ weights
        log_probs = z - z.logsumexp(1, keepdim=True)
        return -(log_probs[[0, 1, 2], [1, 0, 1]]).mean()
    return f


def _layer_norm_like(lib):
    def f(x, w):
        mean = x.mean(-1, keepdim=True)
        var = x.var(-1, unbiased=False, keepdim=True)
        y = (x - mean) / (var + 1e-5).sqrt() * w
        # the two branches of maximum cross near y = -0.15, not at y = 0, where a row of equal
        # values (y = 0 up to rounding) would make the winner depend on the last bit of sigmoid
        return y.tanh().maximum(y.sigmoid() - 0.6).clamp(-0.9, 0.9)
    return f


def _mixture(lib):
    def f(x, w):
        h = (x * w).exp().log() + x.abs() * w.cos() - (x - w) ** 2 / 3
        pieces = [h.amax(0), h.min(1)[0], h.var().reshape(1), h.sum(0) / h.numel()]
        return lib.cat(pieces).sin().relu()
    return f


@pytest.mark.parametrize("build", [_softmax_cross_entropy, _layer_norm_like, _mixture])
@given(x=arrays((3, 4)), w=arrays((4, 4)))
def test_compound_expressions_match_torch(build, x, w):
    if build is not _softmax_cross_entropy:
        w = w[:1]  # a row, broadcast over x's rows
    assert_same(build(tc), build(torch), [x, w], rtol=1e-9, atol=1e-11)


def test_var_default_is_unbiased_like_torch():
    x = np.array([1.0, 2.0, 4.0, 7.0])
    assert tc.tensor(x).var().item() == pytest.approx(torch.tensor(x).var().item(), rel=1e-15)
    assert tc.tensor(x).var().item() == pytest.approx(np.var(x, ddof=1), rel=1e-15)


def test_accumulation_and_retain_graph_match_torch():
    x = np.array([0.5, -1.5, 2.0])
    ours = tc.tensor(x, dtype=tc.float64, requires_grad=True)
    theirs = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    y_ours, y_theirs = (ours * ours).exp().sum(), (theirs * theirs).exp().sum()
    y_ours.backward(retain_graph=True)
    y_theirs.backward(retain_graph=True)
    y_ours.backward()
    y_theirs.backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=RTOL)
    with pytest.raises(RuntimeError):
        y_theirs.backward()
    with pytest.raises(RuntimeError):
        y_ours.backward()
