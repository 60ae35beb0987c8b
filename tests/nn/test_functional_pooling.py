"""The differentiable pooling ops of ``tc.nn.functional``.

Oracles: central differences (``tc.testing.gradcheck``, float64) with the ``reference`` and the
``cpu`` kernel sets; ``torch.nn.functional`` for values, argmax indices and gradients (when torch
is installed); the output-size rule written out here; and a spy kernel set showing that bad
arguments never reach a kernel.

Max pooling is differentiable only away from ties, so its inputs hold distinct values at least
0.05 apart (central differences with eps = 1e-6 never swap a window's winner).
"""

from __future__ import annotations

import types
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv.kernels import reference
from tinyconv.kernels.contract import CONTRACT_FUNCTIONS
from tinyconv.testing import gradcheck

KERNEL_SETS = ["reference", "cpu"]
GRADCHECK_EXAMPLES = max(5, settings().max_examples // 3)
TOLERANCE = {np.float64: 1e-10, np.float32: 1e-5}


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="torch is the oracle for value/gradient comparisons "
                                               "(not a tinyconv dependency)")


def distinct_values(shape, seed, dtype=np.float64) -> np.ndarray:
    """Values 0.1 apart in a random order, plus a common random offset: no ties, no near-ties."""
    rng = np.random.default_rng(seed)
    count = int(np.prod(shape))
    return ((rng.permutation(count) - count / 2) * 0.1 + rng.uniform(-0.05, 0.05)).reshape(
        shape).astype(dtype)


def expected_pool_size(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's rule: floor (or ceil) of (n + 2p - d(k-1) - 1) / s, plus 1; with ceil_mode the
    last window must start inside the input or the leading padding."""
    numerator = n + 2 * p - d * (k - 1) - 1
    out = (-(-numerator // s) if ceil_mode else numerator // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def every_window_sees_input(n: int, k: int, s: int, p: int, d: int, out: int) -> bool:
    return all(any(0 <= o * s - p + i * d < n for i in range(k)) for o in range(out))


# ------------------------------------------------------------------------------------------------
# Problems
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolProblem:
    kind: str                 # "max" or "avg"
    dims: int                 # 1 or 2
    batch: int | None      # None: unbatched
    channels: int
    size: tuple
    kernel: tuple
    stride: tuple | None   # None: the default (= kernel)
    padding: tuple
    dilation: tuple
    ceil_mode: bool
    count_include_pad: bool
    seed: int

    @property
    def name(self) -> str:
        return f"{self.kind}_pool{self.dims}d"

    @property
    def x_shape(self) -> tuple:
        return ((self.batch,) if self.batch else ()) + (self.channels,) + self.size

    @property
    def expected_out_shape(self) -> tuple:
        stride = self.stride or self.kernel
        per_axis = zip(self.size, self.kernel, stride, self.padding, self.dilation, strict=True)
        sizes = tuple(expected_pool_size(*args, self.ceil_mode) for args in per_axis)
        return ((self.batch,) if self.batch else ()) + (self.channels,) + sizes

    def _arg(self, value):
        if value is None:
            return None
        return value[0] if self.dims == 1 or value[0] == value[1] else value

    @property
    def kwargs(self) -> dict:
        kwargs = dict(kernel_size=self._arg(self.kernel), stride=self._arg(self.stride),
                      padding=self._arg(self.padding), ceil_mode=self.ceil_mode)
        if self.kind == "max":
            kwargs["dilation"] = self._arg(self.dilation)
        else:
            kwargs["count_include_pad"] = self.count_include_pad
        return kwargs

    def x(self, dtype=np.float64) -> np.ndarray:
        return distinct_values(self.x_shape, self.seed, dtype)


@st.composite
def pool_problems(draw, kind: str, dims: int, max_size: int = 6) -> PoolProblem:
    kernel, stride, padding, dilation, size = [], [], [], [], []
    default_stride = draw(st.booleans())
    ceil_mode = draw(st.booleans())
    for _ in range(dims):
        k = draw(st.integers(1, 3))
        s = k if default_stride else draw(st.integers(1, 3))
        p = draw(st.integers(0, k // 2))
        d = draw(st.integers(1, 2)) if kind == "max" and k > 1 else 1
        n = draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), max_size))
        out = expected_pool_size(n, k, s, p, d, ceil_mode)
        if out < 1 or not every_window_sees_input(n, k, s, p, d, out):
            n = max_size  # a dilated window hanging over a short input: use a long input instead
        kernel.append(k), stride.append(s), padding.append(p), dilation.append(d), size.append(n)
    return PoolProblem(kind=kind, dims=dims, batch=draw(st.sampled_from([None, 1, 2])),
                       channels=draw(st.integers(1, 2)), size=tuple(size), kernel=tuple(kernel),
                       stride=None if default_stride else tuple(stride), padding=tuple(padding),
                       dilation=tuple(dilation), ceil_mode=ceil_mode,
                       count_include_pad=draw(st.booleans()), seed=draw(st.integers(0, 2**32 - 1)))


def all_pool_problems(max_size: int = 6):
    return st.one_of(*[pool_problems(kind, dims, max_size) for kind in ("max", "avg")
                       for dims in (1, 2)])


@st.composite
def adaptive_problems(draw, max_size: int = 5):
    """(x_shape, output_size, seed); output_size is an int, or a pair that may hold None (keep
    that size), and may exceed the input size (windows then overlap)."""
    batch = draw(st.sampled_from([None, 1, 2]))
    shape = ((batch,) if batch else ()) + (draw(st.integers(1, 2)), draw(st.integers(1, max_size)),
                                           draw(st.integers(1, max_size)))
    sizes = st.integers(1, max_size + 1)
    output_size = draw(st.one_of(sizes, st.tuples(st.none() | sizes, st.none() | sizes)))
    return shape, output_size, draw(st.integers(0, 2**32 - 1))


def resolved_output_size(shape, output_size) -> tuple:
    if isinstance(output_size, int):
        output_size = (output_size, output_size)
    return tuple(shape[-2 + i] if s is None else s for i, s in enumerate(output_size))


# ------------------------------------------------------------------------------------------------
# Gradients by central differences, both kernel sets
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kernels", KERNEL_SETS)
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("dims", [1, 2])
@settings(max_examples=GRADCHECK_EXAMPLES)
@given(data=st.data())
def test_gradcheck(kernels, kind, dims, data):
    problem = data.draw(pool_problems(kind, dims, max_size=5))
    x = tc.tensor(problem.x(), requires_grad=True)
    op = getattr(F, problem.name)
    with tc.use_kernels(kernels):
        assert gradcheck(lambda x: op(x, **problem.kwargs), (x,))


@pytest.mark.parametrize("kernels", KERNEL_SETS)
@pytest.mark.parametrize("op", [F.adaptive_avg_pool2d, F.adaptive_max_pool2d],
                         ids=["adaptive_avg", "adaptive_max"])
@settings(max_examples=GRADCHECK_EXAMPLES)
@given(problem=adaptive_problems())
def test_gradcheck_adaptive(kernels, op, problem):
    shape, output_size, seed = problem
    x = tc.tensor(distinct_values(shape, seed), requires_grad=True)
    with tc.use_kernels(kernels):
        assert gradcheck(lambda x: op(x, output_size), (x,))


@pytest.mark.parametrize("kernels", KERNEL_SETS)
def test_gradcheck_global_avg_pool(kernels):
    x = tc.tensor(distinct_values((2, 3, 4, 5), 0), requires_grad=True)
    with tc.use_kernels(kernels):
        assert gradcheck(F.global_avg_pool2d, (x,))
    y = F.global_avg_pool2d(x)
    assert y.shape == (2, 3, 1, 1)
    np.testing.assert_allclose(y.detach().numpy(), x.detach().numpy().mean(axis=(2, 3),
                                                                           keepdims=True))


# ------------------------------------------------------------------------------------------------
# Shapes
# ------------------------------------------------------------------------------------------------


@given(problem=all_pool_problems(max_size=9))
def test_output_shape_follows_the_formula(problem):
    y = getattr(F, problem.name)(tc.tensor(problem.x(np.float32)), **problem.kwargs)
    assert y.shape == problem.expected_out_shape
    assert y.dtype == np.float32


def test_output_size_examples_with_and_without_ceil_mode():
    x = tc.zeros(1, 1, 7, 7)
    assert F.max_pool2d(x, 2).shape == (1, 1, 3, 3)                        # floor(5/2) + 1
    assert F.max_pool2d(x, 2, ceil_mode=True).shape == (1, 1, 4, 4)        # ceil(5/2) + 1
    assert F.avg_pool2d(x, 3, stride=2, padding=1).shape == (1, 1, 4, 4)   # floor(6/2) + 1
    # ceil_mode keeps a last window only if it starts inside the input or the leading padding:
    # n=6, k=2, s=2, p=1: ceil(6/2) + 1 = 4 windows would start at 6 - 1 = 5 (inside): kept
    assert F.max_pool1d(tc.zeros(1, 1, 6), 2, 2, 1, ceil_mode=True).shape == (1, 1, 4)
    # n=5, k=2, s=3, p=1: ceil(4/3) + 1 = 3 would start at 6 - 1 = 5 = n (past the input): dropped
    assert F.max_pool1d(tc.zeros(1, 1, 5), 2, 3, 1, ceil_mode=True).shape == (1, 1, 2)
    assert F.max_pool2d(x, 3, dilation=2).shape == (1, 1, 1, 1)            # span 5 in 7


@given(problem=adaptive_problems(max_size=7))
def test_adaptive_output_shape(problem):
    shape, output_size, seed = problem
    expected = shape[:-2] + resolved_output_size(shape, output_size)
    x = tc.tensor(distinct_values(shape, seed))
    assert F.adaptive_avg_pool2d(x, output_size).shape == expected
    y, indices = F.adaptive_max_pool2d(x, output_size, return_indices=True)
    assert y.shape == indices.shape == expected


# ------------------------------------------------------------------------------------------------
# Against torch.nn.functional
# ------------------------------------------------------------------------------------------------

# (op, x_shape, kwargs)
TORCH_GRID = [
    ("max_pool2d", (2, 3, 7, 6), dict(kernel_size=2)),
    ("max_pool2d", (2, 3, 7, 6), dict(kernel_size=3, stride=2, padding=1)),
    ("max_pool2d", (1, 2, 8, 9), dict(kernel_size=(3, 2), stride=(2, 3), padding=(1, 1),
                                      dilation=(2, 1))),
    ("max_pool2d", (2, 7, 7), dict(kernel_size=2, ceil_mode=True)),                # unbatched
    ("max_pool2d", (1, 1, 6, 5), dict(kernel_size=2, stride=2, padding=1, ceil_mode=True)),
    ("max_pool1d", (2, 3, 11), dict(kernel_size=3, stride=2, padding=1, dilation=2)),
    ("max_pool1d", (3, 10), dict(kernel_size=4, ceil_mode=True)),                  # unbatched
    ("avg_pool2d", (2, 3, 7, 6), dict(kernel_size=2)),
    ("avg_pool2d", (2, 3, 7, 6), dict(kernel_size=3, stride=2, padding=1)),
    ("avg_pool2d", (2, 3, 7, 6), dict(kernel_size=3, stride=2, padding=1,
                                      count_include_pad=False)),
    ("avg_pool2d", (1, 2, 7, 8), dict(kernel_size=(3, 2), stride=(2, 3), padding=(1, 1),
                                      ceil_mode=True)),
    ("avg_pool2d", (1, 2, 7, 8), dict(kernel_size=(3, 2), stride=(2, 3), padding=(1, 1),
                                      ceil_mode=True, count_include_pad=False)),
    ("avg_pool2d", (2, 5, 5), dict(kernel_size=2, ceil_mode=True)),                # unbatched
    ("avg_pool1d", (2, 3, 10), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("avg_pool1d", (3, 9), dict(kernel_size=4, stride=3, padding=2,
                                count_include_pad=False)),                         # unbatched
    ("adaptive_avg_pool2d", (2, 3, 7, 5), dict(output_size=3)),
    ("adaptive_avg_pool2d", (2, 3, 7, 5), dict(output_size=(2, None))),
    ("adaptive_avg_pool2d", (3, 4, 6), dict(output_size=(5, 9))),                  # unbatched
    ("adaptive_avg_pool2d", (2, 3, 7, 5), dict(output_size=1)),
    ("adaptive_max_pool2d", (2, 3, 7, 5), dict(output_size=3)),
    ("adaptive_max_pool2d", (2, 3, 8, 6), dict(output_size=(4, 3))),               # tiles
    ("adaptive_max_pool2d", (3, 4, 6), dict(output_size=(None, 4))),               # unbatched
    ("adaptive_max_pool2d", (1, 2, 3, 3), dict(output_size=(5, 4))),               # upsamples
]


def assert_close(actual: np.ndarray, expected: np.ndarray, tolerance: float) -> None:
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=tolerance, atol=tolerance * scale)


def compare_with_torch(torch, name, x_array, kwargs, dtype) -> None:
    """Values, argmax indices (max pooling) and input gradients agree with torch."""
    x = tc.tensor(x_array, requires_grad=True)
    x_torch = torch.tensor(x_array, requires_grad=True)
    ours, theirs = getattr(F, name), getattr(torch.nn.functional, name)
    if "max" in name:
        y, indices = ours(x, **kwargs, return_indices=True)
        y_torch, indices_torch = theirs(x_torch, **kwargs, return_indices=True)
        np.testing.assert_array_equal(indices.numpy(), indices_torch.numpy())
        assert indices.dtype == np.int64
    else:
        y, y_torch = ours(x, **kwargs), theirs(x_torch, **kwargs)
    assert y.shape == tuple(y_torch.shape)
    assert y.dtype == dtype
    assert_close(y.detach().numpy(), y_torch.detach().numpy(), TOLERANCE[dtype])
    g = np.random.default_rng(5).standard_normal(y.shape).astype(dtype)
    (y * tc.tensor(g)).sum().backward()
    (y_torch * torch.tensor(g)).sum().backward()
    assert_close(x.grad.numpy(), x_torch.grad.numpy(), TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", TORCH_GRID, ids=lambda case: f"{case[0]}-x{case[1]}-{case[2]}")
def test_matches_torch(torch, case, dtype):
    name, x_shape, kwargs = case
    compare_with_torch(torch, name, distinct_values(x_shape, 1, dtype), kwargs, dtype)


@given(problem=all_pool_problems(max_size=7))
def test_matches_torch_on_drawn_configurations(torch, problem):
    compare_with_torch(torch, problem.name, problem.x(), problem.kwargs, np.float64)


@given(problem=adaptive_problems(max_size=7))
def test_adaptive_matches_torch_on_drawn_configurations(torch, problem):
    shape, output_size, seed = problem
    for name in ("adaptive_avg_pool2d", "adaptive_max_pool2d"):
        compare_with_torch(torch, name, distinct_values(shape, seed), dict(output_size=output_size),
                           np.float64)


def test_global_avg_pool_matches_torch(torch):
    x_array = distinct_values((2, 3, 5, 4), 2)
    expected = torch.nn.functional.adaptive_avg_pool2d(torch.tensor(x_array), 1).numpy()
    assert_close(F.global_avg_pool2d(tc.tensor(x_array)).numpy(), expected, 1e-12)


def test_max_pool_ties_go_to_the_first_element_like_torch(torch):
    """With ties, the gradient goes to the first maximum of the window (row-major), as in torch."""
    x_array = np.array([[[[1.0, 1.0, 0.0], [1.0, 1.0, 2.0], [2.0, 0.0, 2.0]]]])
    for name, kwargs in (("max_pool2d", dict(kernel_size=2, stride=1)),
                         ("adaptive_max_pool2d", dict(output_size=2))):
        compare_with_torch(torch, name, x_array, kwargs, np.float64)


# ------------------------------------------------------------------------------------------------
# The two kernel sets agree
# ------------------------------------------------------------------------------------------------


@given(problem=all_pool_problems(max_size=8))
def test_reference_and_cpu_kernels_agree(problem):
    results = []
    for kernels in KERNEL_SETS:
        x = tc.tensor(problem.x(), requires_grad=True)
        with tc.use_kernels(kernels):
            y = getattr(F, problem.name)(x, **problem.kwargs)
            (y * y).sum().backward()
        results.append((y.detach().numpy(), x.grad.numpy()))
    for ours, theirs in zip(*results, strict=False):
        assert_close(ours, theirs, 1e-12)


# ------------------------------------------------------------------------------------------------
# Validation before any kernel runs
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def spy():
    spy = types.ModuleType("spy_pool_kernels")
    spy.calls = []
    for name in CONTRACT_FUNCTIONS:
        def kernel(*args, _name=name, **kwargs):
            spy.calls.append(_name)
            return getattr(reference, _name)(*args, **kwargs)
        setattr(spy, name, kernel)
    tc.register_kernels("spy_pool", spy)
    with tc.use_kernels("spy_pool"):
        yield spy


def z(*shape, dtype=np.float32):
    return tc.tensor(np.zeros(shape, dtype=dtype))


BAD_CALLS = {
    "max_pool2d input rank": (lambda: F.max_pool2d(z(4, 4), 2), ValueError,
                              r"max_pool2d: expected input to be 3-D or 4-D .*\(4, 4\)"),
    "max_pool1d input rank": (lambda: F.max_pool1d(z(1, 1, 4, 4), 2), ValueError,
                              r"max_pool1d: expected input to be 2-D or 3-D"),
    "avg_pool2d input rank": (lambda: F.avg_pool2d(z(1, 1, 1, 4, 4), 2), ValueError,
                              r"avg_pool2d: expected input to be 3-D or 4-D"),
    "max_pool2d padding above half the kernel": (
        lambda: F.max_pool2d(z(1, 1, 6, 6), 3, padding=2), ValueError,
        r"max_pool2d: padding along H \(2\) must be at most half the kernel size \(3 // 2 = 1\)"),
    "avg_pool2d padding above half the kernel": (
        lambda: F.avg_pool2d(z(1, 1, 6, 6), (4, 2), padding=(1, 2)), ValueError,
        r"avg_pool2d: padding along W \(2\) must be at most half"),
    "max_pool1d padding above half the kernel": (
        lambda: F.max_pool1d(z(1, 1, 6), 2, padding=2), ValueError,
        r"max_pool1d: padding .*must be at most half"),
    "negative padding": (lambda: F.avg_pool2d(z(1, 1, 6, 6), 3, padding=-1), ValueError,
                         r"avg_pool2d: padding"),
    "zero stride": (lambda: F.max_pool2d(z(1, 1, 6, 6), 2, stride=0), ValueError,
                    r"max_pool2d: stride"),
    "negative stride": (lambda: F.avg_pool2d(z(1, 1, 6, 6), 2, stride=(1, -1)), ValueError,
                        r"avg_pool2d: stride"),
    "max_pool1d zero stride": (lambda: F.max_pool1d(z(1, 1, 6), 2, stride=0), ValueError,
                               r"max_pool1d: stride"),
    "avg_pool1d zero stride": (lambda: F.avg_pool1d(z(1, 1, 6), 2, stride=0), ValueError,
                               r"avg_pool1d: stride"),
    "zero kernel": (lambda: F.max_pool2d(z(1, 1, 6, 6), 0), ValueError,
                    r"max_pool2d: kernel_size"),
    "zero dilation": (lambda: F.max_pool2d(z(1, 1, 6, 6), 2, dilation=0), ValueError,
                      r"max_pool2d: dilation"),
    "kernel of the wrong length": (lambda: F.max_pool2d(z(1, 1, 6, 6), (2, 2, 2)), ValueError,
                                   r"max_pool2d: kernel_size must be an int or a tuple of 2"),
    "empty output": (lambda: F.max_pool2d(z(1, 1, 3, 3), 4), ValueError,
                     r"max_pool2d: the window does not fit"),
    "empty output with dilation": (lambda: F.max_pool2d(z(1, 1, 5, 5), 3, dilation=3),
                                   ValueError, r"max_pool2d: the window does not fit"),
    "avg_pool1d empty output": (lambda: F.avg_pool1d(z(1, 1, 3), 4), ValueError,
                                r"avg_pool1d: the window does not fit"),
    "window that sees only padding": (
        lambda: F.max_pool1d(z(1, 1, 1), 2, stride=1, padding=1, dilation=2), ValueError,
        r"max_pool1d: window 0 along W covers no input element"),
    "int dtype": (lambda: F.max_pool2d(z(1, 1, 4, 4, dtype=np.int64), 2), TypeError,
                  r"max_pool2d: input must be float32 or float64, got int64"),
    "avg int dtype": (lambda: F.avg_pool1d(z(1, 1, 4, dtype=np.int32), 2), TypeError,
                      r"avg_pool1d: input must be float32 or float64, got int32"),
    "adaptive output size zero": (lambda: F.adaptive_avg_pool2d(z(1, 1, 4, 4), 0), ValueError,
                                  r"adaptive_avg_pool2d: output_size must be positive"),
    "adaptive output size of the wrong length": (
        lambda: F.adaptive_max_pool2d(z(1, 1, 4, 4), (2, 2, 2)), ValueError,
        r"adaptive_max_pool2d: output_size must be an int or a pair"),
    "adaptive input rank": (lambda: F.adaptive_max_pool2d(z(4, 4), 2), ValueError,
                            r"adaptive_max_pool2d: expected input to be 3-D or 4-D"),
    "adaptive int dtype": (lambda: F.adaptive_avg_pool2d(z(1, 4, 4, dtype=np.int64), 2),
                           TypeError, r"adaptive_avg_pool2d: input must be float32 or float64"),
}


@pytest.mark.parametrize("bad_call", list(BAD_CALLS))
def test_bad_arguments_are_rejected_before_any_kernel_runs(spy, bad_call):
    call, exception, message = BAD_CALLS[bad_call]
    with pytest.raises(exception, match=message):
        call()
    assert spy.calls == []


def test_the_spy_sees_valid_calls(spy):
    """The control for the test above: valid pooling calls do reach the spy's kernels."""
    x = tc.tensor(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4), requires_grad=True)
    (F.max_pool2d(x, 2).sum() + F.avg_pool1d(x[0], 2).sum()).backward()
    assert sorted(spy.calls) == sorted(["max_pool2d_forward", "avg_pool2d_forward",
                                        "avg_pool2d_backward", "max_pool2d_backward"])
