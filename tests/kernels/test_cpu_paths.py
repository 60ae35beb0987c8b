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
from hypothesis import strategies as st

from tinyconv.kernels import contract, cpu, reference
from tinyconv.kernels.cpu import _runtime, dispatch, gen_unrolled, im2col

from .test_cpu_kernels import (
    LAYOUTS,
    ConvCase,
    assert_matches,
    conv_cases,
    random_array,
    with_layout,
)

PLANS = ["direct", "im2col", "loops", "unrolled"]


@st.composite
def unrolled_cases(draw) -> ConvCase:
    """Convolutions the unrolled kernels really serve (``conv_cases`` mostly draws strides,
    dilations and kernel sizes they hand on to the direct plan): stride 1, dilation 1, a size in
    ``gen_unrolled.SIZES``, any padding, groups, dtype and layout."""
    groups = draw(st.integers(1, 3))
    c_in, c_out = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    kh, kw = draw(st.sampled_from(gen_unrolled.SIZES))
    padding = tuple(draw(st.integers(0, 3)) for _ in range(4))
    h = draw(st.integers(max(1, kh - padding[0] - padding[1]), 13))
    width = draw(st.integers(max(1, kw - padding[2] - padding[3]), 13))
    n = draw(st.integers(1, 3))
    dtype = np.dtype(draw(st.sampled_from([np.float32, np.float64])))
    layout = draw(st.sampled_from(LAYOUTS))
    ties = draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    stride, dilation = (1, 1), (1, 1)
    y_shape = contract.check_conv2d("test", (n, c_in, h, width), (c_out, c_in // groups, kh, kw),
                                    stride, padding, dilation, groups)
    x = random_array(rng, (n, c_in, h, width), dtype, ties)
    w = random_array(rng, (c_out, c_in // groups, kh, kw), dtype, ties)
    grad_y = random_array(rng, y_shape, dtype, ties)
    return ConvCase(with_layout(x, layout), with_layout(w, layout), with_layout(grad_y, layout),
                    stride, padding, dilation, groups)


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


@given(case=unrolled_cases())
def test_unrolled_kernels_match_reference(case):
    with cpu.force_plan("unrolled"):
        _check_all_three(case)


@given(case=unrolled_cases())
def test_unrolled_kernels_split_over_threads_match_reference(case):
    """The same, with every call split into blocks of jobs on two threads (``run_jobs``)."""
    previous = _runtime.PARALLEL_MIN_FLOPS, _runtime.get_num_threads()
    _runtime.PARALLEL_MIN_FLOPS = 0
    cpu.set_num_threads(2)
    try:
        with cpu.force_plan("unrolled"):
            _check_all_three(case)
    finally:
        _runtime.PARALLEL_MIN_FLOPS = previous[0]
        cpu.set_num_threads(previous[1])


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
    assert dispatch.choose_plan((64, 1, 32, 32), (6, 1, 5, 5), *options) == "unrolled"
    assert dispatch.choose_plan((64, 6, 14, 14), (16, 6, 5, 5), *options) == "im2col"  # R = 150
    assert dispatch.choose_plan((64, 1, 32, 32), (6, 1, 4, 4), *options) == "direct"  # no 4x4
    assert dispatch.choose_plan((64, 1, 32, 32), (6, 1, 5, 5), (2, 2), (0, 0, 0, 0), (1, 1),
                                1) == "direct"  # stride 2
    assert dispatch.choose_plan((32, 64, 32, 32), (64, 1, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1),
                                64) == "unrolled"  # depthwise
    assert dispatch.choose_plan((32, 64, 32, 32), (64, 1, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1),
                                64) == "direct"  # depthwise, stride 2
    # dense 3x3 stride 1 with enough 2x2 output tiles: Winograd
    assert dispatch.choose_plan((32, 64, 32, 32), (64, 64, 3, 3), *options) == "winograd"
    assert dispatch.choose_plan((1, 128, 8, 8), (128, 128, 3, 3), *options) == "im2col"  # 9 tiles
    assert dispatch.choose_plan((32, 64, 32, 32), (64, 64, 3, 3), (2, 2), (0, 0, 0, 0), (1, 1),
                                1) == "im2col"  # stride 2
    assert dispatch.choose_plan((32, 16, 32, 32), (32, 16, 1, 1), (2, 2), (0, 0, 0, 0), (1, 1),
                                1) == "im2col"  # a 1x1 shortcut is a GEMM
    with cpu.force_plan("loops"):
        assert dispatch.choose_plan((32, 64, 32, 32), (64, 64, 3, 3), *options) == "loops"
    with pytest.raises(ValueError, match="unknown plan"):
        with cpu.force_plan("fastest"):
            pass
