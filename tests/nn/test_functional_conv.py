"""The differentiable convolutions of ``tc.nn.functional`` and the kernel registry they run on.

Oracles, each independent of the code under test:

- central differences (``tc.testing.gradcheck``, float64) for every gradient, on hypothesis-drawn
  configurations, with the readable ``reference`` kernels and with the Numba ``cpu`` kernels;
- ``torch.nn.functional`` for values and gradients on a grid of configurations (when torch is
  installed: it is not a tinyconv dependency);
- the identities of docs/identities.md: the output-size formula (§1) and adjointness (§5)
  ``<conv2d(X, W), Y> = <X, conv_transpose2d(Y, W)>``;
- a spy kernel set, to show that bad arguments are rejected before any kernel runs.
"""

from __future__ import annotations

import re
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
# gradcheck evaluates the op twice per input element: fewer examples than the profile's default
GRADCHECK_EXAMPLES = max(5, settings().max_examples // 3)
TOLERANCE = {np.float64: 1e-10, np.float32: 1e-5}


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="torch is the oracle for value/gradient comparisons "
                                               "(not a tinyconv dependency)")


# ------------------------------------------------------------------------------------------------
# Problems: hypothesis draws valid configurations
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConvProblem:
    """One valid (transposed) convolution: shapes and keyword arguments, no arrays.

    ``dims`` is 1 or 2 spatial dimensions; ``batch=None`` means an unbatched input. Per-axis
    hyper-parameters are tuples of length ``dims``; ``padding`` may also be "valid" or "same".
    """

    dims: int
    transposed: bool
    batch: int | None
    c_in: int
    c_out: int
    groups: int
    size: tuple
    kernel: tuple
    stride: tuple
    padding: tuple | str
    dilation: tuple
    output_padding: tuple
    bias: bool
    seed: int

    @property
    def x_shape(self) -> tuple:
        return ((self.batch,) if self.batch else ()) + (self.c_in,) + self.size

    @property
    def w_shape(self) -> tuple:
        if self.transposed:  # (C_in, C_out/groups, k...)
            return (self.c_in, self.c_out // self.groups) + self.kernel
        return (self.c_out, self.c_in // self.groups) + self.kernel

    @property
    def expected_out_shape(self) -> tuple:
        """The output-size formulas of docs/identities.md §1, computed here independently."""
        sizes = []
        for axis in range(self.dims):
            n, k, s, d = self.size[axis], self.kernel[axis], self.stride[axis], self.dilation[axis]
            if self.transposed:
                p, extra = self.padding[axis], self.output_padding[axis]
                sizes.append((n - 1) * s - 2 * p + d * (k - 1) + extra + 1)
            elif self.padding == "same":
                sizes.append(n)
            else:
                p = 0 if self.padding == "valid" else self.padding[axis]
                sizes.append((n + 2 * p - d * (k - 1) - 1) // s + 1)
        return ((self.batch,) if self.batch else ()) + (self.c_out,) + tuple(sizes)

    def _arg(self, value):
        """What a user would write: an int for 1-D (or for equal entries), else a tuple."""
        if isinstance(value, str):
            return value
        if self.dims == 1 or value[0] == value[1]:
            return value[0]
        return value

    @property
    def kwargs(self) -> dict:
        kwargs = dict(stride=self._arg(self.stride), padding=self._arg(self.padding),
                      dilation=self._arg(self.dilation), groups=self.groups)
        if self.transposed:
            kwargs["output_padding"] = self._arg(self.output_padding)
        return kwargs

    @property
    def name(self) -> str:
        return f"conv{'_transpose' if self.transposed else ''}{self.dims}d"

    def tc_op(self):
        return getattr(F, self.name)

    def arrays(self, dtype=np.float64) -> tuple:
        rng = np.random.default_rng(self.seed)
        x = rng.standard_normal(self.x_shape).astype(dtype)
        w = rng.standard_normal(self.w_shape).astype(dtype)
        b = rng.standard_normal(self.c_out).astype(dtype) if self.bias else None
        return x, w, b


@st.composite
def conv_problems(draw, dims: int = 2, transposed: bool = False, max_size: int = 5,
                  max_group_channels: int = 2, string_padding: bool = True) -> ConvProblem:
    groups = draw(st.integers(1, 2))
    c_in = groups * draw(st.integers(1, max_group_channels))
    c_out = groups * draw(st.integers(1, max_group_channels))
    batch = draw(st.sampled_from([None, 1, 2]))
    padding_kind = "int"
    if string_padding and not transposed:
        padding_kind = draw(st.sampled_from(["int", "int", "valid", "same"]))
    kernel, stride, dilation, padding, output_padding, size = [], [], [], [], [], []
    for _ in range(dims):
        k = draw(st.integers(1, 3))
        s = 1 if padding_kind == "same" else draw(st.integers(1, 2))
        d = draw(st.integers(1, 2)) if k > 1 and 2 * (k - 1) + 1 <= max_size else 1
        span = d * (k - 1) + 1
        if transposed:
            extra = draw(st.integers(0, s - 1))  # output_padding < stride
            n = draw(st.integers(1, max_size - 1))
            # keep the output (n-1)*s - 2p + span + extra at least 1
            p = draw(st.integers(0, min(2, ((n - 1) * s + span - 1 + extra) // 2)))
            output_padding.append(extra)
        else:
            p = draw(st.integers(0, 2)) if padding_kind == "int" else 0
            n = draw(st.integers(max(1, span - 2 * p), max_size))
        kernel.append(k), stride.append(s), dilation.append(d), padding.append(p), size.append(n)
    return ConvProblem(
        dims=dims, transposed=transposed, batch=batch, c_in=c_in, c_out=c_out, groups=groups,
        size=tuple(size), kernel=tuple(kernel), stride=tuple(stride),
        padding=tuple(padding) if padding_kind == "int" else padding_kind,
        dilation=tuple(dilation), output_padding=tuple(output_padding) or (0,) * dims,
        bias=draw(st.booleans()), seed=draw(st.integers(0, 2**32 - 1)))


def all_conv_problems(**bounds):
    return st.one_of(*[conv_problems(dims=dims, transposed=transposed, **bounds)
                       for dims in (1, 2) for transposed in (False, True)])


def tensors(*arrays, requires_grad=True):
    return tuple(None if a is None else tc.tensor(a, requires_grad=requires_grad) for a in arrays)


# ------------------------------------------------------------------------------------------------
# Gradients by central differences, with both kernel sets
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kernels", KERNEL_SETS)
@pytest.mark.parametrize("transposed", [False, True], ids=["conv", "conv_transpose"])
@pytest.mark.parametrize("dims", [1, 2])
@settings(max_examples=GRADCHECK_EXAMPLES)
@given(data=st.data())
def test_gradcheck(kernels, transposed, dims, data):
    problem = data.draw(conv_problems(dims=dims, transposed=transposed, max_size=4))
    x, w, b = tensors(*problem.arrays())
    op, kwargs = problem.tc_op(), problem.kwargs
    with tc.use_kernels(kernels):
        if b is None:
            assert gradcheck(lambda x, w: op(x, w, **kwargs), (x, w))
        else:
            assert gradcheck(lambda x, w, b: op(x, w, b, **kwargs), (x, w, b))


# ------------------------------------------------------------------------------------------------
# Shapes: the output-size formulas
# ------------------------------------------------------------------------------------------------


@given(problem=all_conv_problems(max_size=8))
def test_output_shape_follows_the_formula(problem):
    x, w, b = tensors(*problem.arrays(np.float32), requires_grad=False)
    y = problem.tc_op()(x, w, b, **problem.kwargs)
    assert y.shape == problem.expected_out_shape
    assert y.dtype == np.float32


def test_output_size_examples():
    """A few sizes worked out by hand: floor((n + 2p - d(k-1) - 1) / s) + 1."""
    x = tc.zeros(1, 1, 28, 28)
    assert F.conv2d(x, tc.zeros(6, 1, 5, 5)).shape == (1, 6, 24, 24)              # LeNet C1
    assert F.conv2d(x, tc.zeros(6, 1, 5, 5), padding=2).shape == (1, 6, 28, 28)
    assert F.conv2d(x, tc.zeros(6, 1, 3, 3), stride=2).shape == (1, 6, 13, 13)    # 25/2 + 1
    assert F.conv2d(x, tc.zeros(6, 1, 3, 3), dilation=3).shape == (1, 6, 22, 22)  # span 7
    assert F.conv2d(x, tc.zeros(6, 1, 4, 2), padding="same").shape == (1, 6, 28, 28)
    # the transposed convolution inverts the sizes: 13 -> 27, and 28 with output_padding=1
    y = tc.zeros(1, 6, 13, 13)
    assert F.conv_transpose2d(y, tc.zeros(6, 1, 3, 3), stride=2).shape == (1, 1, 27, 27)
    assert F.conv_transpose2d(y, tc.zeros(6, 1, 3, 3), stride=2,
                              output_padding=1).shape == (1, 1, 28, 28)
    assert F.conv_transpose_output_size(13, 3, 2, 0, 1, 1) == 28


# ------------------------------------------------------------------------------------------------
# Adjointness: conv_transpose2d is the adjoint of conv2d
# ------------------------------------------------------------------------------------------------


@given(problem=conv_problems(dims=2, max_size=7, string_padding=False))
def test_adjointness(problem):
    """<conv2d(X, W), Y> = <X, conv_transpose2d(Y, W)> with the same stride, padding, dilation and
    groups, and the output_padding that gives X's size back: (n + 2p - span) mod s."""
    x, w, _ = problem.arrays()
    rng = np.random.default_rng(problem.seed + 1)
    y = rng.standard_normal(problem.expected_out_shape)
    output_padding = tuple(
        (n + 2 * p - d * (k - 1) - 1) % s for n, p, d, k, s in
        zip(problem.size, problem.padding, problem.dilation, problem.kernel, problem.stride,
            strict=True))
    kwargs = dict(stride=problem.stride, padding=problem.padding, dilation=problem.dilation,
                  groups=problem.groups)
    forward = F.conv2d(tc.tensor(x), tc.tensor(w), **kwargs)
    adjoint = F.conv_transpose2d(tc.tensor(y), tc.tensor(w), output_padding=output_padding,
                                 **kwargs)
    assert adjoint.shape == x.shape
    left, right = float(np.sum(forward.numpy() * y)), float(np.sum(x * adjoint.numpy()))
    assert left == pytest.approx(right, rel=1e-10, abs=1e-10)


# ------------------------------------------------------------------------------------------------
# Against torch.nn.functional
# ------------------------------------------------------------------------------------------------

# (op, x_shape, w_shape, bias, kwargs)
TORCH_GRID = [
    ("conv2d", (2, 3, 7, 6), (4, 3, 3, 3), True, {}),
    ("conv2d", (2, 3, 7, 6), (4, 3, 3, 3), False, dict(stride=2, padding=1)),
    ("conv2d", (1, 2, 9, 8), (3, 2, 3, 2), True, dict(stride=(2, 1), padding=(1, 2),
                                                      dilation=(1, 2))),
    ("conv2d", (2, 2, 6, 7), (3, 2, 4, 3), True, dict(padding="same")),
    ("conv2d", (2, 2, 6, 7), (3, 2, 2, 3), True, dict(padding="same", dilation=(3, 2))),
    ("conv2d", (2, 2, 6, 7), (3, 2, 2, 3), False, dict(padding="valid", stride=(1, 3))),
    ("conv2d", (2, 4, 6, 6), (6, 2, 3, 3), True, dict(groups=2, padding=1)),
    ("conv2d", (1, 3, 6, 5), (3, 1, 3, 3), True, dict(groups=3, stride=2, dilation=2, padding=2)),
    ("conv2d", (3, 6, 5), (2, 3, 1, 1), True, {}),                        # unbatched
    ("conv1d", (2, 3, 11), (4, 3, 3), True, dict(stride=2, padding=1)),
    ("conv1d", (2, 4, 9), (4, 2, 4), False, dict(groups=2, dilation=2, padding="same")),
    ("conv1d", (3, 8), (2, 3, 3), True, dict(padding="valid")),            # unbatched
    ("conv_transpose2d", (2, 3, 4, 5), (3, 2, 3, 3), True, dict(stride=2)),
    ("conv_transpose2d", (2, 3, 4, 5), (3, 2, 3, 3), False, dict(stride=2, padding=1,
                                                                 output_padding=1)),
    ("conv_transpose2d", (1, 4, 3, 4), (4, 3, 2, 3), True, dict(stride=(3, 2), padding=(1, 0),
                                                                output_padding=(2, 1),
                                                                dilation=(2, 1), groups=2)),
    ("conv_transpose2d", (3, 4, 4), (3, 2, 3, 3), True, dict(dilation=2, padding=2)),  # unbatched
    ("conv_transpose1d", (2, 4, 5), (4, 3, 3), True, dict(stride=3, padding=1, output_padding=2,
                                                          groups=2)),
    ("conv_transpose1d", (3, 6), (3, 2, 4), False, dict(dilation=2)),      # unbatched
]


def _grid_id(case):
    name, x_shape, w_shape, bias, kwargs = case
    return f"{name}-x{x_shape}-w{w_shape}-{'bias' if bias else 'nobias'}-{kwargs}"


def assert_close(actual: np.ndarray, expected: np.ndarray, tolerance: float) -> None:
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=tolerance, atol=tolerance * scale)


def compare_with_torch(torch, tc_op, torch_op, arrays, kwargs, dtype) -> None:
    """Values and the gradients of every input agree with torch for L = <op(...), G>."""
    ours = tensors(*arrays)
    theirs = [None if a is None else torch.tensor(a, requires_grad=True) for a in arrays]
    y = tc_op(*ours, **kwargs)
    y_torch = torch_op(*theirs, **kwargs)
    assert y.shape == tuple(y_torch.shape)
    assert y.dtype == dtype
    assert_close(y.detach().numpy(), y_torch.detach().numpy(), TOLERANCE[dtype])
    g = np.random.default_rng(7).standard_normal(y.shape).astype(dtype)
    (y * tc.tensor(g)).sum().backward()
    (y_torch * torch.tensor(g)).sum().backward()
    for mine, torch_input in zip(ours, theirs, strict=True):
        if mine is not None:
            assert_close(mine.grad.numpy(), torch_input.grad.numpy(), TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", TORCH_GRID, ids=_grid_id)
def test_matches_torch(torch, case, dtype):
    name, x_shape, w_shape, has_bias, kwargs = case
    rng = np.random.default_rng(0)
    if name.startswith("conv_transpose"):  # weight (C_in, C_out/groups, k...)
        c_out = w_shape[1] * kwargs.get("groups", 1)
    else:  # weight (C_out, C_in/groups, k...)
        c_out = w_shape[0]
    x, w = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
    arrays = (x, w, rng.standard_normal(c_out).astype(dtype) if has_bias else None)
    compare_with_torch(torch, getattr(F, name), getattr(torch.nn.functional, name), arrays, kwargs,
                       dtype)


@settings(max_examples=GRADCHECK_EXAMPLES)
@given(problem=all_conv_problems(max_size=6))
def test_matches_torch_on_drawn_configurations(torch, problem):
    compare_with_torch(torch, problem.tc_op(), getattr(torch.nn.functional, problem.name),
                       problem.arrays(), problem.kwargs, np.float64)


# ------------------------------------------------------------------------------------------------
# The two kernel sets give the same results
# ------------------------------------------------------------------------------------------------


@given(problem=all_conv_problems(max_size=7))
def test_reference_and_cpu_kernels_agree(problem):
    results = {}
    for kernels in KERNEL_SETS:
        x, w, b = tensors(*problem.arrays())
        with tc.use_kernels(kernels):
            y = problem.tc_op()(x, w, b, **problem.kwargs)
            (y * y).sum().backward()
        results[kernels] = [y.detach().numpy()] + [t.grad.numpy() for t in (x, w, b)
                                                   if t is not None]
    for ours, theirs in zip(results["reference"], results["cpu"], strict=True):
        assert_close(ours, theirs, 1e-12)


# ------------------------------------------------------------------------------------------------
# Validation: every argument is checked before any kernel runs
# ------------------------------------------------------------------------------------------------


def make_spy_kernels() -> types.ModuleType:
    """A kernel set that records every call, then runs the reference kernel."""
    spy = types.ModuleType("spy_kernels")
    spy.calls = []
    for name in CONTRACT_FUNCTIONS:
        def kernel(*args, _name=name, **kwargs):
            spy.calls.append(_name)
            return getattr(reference, _name)(*args, **kwargs)
        setattr(spy, name, kernel)
    return spy


@pytest.fixture
def spy():
    spy = make_spy_kernels()
    tc.register_kernels("spy", spy)
    with tc.use_kernels("spy"):
        yield spy


def z(*shape, dtype=np.float32):
    return tc.tensor(np.zeros(shape, dtype=dtype))


# (call, exception, message regex); every call below is wrong in exactly one way
BAD_CALLS = {
    "input rank": (lambda: F.conv2d(z(4, 4), z(2, 1, 3, 3)), ValueError,
                   r"conv2d: expected input to be 3-D or 4-D .*got shape \(4, 4\)"),
    "weight rank": (lambda: F.conv2d(z(1, 1, 4, 4), z(1, 3, 3)), ValueError,
                    r"conv2d: expected weight to be 4-D"),
    "conv1d input rank": (lambda: F.conv1d(z(1, 1, 4, 4), z(1, 1, 3)), ValueError,
                          r"conv1d: expected input to be 2-D or 3-D"),
    "channel mismatch": (lambda: F.conv2d(z(2, 4, 8, 8), z(8, 3, 5, 5)), ValueError,
                         "^" + re.escape("conv2d: input has 4 channels but weight expects 3 "
                                         "(weight shape (8, 3, 5, 5), groups=1)") + "$"),
    "groups do not divide input channels": (
        lambda: F.conv2d(z(1, 3, 5, 5), z(4, 1, 3, 3), groups=2), ValueError,
        r"conv2d: input channels \(3\) must be divisible by groups \(2\)"),
    "groups do not divide output channels": (
        lambda: F.conv2d(z(1, 4, 5, 5), z(3, 2, 3, 3), groups=2), ValueError,
        r"conv2d: output channels \(3\) must be divisible by groups \(2\)"),
    "zero groups": (lambda: F.conv2d(z(1, 4, 5, 5), z(3, 2, 3, 3), groups=0), ValueError,
                    r"conv2d: groups must be a positive int"),
    "zero stride": (lambda: F.conv2d(z(1, 1, 5, 5), z(1, 1, 3, 3), stride=0), ValueError,
                    r"conv2d: stride must be positive, got \(0, 0\)"),
    "negative stride": (lambda: F.conv2d(z(1, 1, 5, 5), z(1, 1, 3, 3), stride=(1, -2)),
                        ValueError, r"conv2d: stride must be positive"),
    "zero dilation": (lambda: F.conv2d(z(1, 1, 5, 5), z(1, 1, 3, 3), dilation=(0, 1)), ValueError,
                      r"conv2d: dilation must be positive"),
    "stride of the wrong length": (lambda: F.conv2d(z(1, 1, 5, 5), z(1, 1, 3, 3), stride=(1, 1, 1)),
                                   ValueError, r"conv2d: stride must be an int or a tuple of 2"),
    "negative padding": (lambda: F.conv2d(z(1, 1, 5, 5), z(1, 1, 3, 3), padding=-1), ValueError,
                         r"conv2d: padding must be non-negative"),
    "unknown padding string": (lambda: F.conv2d(z(1, 1, 5, 5), z(1, 1, 3, 3), padding="full"),
                               ValueError, r"conv2d: padding must be .*'same', got 'full'"),
    "same padding with stride 2": (
        lambda: F.conv2d(z(1, 1, 5, 5), z(1, 1, 3, 3), padding="same", stride=2), ValueError,
        r"conv2d: padding='same' is not supported for strided convolutions"),
    "empty output": (lambda: F.conv2d(z(1, 1, 3, 3), z(1, 1, 5, 5)), ValueError,
                     r"conv2d: the kernel does not fit in the padded input"),
    "empty output with dilation": (lambda: F.conv2d(z(1, 1, 6, 6), z(1, 1, 3, 3), dilation=3),
                                   ValueError, r"conv2d: the kernel does not fit"),
    "int dtype": (lambda: F.conv2d(z(1, 1, 5, 5, dtype=np.int64), z(1, 1, 3, 3, dtype=np.int64)),
                  TypeError, r"conv2d: input must be float32 or float64, got int64"),
    "float32 input, float64 weight": (
        lambda: F.conv2d(z(1, 1, 5, 5), z(1, 1, 3, 3, dtype=np.float64)), TypeError,
        r"conv2d: input, weight and bias must have the same dtype"),
    "bias of the wrong shape": (lambda: F.conv2d(z(1, 1, 5, 5), z(2, 1, 3, 3), z(3)), ValueError,
                                r"conv2d: bias must have shape \(2,\) .*got \(3,\)"),
    "bias of another dtype": (lambda: F.conv2d(z(1, 1, 5, 5), z(2, 1, 3, 3),
                                               z(2, dtype=np.float64)), TypeError,
                              r"conv2d: input, weight and bias must have the same dtype"),
    "conv1d zero stride": (lambda: F.conv1d(z(1, 1, 5), z(1, 1, 3), stride=0), ValueError,
                           r"conv1d: stride"),
    "conv1d zero stride, string padding": (
        lambda: F.conv1d(z(1, 1, 5), z(1, 1, 3), stride=0, padding="valid"), ValueError,
        r"conv1d: stride"),
    "conv1d same padding with stride 2": (
        lambda: F.conv1d(z(1, 1, 5), z(1, 1, 3), stride=2, padding="same"), ValueError,
        r"conv1d: padding='same' is not supported"),
    "conv1d channel mismatch": (lambda: F.conv1d(z(1, 2, 5), z(1, 3, 3)), ValueError,
                                r"conv1d: input has 2 channels but weight expects 3"),
    "transposed output_padding equal to stride": (
        lambda: F.conv_transpose2d(z(1, 1, 4, 4), z(1, 1, 3, 3), stride=2, output_padding=2),
        ValueError, r"conv_transpose2d: output_padding"),
    "transposed output_padding not below stride, dilation 2": (
        lambda: F.conv_transpose2d(z(1, 1, 4, 4), z(1, 1, 3, 3), dilation=2, output_padding=1),
        ValueError, r"conv_transpose2d: output_padding"),
    "transposed channel mismatch": (
        lambda: F.conv_transpose2d(z(1, 3, 4, 4), z(2, 1, 3, 3)), ValueError,
        r"conv_transpose2d: input has 3 channels but weight expects 2"),
    "transposed groups do not divide channels": (
        lambda: F.conv_transpose2d(z(1, 3, 4, 4), z(3, 1, 3, 3), groups=2), ValueError,
        r"conv_transpose2d: input channels \(3\) must be divisible by groups \(2\)"),
    "transposed negative padding": (
        lambda: F.conv_transpose2d(z(1, 1, 4, 4), z(1, 1, 3, 3), padding=-1), ValueError,
        r"conv_transpose2d: padding must be non-negative"),
    "transposed zero stride": (
        lambda: F.conv_transpose2d(z(1, 1, 4, 4), z(1, 1, 3, 3), stride=0), ValueError,
        r"conv_transpose2d: stride must be positive"),
    "transposed empty output": (
        lambda: F.conv_transpose2d(z(1, 1, 1, 1), z(1, 1, 1, 1), padding=1), ValueError,
        r"conv_transpose2d: the output would be empty"),
    "transposed bias of the wrong shape": (
        lambda: F.conv_transpose2d(z(1, 2, 4, 4), z(2, 3, 3, 3), z(2)), ValueError,
        r"conv_transpose2d: bias must have shape \(3,\)"),
    "transposed float64 weight": (
        lambda: F.conv_transpose2d(z(1, 1, 4, 4), z(1, 1, 3, 3, dtype=np.float64)), TypeError,
        r"conv_transpose2d: input, weight and bias must have the same dtype"),
    "conv_transpose1d output_padding": (
        lambda: F.conv_transpose1d(z(1, 1, 4), z(1, 1, 3), stride=2, output_padding=2),
        ValueError, r"conv_transpose1d: output_padding"),
    "conv_transpose1d input rank": (
        lambda: F.conv_transpose1d(z(1, 1, 4, 4), z(1, 1, 3)), ValueError,
        r"conv_transpose1d: expected input to be 2-D or 3-D"),
}


@pytest.mark.parametrize("bad_call", list(BAD_CALLS))
def test_bad_arguments_are_rejected_before_any_kernel_runs(spy, bad_call):
    call, exception, message = BAD_CALLS[bad_call]
    with pytest.raises(exception, match=message):
        call()
    assert spy.calls == []


def test_the_spy_sees_valid_calls(spy):
    """The control for the test above: a valid call does reach the spy's kernels."""
    x = tc.tensor(np.ones((1, 1, 4, 4), dtype=np.float32), requires_grad=True)
    F.conv2d(x, z(1, 1, 3, 3)).sum().backward()
    assert spy.calls == ["conv2d_forward", "conv2d_backward_input"]
    spy.calls.clear()
    F.conv_transpose2d(z(1, 1, 2, 2), z(1, 1, 3, 3))
    assert spy.calls == ["conv2d_backward_input"]


# ------------------------------------------------------------------------------------------------
# The kernel registry
# ------------------------------------------------------------------------------------------------


def test_register_kernels_rejects_a_module_missing_contract_functions():
    incomplete = types.ModuleType("incomplete_kernels")
    incomplete.conv2d_forward = reference.conv2d_forward
    with pytest.raises(TypeError, match=r"kernel set 'incomplete' .*is missing \[.*"
                                        r"'conv2d_backward_input'.*"):
        tc.register_kernels("incomplete", incomplete)
    with pytest.raises(ValueError, match="unknown kernel set 'incomplete'"):
        tc.set_kernels("incomplete")


def test_set_kernels_rejects_an_unknown_name_and_lists_known_sets():
    before = tc.get_kernels_name()
    with pytest.raises(ValueError, match=r"set_kernels: unknown kernel set 'nope'; known: "
                                         r"\[.*'cpu'.*'reference'.*\]"):
        tc.set_kernels("nope")
    assert tc.get_kernels_name() == before


def test_use_kernels_restores_the_previous_set_even_when_the_block_raises():
    before = tc.get_kernels_name()
    other = "reference" if before != "reference" else "cpu"
    with tc.use_kernels(other):
        assert tc.get_kernels_name() == other
        with tc.use_kernels(before):
            assert tc.get_kernels_name() == before
        assert tc.get_kernels_name() == other
    assert tc.get_kernels_name() == before
    with pytest.raises(KeyError), tc.use_kernels(other):
        assert tc.get_kernels_name() == other
        raise KeyError("inside the block")
    assert tc.get_kernels_name() == before
    with pytest.raises(ValueError, match="unknown kernel set"), tc.use_kernels("nope"):
        pass  # pragma: no cover - never entered
    assert tc.get_kernels_name() == before


def test_the_default_cpu_kernel_set_is_numba():
    from tinyconv.backend import kernels_for
    from tinyconv.kernels import cpu
    with tc.use_kernels("cpu"):
        assert kernels_for("cpu") is cpu
    with tc.use_kernels("reference"):
        assert kernels_for("cpu") is reference


def test_a_registered_set_is_what_the_ops_call(spy):
    from tinyconv.backend import kernels_for
    assert kernels_for("cpu") is spy
    F.conv1d(z(1, 1, 5), z(1, 1, 3))
    assert spy.calls == ["conv2d_forward"]
