"""The Numba kernels (``tinyconv.kernels.cpu``) against the reference, and the contract's argument
checks for both kernel sets.

Every option is drawn by hypothesis, with the public strategies of ``tinyconv.testing.strategies``
(bounds in ``helpers.py`` and ``POOL_BOUNDS`` below): batch, channels, groups, kernel, stride,
per-side padding, dilation, input size, ceil_mode, count_include_pad, float32 and float64, and the
memory layout of the inputs (C order, Fortran order, a strided view, negative strides). Results
must match the reference to the dtype's rounding (``helpers.assert_matches``). Max pooling is a
selection, so its values and indices must match exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinyconv.kernels import contract, cpu, reference
from tinyconv.testing.strategies import LAYOUTS, pool2d_cases, with_layout

from .helpers import assert_matches, conv_cases, threads_always_split

KERNEL_SETS = [pytest.param(reference, id="reference"), pytest.param(cpu, id="cpu")]

#: Pooling problems: windows up to 4×4, strides up to 3, dilations up to 3 (max pooling only),
#: padding up to half the window, ceil_mode, count_include_pad, images up to 12×12.
POOL_BOUNDS = {"max_batch": 3, "max_channels": 6, "max_size": 12, "max_kernel": 4,
               "max_stride": 3, "max_dilation": 3}


def pool_2x2_cases():
    """2×2 windows with stride 2, the case with written-out kernels: odd and even sizes (an
    uncovered last row/column, or a ceil_mode overhang, which must leave the fast path). Padded
    2×2 windows (the general kernels) come with the other pooling problems."""
    return pool2d_cases(kernel_sizes=((2, 2),), non_overlapping=True, max_stride=2,
                        max_batch=3, max_channels=5, max_size=13)


# ------------------------------------------------------------------------------------------------
# Convolution: cpu == reference
# ------------------------------------------------------------------------------------------------


@given(conv_cases())
def test_conv2d_forward_matches_reference(case):
    x_before, w_before = case.x.copy(), case.w.copy()
    y = cpu.conv2d_forward(case.x, case.w, *case.options)
    assert_matches(y, reference.conv2d_forward(case.x, case.w, *case.options), case.x, case.w)
    np.testing.assert_array_equal(case.x, x_before)  # inputs are never written
    np.testing.assert_array_equal(case.w, w_before)


@given(conv_cases())
def test_conv2d_backward_input_matches_reference(case):
    grad_x = cpu.conv2d_backward_input(case.grad_y, case.w, case.x.shape, *case.options)
    assert_matches(grad_x,
                   reference.conv2d_backward_input(case.grad_y, case.w, case.x.shape,
                                                   *case.options),
                   case.grad_y, case.w)


@given(conv_cases())
def test_conv2d_backward_weight_matches_reference(case):
    grad_w = cpu.conv2d_backward_weight(case.x, case.grad_y, case.w.shape, *case.options)
    assert_matches(grad_w,
                   reference.conv2d_backward_weight(case.x, case.grad_y, case.w.shape,
                                                    *case.options),
                   case.x, case.grad_y)


# ------------------------------------------------------------------------------------------------
# Pooling: cpu == reference
# ------------------------------------------------------------------------------------------------


def _check_max_pool_forward(case):
    options = case.config.max_pool_kwargs
    y, indices = cpu.max_pool2d_forward(case.x, **options)
    expected_y, expected_indices = reference.max_pool2d_forward(case.x, **options)
    assert y.dtype == case.x.dtype and indices.dtype == np.int64
    np.testing.assert_array_equal(y, expected_y)
    np.testing.assert_array_equal(indices, expected_indices)


def _check_avg_pool(case):
    options = case.config.avg_pool_kwargs
    assert_matches(cpu.avg_pool2d_forward(case.x, **options),
                   reference.avg_pool2d_forward(case.x, **options), case.x)
    assert_matches(cpu.avg_pool2d_backward(case.grad_y, case.x.shape, **options),
                   reference.avg_pool2d_backward(case.grad_y, case.x.shape, **options),
                   case.grad_y)


@given(pool2d_cases(**POOL_BOUNDS))
def test_max_pool2d_forward_matches_reference_exactly(case):
    _check_max_pool_forward(case)


@given(pool2d_cases(**POOL_BOUNDS), st.data())
def test_max_pool2d_backward_matches_reference(case, data):
    if data.draw(st.booleans(), label="indices from the forward pass"):
        _, indices = cpu.max_pool2d_forward(case.x, **case.config.max_pool_kwargs)
    else:  # any valid offsets, with repeats: several windows routing to one element
        rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
        plane = case.x.shape[2] * case.x.shape[3]
        indices = rng.integers(0, plane, size=case.config.y_shape, dtype=np.int64)
    indices = with_layout(indices, data.draw(st.sampled_from(LAYOUTS), label="indices layout"))
    assert_matches(cpu.max_pool2d_backward(case.grad_y, indices, case.x.shape),
                   reference.max_pool2d_backward(case.grad_y, indices, case.x.shape), case.grad_y)


@given(pool2d_cases(**POOL_BOUNDS, allow_dilation=False))
def test_avg_pool2d_matches_reference(case):
    _check_avg_pool(case)


@given(pool_2x2_cases())
def test_avg_pool2d_2x2_matches_reference(case):
    _check_avg_pool(case)


@given(pool_2x2_cases())
def test_max_pool2d_2x2_matches_reference_exactly(case):
    _check_max_pool_forward(case)


@given(pool_2x2_cases())
def test_avg_pool2d_2x2_split_over_threads_matches_reference(case):
    """The 2×2 kernels run over ranges of planes (``run_jobs``); tiny test inputs stay on one
    thread, so force the split to check that every plane is written exactly once."""
    with threads_always_split():
        _check_avg_pool(case)


# ------------------------------------------------------------------------------------------------
# Max-pool ties, -inf and NaN, for both kernel sets
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kernels", KERNEL_SETS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool2d_ties_go_to_the_first_index(kernels, dtype):
    x = np.zeros((1, 1, 4, 5), dtype=dtype)  # every element ties
    y, indices = kernels.max_pool2d_forward(x, (3, 2), (1, 2), (1, 1, 1, 0), (1, 1), False)
    # Each window's first real element in row-major order: its top-left tap, moved past padding.
    expected = np.array([[max(oh - 1, 0) * 5 + max(2 * ow - 1, 0) for ow in range(3)]
                         for oh in range(4)])  # (H_out, W_out) = (4, 3)
    np.testing.assert_array_equal(indices[0, 0], expected)
    np.testing.assert_array_equal(y, 0)


@pytest.mark.parametrize("kernels", KERNEL_SETS)
def test_max_pool2d_all_minus_infinity_picks_the_first_real_element(kernels):
    """Padding is -inf too, but it never competes: an all -inf window still names a real element."""
    x = np.full((1, 1, 3, 3), -np.inf)
    y, indices = kernels.max_pool2d_forward(x, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), False)
    # Windows start at rows/columns -1 and 1: their first real elements are (0, 0), (0, 1), ...
    np.testing.assert_array_equal(indices[0, 0], [[0, 1], [3, 4]])
    assert np.all(y == -np.inf)


@pytest.mark.parametrize("kernels", KERNEL_SETS)
def test_max_pool2d_propagates_nan(kernels):
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    x[0, 0, 0, 1] = np.nan
    y, indices = kernels.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), False)
    assert np.isnan(y[0, 0, 0, 0]) and indices[0, 0, 0, 0] == 1
    np.testing.assert_array_equal(y[0, 0].ravel()[1:], [7, 13, 15])


@pytest.mark.parametrize("kernels", KERNEL_SETS)
def test_empty_batch(kernels):
    x = np.zeros((0, 2, 5, 5), dtype=np.float32)
    w = np.zeros((4, 2, 3, 3), dtype=np.float32)
    options = ((1, 1), (0, 0, 0, 0), (1, 1), 1)
    assert kernels.conv2d_forward(x, w, *options).shape == (0, 4, 3, 3)
    grad_y = np.zeros((0, 4, 3, 3), dtype=np.float32)
    assert kernels.conv2d_backward_input(grad_y, w, x.shape, *options).shape == x.shape
    np.testing.assert_array_equal(kernels.conv2d_backward_weight(x, grad_y, w.shape, *options), 0)
    y, indices = kernels.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), False)
    assert kernels.max_pool2d_backward(y, indices, x.shape).shape == x.shape


# ------------------------------------------------------------------------------------------------
# Validation: bad calls raise before any loop runs, naming the op (both kernel sets)
# ------------------------------------------------------------------------------------------------

F32 = np.float32
NO_OPTIONS = ((1, 1), (0, 0, 0, 0), (1, 1), 1)


def _x(shape=(2, 3, 6, 6), dtype=F32):
    return np.zeros(shape, dtype=dtype)


CONV_FORWARD_ERRORS = [
    # (x, w, (stride, padding, dilation, groups), error, message fragment)
    pytest.param(_x((3, 6, 6)), _x((4, 3, 3, 3)), NO_OPTIONS, ValueError, "4-D", id="rank-x"),
    pytest.param(_x(), _x((4, 3, 3)), NO_OPTIONS, ValueError, "4-D", id="rank-w"),
    pytest.param(_x((2, 4, 6, 6)), _x((4, 3, 3, 3)), NO_OPTIONS, ValueError,
                 "input has 4 channels but weight expects 3", id="channels"),
    pytest.param(_x((2, 4, 6, 6)), _x((3, 2, 3, 3)), ((1, 1), (0, 0, 0, 0), (1, 1), 3),
                 ValueError, "divisible by groups", id="groups"),
    pytest.param(_x(), _x((4, 3, 3, 3)), ((0, 1), (0, 0, 0, 0), (1, 1), 1), ValueError, "stride",
                 id="zero-stride"),
    pytest.param(_x(), _x((4, 3, 3, 3)), ((1, 1), (-1, 0, 0, 0), (1, 1), 1), ValueError,
                 "padding", id="negative-padding"),
    pytest.param(_x(), _x((4, 3, 3, 3)), ((1, 1), (0, 0, 0, 0), (0, 1), 1), ValueError,
                 "dilation", id="zero-dilation"),
    pytest.param(_x((2, 3, 2, 6)), _x((4, 3, 3, 3)), NO_OPTIONS, ValueError,
                 "does not fit", id="empty-output"),
    pytest.param(_x(), _x((4, 3, 3, 3)), ((1, 1), (0, 0, 0, 0), (3, 1), 1), ValueError,
                 "does not fit", id="dilated-empty-output"),
    pytest.param(np.zeros((2, 3, 6, 6), np.int32), np.zeros((4, 3, 3, 3), np.int32), NO_OPTIONS,
                 TypeError, "float32 or float64", id="int-dtype"),
    pytest.param(_x(), _x((4, 3, 3, 3), np.float64), NO_OPTIONS, TypeError, "share one dtype",
                 id="mixed-dtypes"),
]


@pytest.mark.parametrize("kernels", KERNEL_SETS)
@pytest.mark.parametrize("x, w, options, error, fragment", CONV_FORWARD_ERRORS)
def test_conv2d_forward_rejects(kernels, x, w, options, error, fragment):
    with pytest.raises(error, match="conv2d_forward") as info:
        kernels.conv2d_forward(x, w, *options)
    assert fragment in str(info.value)


@pytest.mark.parametrize("kernels", KERNEL_SETS)
@pytest.mark.parametrize("x, w, options, error, fragment", CONV_FORWARD_ERRORS)
def test_conv2d_backward_rejects_the_same_configurations(kernels, x, w, options, error, fragment):
    """The backward kernels check the same configuration (grad_y in the place of the output,
    with x's dtype next to w and w's dtype next to x, so that mixed dtypes stay mixed)."""
    y_like = np.zeros((2, 4, 4, 4), dtype=x.dtype)
    with pytest.raises(error, match="conv2d_backward_input"):
        kernels.conv2d_backward_input(y_like, w, x.shape, *options)
    y_like = np.zeros((2, 4, 4, 4), dtype=w.dtype)
    with pytest.raises(error, match="conv2d_backward_weight"):
        kernels.conv2d_backward_weight(x, y_like, w.shape, *options)


@pytest.mark.parametrize("kernels", KERNEL_SETS)
def test_conv2d_backward_rejects_grad_y_of_the_wrong_shape(kernels):
    x, w = _x(), _x((4, 3, 3, 3))
    wrong = _x((2, 4, 4, 5))  # the output is (2, 4, 4, 4)
    with pytest.raises(ValueError, match="conv2d_backward_input: grad_y has shape"):
        kernels.conv2d_backward_input(wrong, w, x.shape, *NO_OPTIONS)
    with pytest.raises(ValueError, match="conv2d_backward_weight: grad_y has shape"):
        kernels.conv2d_backward_weight(x, wrong, w.shape, *NO_OPTIONS)
    with pytest.raises(TypeError, match="conv2d_backward_input"):
        kernels.conv2d_backward_input(_x((2, 4, 4, 4), np.float64), w, x.shape, *NO_OPTIONS)
    with pytest.raises(TypeError, match="conv2d_backward_weight"):
        kernels.conv2d_backward_weight(x, _x((2, 4, 4, 4), np.int64), w.shape, *NO_OPTIONS)


POOL_ERRORS = [
    # (x, kernel, stride, padding, dilation, error, message fragment)
    pytest.param(_x((3, 6, 6)), (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), ValueError, "4-D",
                 id="rank"),
    pytest.param(_x(), (2, 2), (0, 2), (0, 0, 0, 0), (1, 1), ValueError, "stride",
                 id="zero-stride"),
    pytest.param(_x(), (0, 2), (1, 1), (0, 0, 0, 0), (1, 1), ValueError, "kernel_size",
                 id="zero-kernel"),
    pytest.param(_x(), (2, 2), (2, 2), (0, 0, -1, 0), (1, 1), ValueError, "padding",
                 id="negative-padding"),
    pytest.param(_x(), (3, 3), (1, 1), (0, 2, 0, 0), (1, 1), ValueError, "at most half",
                 id="padding-over-half"),
    pytest.param(_x((2, 3, 2, 6)), (3, 3), (1, 1), (0, 0, 0, 0), (1, 1), ValueError,
                 "does not fit", id="empty-output"),
    pytest.param(np.zeros((2, 3, 6, 6), np.int64), (2, 2), (2, 2), (0, 0, 0, 0), (1, 1),
                 TypeError, "float32 or float64", id="int-dtype"),
]


@pytest.mark.parametrize("kernels", KERNEL_SETS)
@pytest.mark.parametrize("x, kernel, stride, padding, dilation, error, fragment", POOL_ERRORS)
def test_pool2d_rejects(kernels, x, kernel, stride, padding, dilation, error, fragment):
    with pytest.raises(error, match="max_pool2d_forward") as info:
        kernels.max_pool2d_forward(x, kernel, stride, padding, dilation, False)
    assert fragment in str(info.value)
    with pytest.raises(error, match="avg_pool2d_forward"):
        kernels.avg_pool2d_forward(x, kernel, stride, padding, False, True)
    grad_y = np.zeros((2, 3, 3, 3), dtype=x.dtype)
    with pytest.raises(error, match="avg_pool2d_backward"):
        kernels.avg_pool2d_backward(grad_y, x.shape, kernel, stride, padding, False, True)


@pytest.mark.parametrize("kernels", KERNEL_SETS)
def test_max_pool2d_rejects_a_dilated_window_that_misses_the_input(kernels):
    # Width 1, kernel 2, dilation 2, padding 1: the first window's taps are at -1 and 1.
    with pytest.raises(ValueError, match="max_pool2d_forward: window 0 along W covers no input"):
        kernels.max_pool2d_forward(_x((1, 1, 4, 1)), (1, 2), (1, 1), (0, 0, 1, 1), (1, 2), False)


@pytest.mark.parametrize("kernels", KERNEL_SETS)
def test_pool2d_backward_rejects_inconsistent_arguments(kernels):
    x_shape = (2, 3, 6, 6)
    grad_y = _x((2, 3, 3, 3))
    indices = np.zeros((2, 3, 3, 3), dtype=np.int64)
    with pytest.raises(ValueError, match="avg_pool2d_backward: grad_y has shape"):
        kernels.avg_pool2d_backward(_x((2, 3, 3, 4)), x_shape, (2, 2), (2, 2), (0, 0, 0, 0),
                                    False, True)
    with pytest.raises(ValueError, match="max_pool2d_backward: indices has shape"):
        kernels.max_pool2d_backward(grad_y, indices[:, :, :2], x_shape)
    with pytest.raises(ValueError, match="max_pool2d_backward: grad_y has shape"):
        kernels.max_pool2d_backward(grad_y, indices, (2, 4, 6, 6))
    with pytest.raises(ValueError, match="max_pool2d_backward: x_shape must be 4-D"):
        kernels.max_pool2d_backward(grad_y, indices, (3, 6, 6))
    with pytest.raises(TypeError, match="max_pool2d_backward: indices must be int64"):
        kernels.max_pool2d_backward(grad_y, indices.astype(np.int32), x_shape)
    with pytest.raises(TypeError, match="max_pool2d_backward: grad_y must be float32"):
        kernels.max_pool2d_backward(grad_y.astype(np.int32), indices, x_shape)
    for bad_index in (-1, 36):  # a 6x6 plane has offsets 0..35
        out_of_range = indices.copy()
        out_of_range[1, 2, 0, 1] = bad_index
        with pytest.raises(ValueError, match=r"max_pool2d_backward: indices must lie in \[0,"):
            kernels.max_pool2d_backward(grad_y, out_of_range, x_shape)


def test_both_sets_export_the_contract():
    """The reference is exactly the contract; the CPU set adds its controls (``force_plan``,
    ``warmup``, ...) and the optional fused batch norm."""
    assert sorted(reference.__all__) == sorted(contract.CONTRACT_FUNCTIONS)
    assert set(contract.CONTRACT_FUNCTIONS) <= set(cpu.__all__)
    for name in cpu.__all__:
        assert hasattr(cpu, name)
