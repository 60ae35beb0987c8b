"""The CUDA kernels, run on the CPU by the emulation, against the reference and the identities.

The same properties as the Numba kernels' (``tests/kernels/``): problems drawn by
``tinyconv.testing.strategies`` (every option, float32 and float64, four memory layouts), each
result compared with ``tinyconv.kernels.reference`` by ``tests/kernels/helpers.assert_matches``,
every convolution plan forced in turn; and every identity of ``tinyconv.testing``, which
is how a course grades a student's kernel set.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinyconv import testing
from tinyconv.kernels import reference
from tinyconv.kernels.cuda import launch
from tinyconv.testing.strategies import LAYOUTS, pool2d_cases, with_layout

from ..kernels.helpers import assert_matches, conv_cases

#: Pooling problems as in tests/kernels/test_cpu_kernels.py.
POOL_BOUNDS = {"max_batch": 3, "max_channels": 6, "max_size": 12, "max_kernel": 4,
               "max_stride": 3, "max_dilation": 3}


@pytest.mark.parametrize("plan", launch.PLANS)
@given(case=conv_cases())
def test_convolution_matches_reference(emulated, plan, case):
    x, w, grad_y, options = case.x, case.w, case.grad_y, case.options
    x_before = x.copy()
    with launch.force_plan(plan):
        y = emulated.conv2d_forward(x, w, *options)
        grad_x = emulated.conv2d_backward_input(grad_y, w, x.shape, *options)
        grad_w = emulated.conv2d_backward_weight(x, grad_y, w.shape, *options)
    assert_matches(y, reference.conv2d_forward(x, w, *options), x, w)
    assert_matches(grad_x, reference.conv2d_backward_input(grad_y, w, x.shape, *options),
                   grad_y, w)
    assert_matches(grad_w, reference.conv2d_backward_weight(x, grad_y, w.shape, *options),
                   x, grad_y)
    np.testing.assert_array_equal(x, x_before)  # inputs are never written


@given(case=pool2d_cases(**POOL_BOUNDS))
def test_max_pool2d_forward_matches_reference_exactly(emulated, case):
    y, indices = emulated.max_pool2d_forward(case.x, **case.config.max_pool_kwargs)
    expected_y, expected_indices = reference.max_pool2d_forward(case.x,
                                                                **case.config.max_pool_kwargs)
    assert y.dtype == case.x.dtype and indices.dtype == np.int64
    np.testing.assert_array_equal(y, expected_y)
    np.testing.assert_array_equal(indices, expected_indices)


@given(case=pool2d_cases(**POOL_BOUNDS), data=st.data())
def test_max_pool2d_backward_matches_reference(emulated, case, data):
    if data.draw(st.booleans(), label="indices from the forward pass"):
        _, indices = reference.max_pool2d_forward(case.x, **case.config.max_pool_kwargs)
    else:  # any valid offsets, with repeats: several windows routing to one element
        rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
        plane = case.x.shape[2] * case.x.shape[3]
        indices = rng.integers(0, plane, size=case.config.y_shape, dtype=np.int64)
    indices = with_layout(indices, data.draw(st.sampled_from(LAYOUTS), label="indices layout"))
    assert_matches(emulated.max_pool2d_backward(case.grad_y, indices, case.x.shape),
                   reference.max_pool2d_backward(case.grad_y, indices, case.x.shape), case.grad_y)


@given(case=pool2d_cases(**POOL_BOUNDS, allow_dilation=False))
def test_avg_pool2d_matches_reference(emulated, case):
    options = case.config.avg_pool_kwargs
    assert_matches(emulated.avg_pool2d_forward(case.x, **options),
                   reference.avg_pool2d_forward(case.x, **options), case.x)
    assert_matches(emulated.avg_pool2d_backward(case.grad_y, case.x.shape, **options),
                   reference.avg_pool2d_backward(case.grad_y, case.x.shape, **options),
                   case.grad_y)


@pytest.mark.parametrize("name", testing.identities.IDENTITY_NAMES)
def test_identity_holds(emulated, name):
    testing.run_identity(name, emulated, reference=reference)


# ---- the corners of max pooling -----------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool2d_ties_go_to_the_first_index(emulated, dtype):
    x = np.zeros((1, 1, 4, 5), dtype=dtype)  # every element ties
    y, indices = emulated.max_pool2d_forward(x, (3, 2), (1, 2), (1, 1, 1, 0), (1, 1), False)
    expected = np.array([[max(oh - 1, 0) * 5 + max(2 * ow - 1, 0) for ow in range(3)]
                         for oh in range(4)])
    np.testing.assert_array_equal(indices[0, 0], expected)
    np.testing.assert_array_equal(y, 0)


def test_max_pool2d_all_minus_infinity_and_nan(emulated):
    x = np.full((1, 1, 3, 3), -np.inf)
    y, indices = emulated.max_pool2d_forward(x, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), False)
    np.testing.assert_array_equal(indices[0, 0], [[0, 1], [3, 4]])  # padding never wins
    assert np.all(y == -np.inf)
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    x[0, 0, 0, 1] = np.nan
    y, indices = emulated.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), False)
    assert np.isnan(y[0, 0, 0, 0]) and indices[0, 0, 0, 0] == 1  # NaN propagates
    np.testing.assert_array_equal(y[0, 0].ravel()[1:], [7, 13, 15])


def test_results_are_the_same_every_run(emulated):
    """No atomics: overlapping max-pool windows and a strided convolution's input gradient give
    bit-identical results run after run (and max pooling's equals the reference bit for bit,
    having added in the same order)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 9, 9)).astype(np.float32)
    y, indices = emulated.max_pool2d_forward(x, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), False)
    grad_y = rng.standard_normal(y.shape).astype(np.float32)
    first = emulated.max_pool2d_backward(grad_y, indices, x.shape)
    np.testing.assert_array_equal(first, emulated.max_pool2d_backward(grad_y, indices, x.shape))
    np.testing.assert_array_equal(first, reference.max_pool2d_backward(grad_y, indices, x.shape))
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    options = ((2, 2), (1, 1, 1, 1), (1, 1), 1)
    grad_y = rng.standard_normal((2, 4, 5, 5)).astype(np.float32)
    for plan in ("direct", "im2col"):
        with launch.force_plan(plan):
            a = emulated.conv2d_backward_input(grad_y, w, x.shape, *options)
            b = emulated.conv2d_backward_input(grad_y, w, x.shape, *options)
        np.testing.assert_array_equal(a, b)
