"""Every differentiable Tensor op: forward against NumPy, backward against gradcheck (float64).

Each op appears once in a table (name, how tinyconv computes it, how NumPy computes it, which
values are safe for finite differences); the tests run over the tables with hypothesis-drawn
shapes, including broadcasting, size-1 and 0-d dimensions. Forward runs in float32 and float64
and must keep the dtype; the reference is computed in float64 from the same (rounded) values.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.special
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinyconv as tc
from tinyconv.testing import gradcheck
from tinyconv.testing.tensor_strategies import (
    arrays,
    arrays_and_dims,
    broadcastable_arrays,
    broadcastable_shapes,
    shapes,
)

DTYPES = [tc.float32, tc.float64]
TOL = {tc.float32: dict(rtol=1e-5, atol=1e-5), tc.float64: dict(rtol=1e-12, atol=1e-12)}


def leaf(array, dtype=tc.float64, device="cpu"):
    return tc.tensor(np.asarray(array), dtype=dtype, device=device, requires_grad=True)


def rounded(array, dtype):
    """The float64 values a tensor of ``dtype`` actually holds (float32 rounds them)."""
    return np.asarray(array).astype(dtype).astype(np.float64)


def check_forward(out, expected, dtype):
    assert isinstance(out, tc.Tensor)
    assert out.dtype == dtype, f"dtype not preserved: {out.dtype} instead of {dtype}"
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.detach().cpu().numpy(), expected, **TOL[dtype])


def check_grad_shapes(out, inputs):
    """A backward pass runs and leaves every input a gradient of its own shape and dtype."""
    (out * tc.ones_like(out)).sum().backward()
    for t in inputs:
        assert t.grad is not None
        assert t.grad.shape == t.shape and t.grad.dtype == t.dtype and t.grad.device == t.device


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# ---------------------------------------------------------------------------------------------
# Elementwise ops of one tensor
# ---------------------------------------------------------------------------------------------

UNARY = [
    # name, tinyconv, numpy, domain
    ("neg", lambda t: -t, np.negative, "real"),
    ("exp", lambda t: t.exp(), np.exp, "real"),
    ("log", lambda t: t.log(), np.log, "positive"),
    ("sqrt", lambda t: t.sqrt(), np.sqrt, "positive"),
    ("abs", lambda t: t.abs(), np.abs, "distinct"),
    ("sin", lambda t: t.sin(), np.sin, "real"),
    ("cos", lambda t: t.cos(), np.cos, "real"),
    ("tanh", lambda t: t.tanh(), np.tanh, "real"),
    ("sigmoid", lambda t: t.sigmoid(), _sigmoid, "real"),
    ("relu", lambda t: t.relu(), lambda x: np.maximum(x, 0), "distinct"),
    ("clamp", lambda t: t.clamp(-1.0, 1.0), lambda x: np.clip(x, -1, 1), "distinct"),
    ("clamp_min", lambda t: t.clamp(min=0.5), lambda x: np.maximum(x, 0.5), "distinct"),
    ("clamp_max", lambda t: t.clamp(max=-0.5), lambda x: np.minimum(x, -0.5), "distinct"),
    ("pow_int", lambda t: t ** 3, lambda x: x ** 3, "real"),
    ("pow_float", lambda t: t ** 1.5, lambda x: x ** 1.5, "positive"),
    ("rpow", lambda t: 2.0 ** t, lambda x: 2.0 ** x, "real"),
    ("add_scalar", lambda t: t + 2.5, lambda x: x + 2.5, "real"),
    ("radd_scalar", lambda t: 2.5 + t, lambda x: 2.5 + x, "real"),
    ("rsub_scalar", lambda t: 1 - t, lambda x: 1 - x, "real"),
    ("mul_scalar", lambda t: t * -3, lambda x: x * -3, "real"),
    ("div_scalar", lambda t: t / 4, lambda x: x / 4, "real"),
    ("rdiv_scalar", lambda t: 3 / t, lambda x: 3 / x, "positive"),
    ("square_by_reuse", lambda t: t * t, np.square, "real"),
    ("clone", lambda t: t.clone(), np.copy, "real"),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name, op, reference, domain", UNARY, ids=[u[0] for u in UNARY])
@given(data=st.data())
def test_unary_forward(name, op, reference, domain, dtype, device, data):
    x = data.draw(arrays(shapes(), domain))
    t = leaf(x, dtype, device)
    out = op(t)
    check_forward(out, reference(rounded(x, dtype)), dtype)
    check_grad_shapes(out, [t])


@pytest.mark.parametrize("name, op, reference, domain", UNARY, ids=[u[0] for u in UNARY])
@given(data=st.data())
def test_unary_backward(name, op, reference, domain, data):
    x = data.draw(arrays(shapes(), domain))
    assert gradcheck(op, [leaf(x)])


# ---------------------------------------------------------------------------------------------
# Elementwise ops of two tensors, with broadcasting
# ---------------------------------------------------------------------------------------------

BINARY = [
    ("add", lambda a, b: a + b, np.add, ("real", "real")),
    ("sub", lambda a, b: a - b, np.subtract, ("real", "real")),
    ("mul", lambda a, b: a * b, np.multiply, ("real", "real")),
    ("div", lambda a, b: a / b, np.divide, ("real", "positive")),
    ("div_negative_divisor", lambda a, b: a / (-b), lambda x, y: x / -y, ("real", "positive")),
    ("pow", lambda a, b: a ** b, np.power, ("positive", "real")),
    ("maximum", lambda a, b: a.maximum(b), np.maximum, ("distinct", "distinct_shifted")),
    ("minimum", lambda a, b: a.minimum(b), np.minimum, ("distinct", "distinct_shifted")),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name, op, reference, domains", BINARY, ids=[b[0] for b in BINARY])
@given(data=st.data())
def test_binary_forward(name, op, reference, domains, dtype, device, data):
    x, y = data.draw(broadcastable_arrays(2, domains))
    a, b = leaf(x, dtype, device), leaf(y, dtype, device)
    out = op(a, b)
    check_forward(out, reference(rounded(x, dtype), rounded(y, dtype)), dtype)
    check_grad_shapes(out, [a, b])


@pytest.mark.parametrize("name, op, reference, domains", BINARY, ids=[b[0] for b in BINARY])
@given(data=st.data())
def test_binary_backward(name, op, reference, domains, data):
    x, y = data.draw(broadcastable_arrays(2, domains))
    assert gradcheck(op, [leaf(x), leaf(y)])


@pytest.mark.parametrize("name, op, reference, domains", BINARY, ids=[b[0] for b in BINARY])
@given(data=st.data())
def test_binary_backward_one_side_constant(name, op, reference, domains, data):
    """Only one input needs a gradient: the other gets none, and the first is still right."""
    x, y = data.draw(broadcastable_arrays(2, domains))
    constant = tc.tensor(y, dtype=tc.float64)
    assert gradcheck(lambda a: op(a, constant), [leaf(x)])
    assert constant.grad is None
    constant = tc.tensor(x, dtype=tc.float64)
    assert gradcheck(lambda b: op(constant, b), [leaf(y)])
    assert constant.grad is None


def test_binary_ops_with_numpy_operands_on_either_side():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    t = tc.tensor([[0.5], [1.5]], dtype=tc.float64)
    np.testing.assert_allclose((x + t).numpy(), x + t.numpy())
    np.testing.assert_allclose((t - x).numpy(), t.numpy() - x)
    np.testing.assert_allclose((x * t).numpy(), x * t.numpy())
    assert isinstance(x / t, tc.Tensor)


@pytest.mark.parametrize("first, second, expected", [
    (tc.float32, tc.float64, tc.float64),
    (tc.float64, tc.float32, tc.float64),
    (tc.int64, tc.float32, tc.float32),
    (tc.float64, tc.int64, tc.float64),
    (tc.bool, tc.float32, tc.float32),
])
def test_binary_dtype_promotion_is_differentiable(first, second, expected):
    a = tc.ones(2, 3, dtype=first, requires_grad=first in DTYPES)
    b = tc.full((3,), 2, dtype=second, requires_grad=second in DTYPES)
    out = a * b
    assert out.dtype == expected
    out.sum().backward()
    for t, other in ((a, b), (b, a)):
        if t.requires_grad:
            assert t.grad.dtype == t.dtype
            expected_grad = np.broadcast_to(other.detach().numpy().astype(np.float64), (2, 3))
            np.testing.assert_allclose(t.grad.numpy(),
                                       expected_grad.sum(axis=0) if t.ndim == 1 else expected_grad)


def test_python_scalars_do_not_widen_float32():
    t = tc.ones(3)
    for out in (t + 1, t * 2.5, 1 - t, t / 3, t ** 2, 2 ** t):
        assert out.dtype == tc.float32


ALIASES = [
    # (name, alias, canonical spelling, number of inputs)
    ("neg_method", lambda a: a.neg(), lambda a: -a, 1),
    ("abs_builtin", abs, lambda a: a.abs(), 1),
    ("functional_exp", tc.exp, lambda a: a.exp(), 1),
    ("functional_tanh", tc.tanh, lambda a: a.tanh(), 1),
    ("clip", lambda a: a.clip(-0.5, 0.5), lambda a: a.clamp(-0.5, 0.5), 1),
    ("functional_clamp", lambda a: tc.clamp(a, min=0.0), lambda a: a.clamp(min=0.0), 1),
    ("functional_sum", lambda a: tc.sum(a, 1, True), lambda a: a.sum(1, keepdim=True), 1),
    ("functional_amax", lambda a: tc.amax(a, (0, 1)), lambda a: a.amax((0, 1)), 1),
    ("var_correction_0", lambda a: a.var(0, correction=0), lambda a: a.var(0, unbiased=False), 1),
    ("max_elementwise", lambda a, b: a.max(b), lambda a, b: a.maximum(b), 2),
    ("min_elementwise", lambda a, b: a.min(b), lambda a, b: a.minimum(b), 2),
    ("functional_maximum", tc.maximum, lambda a, b: a.maximum(b), 2),
    ("functional_minimum", tc.minimum, lambda a, b: a.minimum(b), 2),
    ("method_add", lambda a, b: a.add(b), lambda a, b: a + b, 2),
    ("method_sub", lambda a, b: a.sub(b), lambda a, b: a - b, 2),
    ("method_mul", lambda a, b: a.mul(b), lambda a, b: a * b, 2),
    ("method_div", lambda a, b: a.div(b), lambda a, b: a / b, 2),
    ("functional_pow", tc.pow, lambda a, b: a ** b, 2),
    ("functional_where", lambda a, b: tc.where(a > b, a, b), lambda a, b: a.maximum(b), 2),
    ("method_matmul", lambda a, b: a.matmul(b.T), lambda a, b: a @ b.T, 2),
    ("functional_matmul", lambda a, b: tc.matmul(a, b.T), lambda a, b: a @ b.T, 2),
]


@pytest.mark.parametrize("name, alias, canonical, n", ALIASES, ids=[a[0] for a in ALIASES])
def test_aliases_match_the_canonical_op(name, alias, canonical, n):
    """Functional forms and method aliases: same values and same gradients as the canonical op
    (which the hypothesis tests above check against NumPy and gradcheck)."""
    rng = np.random.default_rng(0)
    values = [rng.uniform(0.5, 2, size=(3, 4)) for _ in range(n)]
    results = []
    for fn in (alias, canonical):
        inputs = [leaf(x) for x in values]
        out = fn(*inputs)
        out.backward(tc.tensor(np.linspace(-1, 1, out.numel()).reshape(out.shape)))
        results.append([out.detach().numpy()] + [t.grad.numpy() for t in inputs])
    for got, expected in zip(*results, strict=True):
        np.testing.assert_array_equal(got, expected)


# ---------------------------------------------------------------------------------------------
# where: three-way broadcasting, gradient only through the selected branch
# ---------------------------------------------------------------------------------------------


@st.composite
def where_cases(draw):
    cond_shape, a_shape, b_shape = draw(broadcastable_shapes(3))
    cond = draw(hnp.arrays(np.bool_, cond_shape))
    return cond, draw(arrays(a_shape)), draw(arrays(b_shape))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@given(case=where_cases())
def test_where_forward(dtype, case):
    cond, x, y = case
    a, b = leaf(x, dtype), leaf(y, dtype)
    out = tc.where(tc.tensor(cond), a, b)
    check_forward(out, np.where(cond, rounded(x, dtype), rounded(y, dtype)), dtype)
    check_grad_shapes(out, [a, b])


@given(case=where_cases())
def test_where_backward(case):
    cond, x, y = case
    condition = tc.tensor(cond)
    assert gradcheck(lambda a, b: tc.where(condition, a, b), [leaf(x), leaf(y)])


def test_where_with_a_scalar_branch():
    x = leaf([-1.0, 2.0, -3.0])
    out = tc.where(x > 0, x, 0.0)
    np.testing.assert_array_equal(out.detach().numpy(), [0.0, 2.0, 0.0])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 0.0])


# ---------------------------------------------------------------------------------------------
# matmul: 1-D operands, 2-D, batched with broadcast batch dimensions
# ---------------------------------------------------------------------------------------------


@st.composite
def matmul_cases(draw):
    m, k, n = (draw(st.integers(1, 3)) for _ in range(3))
    kind_a, kind_b = draw(st.sampled_from(["1d", "2d", "batched"])), \
        draw(st.sampled_from(["1d", "2d", "batched"]))
    batch_a, batch_b = draw(broadcastable_shapes(2, min_dims=1, max_dims=2))
    shape_a = {"1d": (k,), "2d": (m, k), "batched": batch_a + (m, k)}[kind_a]
    shape_b = {"1d": (k,), "2d": (k, n), "batched": batch_b + (k, n)}[kind_b]
    return draw(arrays(shape_a)), draw(arrays(shape_b))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@given(case=matmul_cases())
def test_matmul_forward(dtype, case):
    x, y = case
    a, b = leaf(x, dtype), leaf(y, dtype)
    out = a @ b
    check_forward(out, np.matmul(rounded(x, dtype), rounded(y, dtype)), dtype)
    check_grad_shapes(out, [a, b])


@given(case=matmul_cases())
def test_matmul_backward(case):
    x, y = case
    assert gradcheck(lambda a, b: a @ b, [leaf(x), leaf(y)])


def test_matmul_of_two_vectors_backward():
    """The dot product of two vectors gives a 0-d gradient to spread back into both vectors."""
    a, b = leaf([1.0, 2.0, 3.0]), leaf([4.0, -5.0, 6.0])
    (a @ b).backward()
    np.testing.assert_array_equal(a.grad.numpy(), b.detach().numpy())
    np.testing.assert_array_equal(b.grad.numpy(), a.detach().numpy())


def test_rmatmul_with_an_ndarray():
    w = leaf([[1.0, 2.0], [3.0, 4.0]])
    x = np.array([[1.0, 0.0], [0.0, 2.0]])
    out = x @ w
    np.testing.assert_allclose(out.detach().numpy(), x @ w.detach().numpy())
    out.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), x.T @ np.ones((2, 2)))


# ---------------------------------------------------------------------------------------------
# Reductions with dim (None, int, tuple, negative) and keepdim
# ---------------------------------------------------------------------------------------------


def _count(shape, dim):
    if dim is None:
        return int(np.prod(shape))
    dims = (dim,) if isinstance(dim, int) else dim
    return int(np.prod([shape[d] for d in dims])) if shape else 1


def _np_reduce(fn, **extra):
    def reference(x, dim, keepdim):
        axis = None if dim is None else dim
        if x.ndim == 0:
            axis = None
        result = np.asarray(fn(x, axis=axis, keepdims=keepdim, **extra))
        # scipy's logsumexp gives a 0-d input's keepdims result shape (1,); NumPy's rule is ()
        return result.reshape(np.sum(x, axis=axis, keepdims=keepdim).shape)
    return reference


REDUCTIONS = [
    # name, tinyconv(t, dim, keepdim), numpy(x, dim, keepdim), domain
    ("sum", lambda t, d, k: t.sum(d, k), _np_reduce(np.sum), "real"),
    ("mean", lambda t, d, k: t.mean(d, k), _np_reduce(np.mean), "real"),
    ("var", lambda t, d, k: t.var(d, keepdim=k), _np_reduce(np.var, ddof=1), "real"),
    ("var_unbiased_false", lambda t, d, k: t.var(d, unbiased=False, keepdim=k),
     _np_reduce(np.var), "real"),
    # distinct values: std is not differentiable where all values are equal (std = 0)
    ("std", lambda t, d, k: t.std(d, keepdim=k), _np_reduce(np.std, ddof=1), "distinct"),
    ("amax", lambda t, d, k: t.amax(d, k), _np_reduce(np.max), "distinct"),
    ("amin", lambda t, d, k: t.amin(d, k), _np_reduce(np.min), "distinct"),
    ("logsumexp", lambda t, d, k: t.logsumexp(d, k), _np_reduce(scipy.special.logsumexp),
     "real"),
]
# var/std need at least two reduced elements (unbiased: divide by count - 1)
_NEEDS_TWO = {"var", "std"}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name, op, reference, domain", REDUCTIONS,
                         ids=[r[0] for r in REDUCTIONS])
@given(data=st.data())
def test_reduction_forward(name, op, reference, domain, dtype, device, data):
    x, dim, keepdim = data.draw(arrays_and_dims(domain))
    t = leaf(x, dtype, device)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # var of one element is nan, as NumPy
        out = op(t, dim, keepdim)
        expected = reference(rounded(x, dtype), dim, keepdim)
    check_forward(out, expected, dtype)
    if name.split("_")[0] not in _NEEDS_TWO or _count(x.shape, dim) > 1:
        check_grad_shapes(out, [t])


@pytest.mark.parametrize("name, op, reference, domain", REDUCTIONS,
                         ids=[r[0] for r in REDUCTIONS])
@given(data=st.data())
def test_reduction_backward(name, op, reference, domain, data):
    x, dim, keepdim = data.draw(arrays_and_dims(domain))
    if name.split("_")[0] in _NEEDS_TWO and _count(x.shape, dim) < 2:
        return  # nan: nothing to differentiate (the forward test checks the nan)
    assert gradcheck(lambda t: op(t, dim, keepdim), [leaf(x)])


@pytest.mark.parametrize("method", ["sum", "mean", "var", "amax", "amin", "logsumexp"])
@given(data=st.data())
def test_reductions_accept_numpy_spelling_axis_keepdims(method, data):
    x, dim, keepdim = data.draw(arrays_and_dims("distinct", min_dims=1))
    t = tc.tensor(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        torch_style = getattr(t, method)(dim=dim, keepdim=keepdim).numpy()
        numpy_style = getattr(t, method)(axis=dim, keepdims=keepdim).numpy()
    np.testing.assert_array_equal(torch_style, numpy_style)


@pytest.mark.parametrize("which", ["max", "min"])
@given(x=arrays(shapes(), "distinct"))
def test_full_max_min_forward_and_backward(which, x):
    op = (lambda t: t.max()) if which == "max" else (lambda t: t.min())
    out = op(leaf(x))
    assert out.shape == ()
    assert out.item() == getattr(np, which)(x)
    assert gradcheck(op, [leaf(x)])


@st.composite
def arrays_and_one_dim(draw, domain="distinct"):
    x = draw(arrays(shapes(min_dims=1), domain))
    return x, draw(st.integers(-x.ndim, x.ndim - 1)), draw(st.booleans())


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("which", ["max", "min"])
@given(case=arrays_and_one_dim())
def test_max_min_along_dim_forward(which, dtype, case):
    x, dim, keepdim = case
    t = leaf(x, dtype)
    values, indices = getattr(t, which)(dim, keepdim=keepdim)
    ref = rounded(x, dtype)
    check_forward(values, getattr(np, which)(ref, axis=dim, keepdims=keepdim), dtype)
    arg = np.argmax if which == "max" else np.argmin
    assert indices.dtype == tc.int64
    np.testing.assert_array_equal(indices.numpy(), arg(ref, axis=dim, keepdims=keepdim))
    result = getattr(t, which)(dim=dim, keepdim=keepdim)
    assert result.values is not None and result.indices is not None  # a named tuple
    check_grad_shapes(values, [t])


@pytest.mark.parametrize("which", ["max", "min"])
@given(case=arrays_and_one_dim())
def test_max_min_along_dim_backward(which, case):
    x, dim, keepdim = case
    assert gradcheck(lambda t: getattr(t, which)(dim, keepdim)[0], [leaf(x)])


@pytest.mark.parametrize("which", ["argmax", "argmin"])
@given(case=arrays_and_one_dim(), use_dim=st.booleans())
def test_argmax_argmin(which, case, use_dim):
    x, dim, keepdim = case
    t = tc.tensor(x)
    if use_dim:
        got, expected = getattr(t, which)(dim, keepdim=keepdim), \
            getattr(np, which)(x, axis=dim, keepdims=keepdim)
    else:
        got, expected = getattr(t, which)(), getattr(np, which)(x)
    assert got.dtype == tc.int64 and not got.requires_grad
    np.testing.assert_array_equal(got.numpy(), expected)


def test_max_along_dim_picks_the_first_of_tied_maxima():
    t = leaf([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    values, indices = t.max(1)
    np.testing.assert_array_equal(indices.numpy(), [1, 0])
    values.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [[0, 1, 0], [1, 0, 0]])


def test_amax_shares_the_gradient_between_ties():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    t = leaf(x)
    t.amax(1).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])


# ---------------------------------------------------------------------------------------------
# Shape ops
# ---------------------------------------------------------------------------------------------


@st.composite
def shape_op_cases(draw):
    """(name, x, op on a tensor, the same op on an ndarray)."""
    x = draw(arrays(shapes()))
    ndim = x.ndim
    kinds = ["reshape_flat", "reshape_reversed", "view_minus_one", "flatten", "squeeze_all",
             "unsqueeze", "expand", "T", "permute", "clone"]
    if ndim >= 1:
        kinds += ["transpose", "squeeze_dim", "flatten_range"]
    kind = draw(st.sampled_from(kinds))
    if kind == "reshape_flat":
        return kind, x, lambda t: t.reshape(-1), lambda a: a.reshape(-1)
    if kind == "reshape_reversed":
        return kind, x, lambda t: t.reshape(*x.shape[::-1]), lambda a: a.reshape(x.shape[::-1])
    if kind == "view_minus_one":
        lead = x.shape[0] if ndim else 1
        return kind, x, lambda t: t.view(lead, -1), lambda a: a.reshape(lead, -1)
    if kind == "flatten":
        return kind, x, lambda t: t.flatten(), lambda a: a.reshape(-1)
    if kind == "flatten_range":
        start = draw(st.integers(0, ndim - 1))
        end = draw(st.integers(start, ndim - 1))
        new = x.shape[:start] + (int(np.prod(x.shape[start:end + 1])),) + x.shape[end + 1:]
        return kind, x, lambda t: t.flatten(start, end), lambda a: a.reshape(new)
    if kind == "squeeze_all":
        return kind, x, lambda t: t.squeeze(), lambda a: np.squeeze(a)
    if kind == "squeeze_dim":
        d = draw(st.integers(-ndim, ndim - 1))
        return kind, x, lambda t: t.squeeze(d), \
            lambda a: np.squeeze(a, d) if a.shape[d] == 1 else a
    if kind == "unsqueeze":
        d = draw(st.integers(-ndim - 1, ndim))
        return kind, x, lambda t: t.unsqueeze(d), lambda a: np.expand_dims(a, d)
    if kind == "expand":
        other = draw(hnp.broadcastable_shapes(x.shape, min_side=1, max_side=3, max_dims=4))
        target = np.broadcast_shapes(x.shape, other)
        # -1 keeps an existing size
        sizes = [-1 if i >= len(target) - ndim and draw(st.booleans()) else s
                 for i, s in enumerate(target)]
        return kind, x, lambda t: t.expand(*sizes), lambda a: np.broadcast_to(a, target)
    if kind == "T":
        return kind, x, lambda t: t.T, lambda a: a.T
    if kind == "permute":
        perm = draw(st.permutations(range(ndim)))
        return kind, x, lambda t: t.permute(*perm), lambda a: a.transpose(perm)
    if kind == "transpose":
        d0, d1 = draw(st.integers(-ndim, ndim - 1)), draw(st.integers(-ndim, ndim - 1))
        return kind, x, lambda t: t.transpose(d0, d1), lambda a: np.swapaxes(a, d0, d1)
    return kind, x, lambda t: t.clone(), lambda a: a.copy()


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@given(case=shape_op_cases())
def test_shape_op_forward(dtype, case):
    kind, x, op, reference = case
    t = leaf(x, dtype)
    out = op(t)
    check_forward(out, reference(rounded(x, dtype)), dtype)
    check_grad_shapes(out, [t])


@given(case=shape_op_cases())
def test_shape_op_backward(case):
    kind, x, op, reference = case
    assert gradcheck(op, [leaf(x)])


# -- indexing ---------------------------------------------------------------------------------


@st.composite
def getitem_cases(draw):
    kind = draw(st.sampled_from(["basic", "int_arrays", "mask", "repeated", "tensor_index"]))
    if kind == "basic":  # ints, slices (negative steps too), Ellipsis, None
        x = draw(arrays(shapes()))
        index = draw(hnp.basic_indices(x.shape, allow_newaxis=True, allow_ellipsis=True))
    elif kind == "int_arrays":  # advanced indexing; the arrays may repeat an index
        x = draw(arrays(shapes(min_dims=1)))
        index = draw(hnp.integer_array_indices(x.shape,
                                               result_shape=hnp.array_shapes(max_dims=2)))
    elif kind == "mask":
        x = draw(arrays(shapes(min_dims=1)))
        mask_dims = draw(st.integers(1, x.ndim))
        index = draw(hnp.arrays(np.bool_, x.shape[:mask_dims]))
    elif kind == "repeated":  # a list with the same row several times, plus a slice
        x = draw(arrays(shapes(min_dims=2)))
        rows = draw(st.lists(st.integers(-x.shape[0], x.shape[0] - 1), min_size=1, max_size=5))
        index = (rows, slice(None, None, -1))
    else:  # a Tensor of indices
        x = draw(arrays(shapes(min_dims=1)))
        rows = draw(hnp.arrays(np.int64, st.integers(1, 4),
                               elements=st.integers(0, x.shape[0] - 1)))
        return kind, x, (lambda t: t[tc.tensor(rows)]), rows
    return kind, x, (lambda t: t[index]), index


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@given(case=getitem_cases())
def test_getitem_forward(dtype, case):
    kind, x, op, index = case
    t = leaf(x, dtype)
    expected = rounded(x, dtype)[tuple(np.asarray(i) if isinstance(i, list) else i for i in index)
                                 if isinstance(index, tuple) else index]
    check_forward(op(t), expected, dtype)
    check_grad_shapes(op(t), [t])


@given(case=getitem_cases())
def test_getitem_backward(case):
    kind, x, op, index = case
    assert gradcheck(op, [leaf(x)])


def test_getitem_repeated_indices_accumulate():
    x = np.arange(1.0, 4.0)
    t = leaf(x)
    picked = t[[0, 0, 2, 0]]
    weights = np.array([1.0, 10.0, 100.0, 1000.0])
    (picked * tc.tensor(weights, dtype=tc.float64)).sum().backward()
    expected = np.zeros(3)
    np.add.at(expected, [0, 0, 2, 0], weights)
    np.testing.assert_array_equal(t.grad.numpy(), expected)


def test_getitem_with_a_bool_tensor_mask():
    t = leaf([[1.0, -2.0], [-3.0, 4.0]])
    mask = t > 0
    out = t[mask]
    np.testing.assert_array_equal(out.detach().numpy(), [1.0, 4.0])
    out.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), mask.numpy().astype(float))


# -- cat, stack, split, pad ---------------------------------------------------------------------


@st.composite
def join_cases(draw):
    """Arrays that share a shape except along ``dim`` (for cat) or entirely (for stack)."""
    base = draw(shapes(min_dims=1))
    count = draw(st.integers(1, 3))
    dim = draw(st.integers(-len(base), len(base) - 1))
    same = draw(st.booleans())
    xs = []
    for _ in range(count):
        shape = list(base)
        if not same:
            shape[dim] = draw(st.integers(1, 3))
        xs.append(draw(arrays(tuple(shape))))
    return xs, dim, same


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@given(case=join_cases())
def test_cat_and_stack_forward(dtype, case):
    xs, dim, same = case
    ts = [leaf(x, dtype) for x in xs]
    out = tc.cat(ts, dim=dim)
    check_forward(out, np.concatenate([rounded(x, dtype) for x in xs], axis=dim), dtype)
    check_grad_shapes(out, ts)
    if same:
        stacked = tc.stack(ts, dim=dim)
        check_forward(stacked, np.stack([rounded(x, dtype) for x in xs], axis=dim), dtype)


@given(case=join_cases())
def test_cat_and_stack_backward(case):
    xs, dim, same = case
    assert gradcheck(lambda *ts: tc.cat(ts, dim=dim), [leaf(x) for x in xs])
    if same:
        assert gradcheck(lambda *ts: tc.stack(ts, dim=dim), [leaf(x) for x in xs])


def test_cat_where_only_some_inputs_need_grad():
    a, b = leaf([1.0, 2.0]), tc.tensor([3.0, 4.0, 5.0], dtype=tc.float64)
    out = tc.cat([b, a, b])
    (out * tc.arange(8.0).double()).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 4.0])
    assert b.grad is None


@st.composite
def split_cases(draw):
    x = draw(arrays(shapes(min_dims=1)))
    dim = draw(st.integers(-x.ndim, x.ndim - 1))
    length = x.shape[dim]
    if draw(st.booleans()):
        return x, draw(st.integers(1, length + 1)), dim
    cuts = sorted(draw(st.lists(st.integers(0, length), max_size=3)))
    bounds = [0] + cuts + [length]
    return x, [bounds[i + 1] - bounds[i] for i in range(len(bounds) - 1)], dim


@given(case=split_cases())
def test_split_forward_and_backward(case):
    x, size_or_sections, dim = case
    pieces = tc.split(leaf(x), size_or_sections, dim=dim)
    if isinstance(size_or_sections, int):
        bounds = list(range(size_or_sections, x.shape[dim], size_or_sections))
    else:
        bounds = list(np.cumsum(size_or_sections)[:-1])
    expected = np.split(x, bounds, axis=dim)
    assert len(pieces) == len(expected)
    for piece, ref in zip(pieces, expected, strict=True):
        check_forward(piece, ref, tc.float64)
    method_pieces = leaf(x).split(size_or_sections, dim)
    assert [p.shape for p in method_pieces] == [p.shape for p in pieces]
    assert gradcheck(lambda t: tc.split(t, size_or_sections, dim=dim), [leaf(x)])


@st.composite
def pad_cases(draw):
    x = draw(arrays(shapes(min_dims=1)))
    pairs = draw(st.integers(1, x.ndim))
    pad = draw(st.lists(st.integers(0, 2), min_size=2 * pairs, max_size=2 * pairs))
    value = draw(st.sampled_from([0.0, -1.5]))
    return x, tuple(pad), value


def _np_pad(x, pad, value):
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):  # torch order: the last dimension first
        widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return np.pad(x, widths, constant_values=value)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@given(case=pad_cases())
def test_pad_forward(dtype, case):
    x, pad, value = case
    t = leaf(x, dtype)
    out = tc.pad(t, pad, value=value)
    check_forward(out, _np_pad(rounded(x, dtype), pad, value), dtype)
    check_grad_shapes(out, [t])


@given(case=pad_cases())
def test_pad_backward_crops(case):
    x, pad, value = case
    assert gradcheck(lambda t: tc.pad(t, pad, value=value), [leaf(x)])
    t = leaf(x)
    out = tc.pad(t, pad, value=value)
    upstream = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(tc.tensor(upstream, dtype=tc.float64))
    crop = tuple(slice(before, n - after) for n, (before, after)
                 in zip(out.shape, [(w[0], w[1]) for w in _np_widths(x.ndim, pad)], strict=True))
    np.testing.assert_array_equal(t.grad.numpy(), upstream[crop])


def _np_widths(ndim, pad):
    widths = [(0, 0)] * ndim
    for i in range(len(pad) // 2):
        widths[ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return widths


# ---------------------------------------------------------------------------------------------
# Comparisons: bool results, never part of the graph
# ---------------------------------------------------------------------------------------------

COMPARISONS = [("eq", np.equal), ("ne", np.not_equal), ("lt", np.less), ("le", np.less_equal),
               ("gt", np.greater), ("ge", np.greater_equal)]


@pytest.mark.parametrize("name, reference", COMPARISONS, ids=[c[0] for c in COMPARISONS])
@given(data=st.data())
def test_comparisons(name, reference, data):
    # small integers make equal values common
    shape_a, shape_b = data.draw(broadcastable_shapes(2))
    x = data.draw(hnp.arrays(np.float64, shape_a, elements=st.integers(-2, 2).map(float)))
    y = data.draw(hnp.arrays(np.float64, shape_b, elements=st.integers(-2, 2).map(float)))
    a = leaf(x)
    for out, expected in ((getattr(a, name)(tc.tensor(y)), reference(x, y)),
                          (getattr(a, f"__{name}__")(1.0), reference(x, 1.0)),
                          (getattr(tc, name)(a, tc.tensor(y)), reference(x, y))):
        assert out.dtype == tc.bool
        assert not out.requires_grad
        np.testing.assert_array_equal(out.numpy(), expected)


# ---------------------------------------------------------------------------------------------
# A compound expression, to check that ops compose (chain rule through many node types)
# ---------------------------------------------------------------------------------------------


@given(data=st.data())
def test_compound_expression_backward(data):
    x, w = data.draw(broadcastable_arrays(2, ("real", "real"), max_dims=2))

    def f(x, w):
        h = (x * w).tanh() + (x - w).sigmoid() * 2
        return tc.cat([h.reshape(-1), (h ** 2).sum().unsqueeze(0)]).logsumexp(0) / 3

    assert gradcheck(f, [leaf(x), leaf(w)])


def test_contiguous_copies_only_when_the_layout_needs_it():
    x = tc.randn(3, 4)
    assert x.is_contiguous() and x.contiguous() is x
    transposed = x.T
    assert not transposed.is_contiguous()
    copy = transposed.contiguous()
    assert copy.is_contiguous() and copy is not transposed
    np.testing.assert_array_equal(copy.numpy(), x.numpy().T)
