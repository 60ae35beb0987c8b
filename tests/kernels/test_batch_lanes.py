"""The ``"batch_lanes"`` plan (batch in the SIMD lanes, ``kernels/cpu/batch_lanes.py``) on the
calls it computes itself: stride 1, dilation 1, 5×5 kernels, any padding and groups (its input
gradient is im2col's, through the dispatcher)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings

from tinyconv.kernels import cpu
from tinyconv.kernels.cpu import _runtime, gen_unrolled
from tinyconv.testing.strategies import conv2d_cases

from .helpers import check_conv_against_reference, threads_always_split


def _batch_lanes_cases():
    """What the kernels serve: the sizes of ``gen_unrolled.BATCH_LANES_SIZES``, stride 1,
    dilation 1; any padding and groups."""
    return conv2d_cases(kernel_sizes=gen_unrolled.BATCH_LANES_SIZES, max_stride=1,
                        allow_dilation=False, max_batch=3, max_channels=9, max_size=13,
                        max_padding=3)


def _odd_batches():
    """Batches up to 40 (not multiples of the 16 SIMD lanes), odd and even output heights (the
    kernels take output rows in pairs)."""
    return conv2d_cases(kernel_sizes=gen_unrolled.BATCH_LANES_SIZES, max_stride=1,
                        allow_dilation=False, max_batch=40, max_size=9)


@given(case=_batch_lanes_cases())
def test_batch_lanes_matches_reference(case):
    with cpu.force_plan("batch_lanes"):
        check_conv_against_reference(case)


@settings(max_examples=30)
@given(case=_odd_batches())
def test_batch_lanes_on_batches_that_are_not_whole_vectors(case):
    with cpu.force_plan("batch_lanes"):
        check_conv_against_reference(case)


@given(case=_batch_lanes_cases())
def test_batch_lanes_split_over_threads_match_reference(case):
    """Every call split into blocks of output channels (or filters) on two threads."""
    with threads_always_split(), cpu.force_plan("batch_lanes"):
        check_conv_against_reference(case)


def test_batch_lanes_reuses_its_workspace():
    """After the first step no buffer is allocated again, and no stale values leak between calls
    (the padding and spare rows are rewritten every time), also when a smaller call comes between
    two equal ones."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((19, 3, 11, 11)).astype(np.float32)
    w = rng.standard_normal((4, 3, 5, 5)).astype(np.float32)
    options = ((1, 1), (2, 1, 0, 2), (1, 1), 1)
    small_x = rng.standard_normal((5, 3, 8, 8)).astype(np.float32) * 100

    def step(x):
        y = cpu.conv2d_forward(x, w, *options)
        grad_x = cpu.conv2d_backward_input(y, w, x.shape, *options)
        grad_w = cpu.conv2d_backward_weight(x, y, w.shape, *options)
        return y, grad_x, grad_w

    with cpu.force_plan("batch_lanes"):
        first = step(x)
        step(small_x)
        allocations = _runtime.workspace.allocations
        for _ in range(3):
            again = step(x)
        assert _runtime.workspace.allocations == allocations
        for a, b in zip(first, again, strict=True):
            np.testing.assert_array_equal(a, b)
