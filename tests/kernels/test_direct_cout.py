"""The ``"direct_cout"`` plan (``kernels/cpu/direct_cout.py``: output channels in the SIMD lanes)
against the reference.

Hypothesis draws every option from the project's strategies (stride, padding, dilation, groups,
float32/float64, four memory layouts, integer-valued arrays so sums are exact); fixed shapes
exercise a lane count that is no multiple of 16, rows longer than a register, the split over two
threads and the reuse of workspace buffers.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from tinyconv.kernels import cpu, reference
from tinyconv.kernels.cpu import _runtime
from tinyconv.testing.strategies import conv2d_cases

from .test_cpu_kernels import assert_matches


def _check_all_three(x, w, grad_y, options):
    with cpu.force_plan("direct_cout"):
        y = cpu.conv2d_forward(x, w, *options)
        grad_x = cpu.conv2d_backward_input(grad_y, w, x.shape, *options)
        grad_w = cpu.conv2d_backward_weight(x, grad_y, w.shape, *options)
    assert_matches(y, reference.conv2d_forward(x, w, *options), x, w)
    assert_matches(grad_x, reference.conv2d_backward_input(grad_y, w, x.shape, *options),
                   grad_y, w)
    assert_matches(grad_w, reference.conv2d_backward_weight(x, grad_y, w.shape, *options),
                   x, grad_y)
    for out in (y, grad_x, grad_w):  # outputs are fresh, never a workspace buffer
        assert not any(np.shares_memory(out, b) for b in _runtime.workspace.buffers.values())


@given(case=conv2d_cases(integer_valued=True))
def test_direct_cout_matches_reference(case):
    _check_all_three(case.x, case.w, case.grad_y, case.options)


@settings(max_examples=30)
@given(case=conv2d_cases(integer_valued=True, max_channels=20, max_size=14, max_batch=3))
def test_direct_cout_matches_reference_with_many_channels(case):
    """Up to 20 channels: lane counts below, at and above one AVX-512 register of float32."""
    _check_all_three(case.x, case.w, case.grad_y, case.options)


def _arrays(rng, x_shape, w_shape, options, dtype=np.float32):
    x = rng.integers(-3, 4, size=x_shape).astype(dtype)
    w = rng.integers(-3, 4, size=w_shape).astype(dtype)
    y_shape = reference.conv2d_forward(x, w, *options).shape
    return x, w, rng.integers(-3, 4, size=y_shape).astype(dtype)


SHAPES = [  # (x_shape, w_shape, stride, padding, dilation, groups)
    ((5, 6, 14, 14), (16, 6, 5, 5), (1, 1), (0, 0, 0, 0), (1, 1), 1),   # LeNet c3, 16 lanes
    ((3, 5, 9, 40), (19, 5, 3, 3), (1, 1), (1, 1, 2, 0), (1, 1), 1),    # 19 lanes, long rows
    ((4, 4, 12, 33), (6, 2, 3, 3), (2, 1), (1, 0, 1, 1), (1, 2), 2),    # groups, stride, dilation
    ((3, 8, 11, 11), (8, 1, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 8),    # depthwise: 1 lane
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape", SHAPES)
def test_direct_cout_split_over_threads_matches_reference(shape, threads):
    """Every call split into blocks of rows / samples on the threads (``run_jobs``), float32 and
    float64."""
    x_shape, w_shape, *options = shape
    previous = _runtime.PARALLEL_MIN_FLOPS, _runtime.get_num_threads()
    _runtime.PARALLEL_MIN_FLOPS = 0
    cpu.set_num_threads(threads)
    try:
        rng = np.random.default_rng(0)
        for dtype in (np.float32, np.float64):
            _check_all_three(*_arrays(rng, x_shape, w_shape, options, dtype), options)
    finally:
        _runtime.PARALLEL_MIN_FLOPS = previous[0]
        cpu.set_num_threads(previous[1])


def test_direct_cout_reuses_its_workspace():
    rng = np.random.default_rng(1)
    options = ((1, 1), (1, 1, 1, 1), (1, 1), 1)
    x, w, grad_y = _arrays(rng, (4, 3, 9, 9), (17, 3, 3, 3), options)

    def step():
        with cpu.force_plan("direct_cout"):
            return (cpu.conv2d_forward(x, w, *options),
                    cpu.conv2d_backward_input(grad_y, w, x.shape, *options),
                    cpu.conv2d_backward_weight(x, grad_y, w.shape, *options))

    first = step()
    allocations = _runtime.workspace.allocations
    for _ in range(3):
        again = step()
    assert _runtime.workspace.allocations == allocations  # no new buffer after the first step
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)  # and no stale data leaks between calls
