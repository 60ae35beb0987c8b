"""Every fast path of the CPU convolution, forced explicitly, against the reference.

``tinyconv.kernels.cpu.dispatch`` picks a plan per call (``test_cpu_dispatch.py`` tests how); a
test through the public functions only exercises the plan the heuristic picks for small shapes.
Here each registered plan is forced on the same hypothesis-drawn configurations as
``test_cpu_kernels.py`` (every option, both dtypes, every memory layout; the calls and steps a
plan does not support go through the heuristic, which must then be right too), together with the
unrolled kernels' own sizes, the im2col batch chunking (a tiny column budget, so every sample is
its own chunk) and the reuse of workspace buffers.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

from tinyconv.kernels import cpu
from tinyconv.kernels.cpu import _runtime, dispatch, gen_unrolled, im2col

from .helpers import (
    check_conv_against_reference,
    conv_cases,
    threads_always_split,
    unrolled_cases,
)

PLANS = sorted(dispatch.PLANS)  # every registered plan, so a new one is tested from day one


@pytest.mark.parametrize("plan", PLANS)
@given(case=conv_cases())
def test_each_plan_matches_reference(plan, case):
    with cpu.force_plan(plan):
        check_conv_against_reference(case)


@given(case=unrolled_cases())
def test_unrolled_kernels_match_reference(case):
    with cpu.force_plan("unrolled"):
        check_conv_against_reference(case)


@given(case=unrolled_cases())
def test_unrolled_kernels_split_over_threads_match_reference(case):
    """The same, with every call split into blocks of jobs on two threads (``run_jobs``)."""
    with threads_always_split(), cpu.force_plan("unrolled"):
        check_conv_against_reference(case)


def test_generated_unrolled_kernels_are_up_to_date():
    """``unrolled.py`` is exactly what ``gen_unrolled.py`` writes (regenerate after editing it)."""
    with open(gen_unrolled.TARGET) as f:
        assert f.read() == gen_unrolled.generate()


@given(case=conv_cases())
def test_im2col_in_chunks_of_one_sample_matches_reference(case):
    previous = im2col.COLUMN_BYTES_LIMIT
    im2col.COLUMN_BYTES_LIMIT = 1  # every chunk is one sample
    try:
        with cpu.force_plan("im2col"):
            check_conv_against_reference(case)
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
