"""The heuristic of ``tinyconv.kernels.cpu.dispatch``, tested by calling ``choose_plan`` on
problems that sit on each side of each threshold (nothing forced), then what forcing a plan does.
"""

from __future__ import annotations

import numpy as np
import pytest

from tinyconv.kernels.cpu import dispatch, force_plan, plan_name
from tinyconv.kernels.cpu.dispatch import (
    BATCH_LANES_MAX_REDUCTION,
    BATCH_LANES_MIN_BATCH,
    DIRECT_MAX_REDUCTION,
    UNROLLED_MAX_REDUCTION,
    WINOGRAD_MIN_REDUCTION,
    WINOGRAD_MIN_TILES,
)
from tinyconv.kernels.cpu.problem import ConvProblem


def chosen(x_shape, w_shape, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1,
           step="forward") -> str:
    """The name of the plan the heuristic picks for ``step`` of this float32 convolution."""
    problem = ConvProblem.checked("test", x_shape, w_shape, stride, padding, dilation, groups,
                                  np.float32)
    return dispatch.choose_plan(problem, step).name


def dense_3x3(batch, channels, size, padding=(1, 1, 1, 1)):
    """A dense ``channels -> channels`` 3×3 stride-1 layer on ``size × size`` images."""
    return chosen((batch, channels, size, size), (channels, channels, 3, 3), padding=padding)


def test_winograd_from_its_minimum_reduction():
    channels = WINOGRAD_MIN_REDUCTION // 9
    assert dense_3x3(32, channels, 32) == "winograd"
    # below it, with Winograd's tile count, the unrolled taps (R = 207 products)
    assert dense_3x3(32, channels - 1, 32) == "unrolled"
    assert dense_3x3(32, 12, 32) == "unrolled"  # R = 108, above the general unrolled maximum


def test_winograd_from_its_minimum_tile_count():
    """Tiles are ``N·⌈H_out/2⌉·⌈W_out/2⌉`` with the contract's output size (padding counts, a
    partial tile counts)."""
    assert WINOGRAD_MIN_TILES == 128  # the shapes below sit on either side of 128
    assert dense_3x3(2, 32, 16) == "winograd"  # 2·8·8 = 128 tiles
    assert dense_3x3(2, 32, 15) == "winograd"  # 15 outputs: 7 whole tiles and a partial one
    assert chosen((2, 32, 16, 14), (32, 32, 3, 3), padding=(1, 1, 1, 1)) == "im2col"  # 2·8·7
    assert dense_3x3(2, 32, 16, padding=(0, 0, 0, 0)) == "im2col"  # 14×14 outputs: 2·7·7
    assert dense_3x3(2, 16, 16) == "unrolled"  # 128 tiles, R = 144: the 3×3 unrolled row
    assert dense_3x3(2, 16, 16, padding=(0, 0, 0, 0)) == "im2col"  # 98 tiles: not that row
    assert dense_3x3(1, 128, 8) == "im2col"  # batch 1 on 8×8: 16 tiles, too thin for 16 GEMMs


def test_winograd_only_where_it_applies():
    assert chosen((32, 64, 32, 32), (64, 64, 3, 3), (2, 2), (1, 1, 1, 1)) == "im2col"  # stride
    assert chosen((32, 64, 32, 32), (64, 64, 3, 3), dilation=(2, 2)) == "im2col"
    assert chosen((32, 128, 32, 32), (128, 64, 3, 3), padding=(1, 1, 1, 1),
                  groups=2) == "im2col"


def test_unrolled_up_to_its_maximum_reduction():
    assert UNROLLED_MAX_REDUCTION == 99  # 3×3 up to 11 channels, 5×5 up to 3
    assert chosen((64, 3, 32, 32), (6, 3, 5, 5)) == "unrolled"  # R = 75
    assert chosen((1, 4, 14, 14), (16, 4, 5, 5)) == "im2col"  # R = 100, batch 1
    assert chosen((1, 11, 8, 8), (8, 11, 3, 3)) == "unrolled"  # R = 99
    assert chosen((1, 12, 8, 8), (8, 12, 3, 3)) == "im2col"  # R = 108, only 9 tiles
    assert chosen((32, 64, 32, 32), (64, 1, 3, 3), padding=(1, 1, 1, 1),
                  groups=64) == "unrolled"  # depthwise, R = 9
    assert chosen((64, 1, 32, 32), (6, 1, 4, 4)) == "direct"  # no unrolled 4×4 kernels


def test_batch_lanes_between_the_unrolled_maximum_and_its_own():
    channels = BATCH_LANES_MAX_REDUCTION // 25
    assert chosen((64, channels, 14, 14), (16, channels, 5, 5)) == "batch_lanes"  # R = 400
    assert chosen((64, channels + 1, 14, 14), (16, channels + 1, 5, 5)) == "im2col"
    assert chosen((64, 4, 14, 14), (16, 4, 5, 5)) == "batch_lanes"  # R = 100


def test_batch_lanes_from_its_minimum_batch():
    lenet_c3 = (16, 6, 5, 5)  # R = 150
    assert chosen((BATCH_LANES_MIN_BATCH, 6, 14, 14), lenet_c3) == "batch_lanes"
    assert chosen((BATCH_LANES_MIN_BATCH - 1, 6, 14, 14), lenet_c3) == "im2col"
    assert chosen((64, 6, 14, 14), (16, 3, 5, 5), groups=2) == "unrolled"  # R = 75
    assert chosen((64, 12, 14, 14), (16, 6, 5, 5), groups=2) == "im2col"  # groups: not measured


def test_batch_lanes_hands_the_input_gradient_to_the_next_row():
    x_shape, w_shape = (64, 6, 14, 14), (16, 6, 5, 5)
    assert chosen(x_shape, w_shape, step="backward_weight") == "batch_lanes"
    assert chosen(x_shape, w_shape, step="backward_input") == "im2col"


def test_direct_below_its_maximum_reduction():
    assert DIRECT_MAX_REDUCTION == 64
    assert chosen((8, 7, 16, 16), (8, 7, 3, 3), (2, 2)) == "direct"  # R = 63
    assert chosen((8, 8, 16, 16), (8, 8, 3, 3), (2, 2)) == "im2col"  # R = 72
    assert chosen((32, 64, 32, 32), (64, 1, 3, 3), (2, 2), (1, 1, 1, 1),
                  groups=64) == "direct"  # depthwise with a stride


def test_a_1x1_convolution_is_a_matrix_product_unless_grouped():
    assert chosen((32, 16, 32, 32), (32, 16, 1, 1), (2, 2)) == "im2col"  # R = 16 all the same
    assert chosen((32, 16, 32, 32), (32, 16, 1, 1)) == "im2col"
    assert chosen((32, 16, 32, 32), (16, 1, 1, 1), groups=16) == "direct"


def test_every_plan_but_loops_is_in_the_table():
    table = [name for name, _ in dispatch.HEURISTIC]
    assert set(table) == set(dispatch.PLANS) - {"loops"}
    assert table[-1] == "im2col"  # computes everything: the last row always answers


def test_a_forced_plan_is_used_where_it_supports_the_step():
    x_shape, w_shape = (64, 6, 14, 14), (16, 6, 5, 5)
    with force_plan("loops"):
        for step in ("forward", "backward_input", "backward_weight"):
            assert chosen(x_shape, w_shape, step=step) == "loops"
    with force_plan("winograd"):  # 5×5: not Winograd's, so the heuristic decides
        assert chosen(x_shape, w_shape) == "batch_lanes"
        assert dense_3x3(1, 128, 8) == "winograd"  # a 3×3 layer it would not have picked
    with force_plan("batch_lanes"):  # the step it lacks goes down the table
        assert chosen((2, 6, 14, 14), w_shape) == "batch_lanes"
        assert chosen((2, 6, 14, 14), w_shape, step="backward_input") == "im2col"
    with pytest.raises(ValueError, match="unknown plan 'fastest'"):
        with force_plan("fastest"):
            pass


def test_plan_name_takes_the_contract_arguments():
    assert plan_name((64, 6, 14, 14), (16, 6, 5, 5), (1, 1), (0, 0, 0, 0), (1, 1),
                     1) == "batch_lanes"
    assert plan_name((64, 6, 14, 14), (16, 6, 5, 5), (1, 1), (0, 0, 0, 0), (1, 1), 1,
                     step="backward_input") == "im2col"
    with pytest.raises(ValueError, match="plan_name: input has 4 channels"):
        plan_name((1, 4, 8, 8), (2, 3, 3, 3), (1, 1), (0, 0, 0, 0), (1, 1), 1)
