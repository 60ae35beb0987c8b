"""Every fast path of the CPU convolution, forced explicitly, against the reference.

``tinyconv.kernels.cpu.dispatch`` picks a plan per call (direct loops or im2col + GEMM); a test
through the public functions only exercises the plan the heuristic picks for small shapes. Here each
plan is forced on the same hypothesis-drawn configurations as ``test_cpu_kernels.py`` (every
option, both dtypes, every memory layout), together with the im2col batch chunking (a tiny column
budget, so every sample is its own chunk) and the reuse of workspace buffers.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

from tinyconv.kernels import cpu, reference
from tinyconv.kernels.cpu import _runtime, dispatch, im2col

from .test_cpu_kernels import assert_matches, conv_cases

PLANS = ["direct", "im2col", "loops"]


def _check_all_three(case):
    y = cpu.conv2d_forward(case.x, case.w, *case.options)
    assert_matches(y, reference.conv2d_forward(case.x, case.w, *case.options), case.x, case.w)
    grad_x = cpu.conv2d_backward_input(case.grad_y, case.w, case.x.shape, *case.options)
    assert_matches(grad_x, reference.conv2d_backward_input(case.grad_y, case.w, case.x.shape,
                                                           *case.options), case.grad_y, case.w)
    grad_w = cpu.conv2d_backward_weight(case.x, case.grad_y, case.w.shape, *case.options)
    assert_matches(grad_w, reference.conv2d_backward_weight(case.x, case.grad_y, case.w.shape,
                                                            *case.options), case.x, case.grad_y)
    for out in (y, grad_x, grad_w):  # outputs are fresh, never a workspace buffer
        assert not any(np.shares_memory(out, b) for b in _runtime.workspace.buffers.values())


@pytest.mark.parametrize("plan", PLANS)
@given(case=conv_cases())
def test_each_plan_matches_reference(plan, case):
    with cpu.force_plan(plan):
        _check_all_three(case)


@given(case=conv_cases())
def test_im2col_in_chunks_of_one_sample_matches_reference(case):
    previous = im2col.COLUMN_BYTES_LIMIT
    im2col.COLUMN_BYTES_LIMIT = 1  # every chunk is one sample
    try:
        with cpu.force_plan("im2col"):
            _check_all_three(case)
    finally:
        im2col.COLUMN_BYTES_LIMIT = previous


def test_chunking_bounds_the_column_matrix():
    assert im2col.batch_chunk(64, 576, 1024, 4) * 576 * 1024 * 4 <= im2col.COLUMN_BYTES_LIMIT
    assert im2col.batch_chunk(64, 10**6, 10**3, 4) == 1  # never less than one sample
    assert im2col.batch_chunk(3, 1, 1, 4) == 3  # never more than the batch


@pytest.mark.parametrize("plan", ["direct", "im2col"])
def test_workspace_is_reused_across_calls(plan):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 9, 9)).astype(np.float32)
    w = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)
    options = ((1, 1), (1, 1, 1, 1), (1, 1), 1)
    with cpu.force_plan(plan):
        def step():
            y = cpu.conv2d_forward(x, w, *options)
            cpu.conv2d_backward_input(y, w, x.shape, *options)
            cpu.conv2d_backward_weight(x, y, w.shape, *options)
            return y
        first = step()
        allocations = _runtime.workspace.allocations
        for _ in range(3):
            again = step()
        assert _runtime.workspace.allocations == allocations  # no new buffer after the first step
        np.testing.assert_array_equal(first, again)  # and no stale data leaks between calls


def test_heuristic_picks_direct_for_small_reductions_and_im2col_for_dense_layers():
    options = ((1, 1), (0, 0, 0, 0), (1, 1), 1)
    assert dispatch.choose_plan((64, 1, 32, 32), (6, 1, 5, 5), *options) == "direct"
    assert dispatch.choose_plan((32, 64, 32, 32), (64, 1, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1),
                                64) == "direct"  # depthwise
    assert dispatch.choose_plan((32, 64, 32, 32), (64, 64, 3, 3), *options) == "im2col"
    with cpu.force_plan("loops"):
        assert dispatch.choose_plan((32, 64, 32, 32), (64, 64, 3, 3), *options) == "loops"
    with pytest.raises(ValueError, match="unknown plan"):
        with cpu.force_plan("fastest"):
            pass
