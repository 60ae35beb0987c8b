"""The Winograd F(2×2, 3×3) plan (``tinyconv.kernels.cpu.winograd``) against the reference.

The transform matrices are checked on their own (F(2, 3) on a 1-D signal and F(2×2, 3×3) on one
tile are plain correlations; the filter transform's adjoint is its adjoint), then the three
contract functions are forced onto the plan for hypothesis-drawn 3×3 stride-1 layers: odd and even
sizes (partial last tiles), padding 0..2 per side, float32 and float64, every memory layout, the
batch cut into chunks of a single tile row, and the chunks split over two threads. Calls the plan
does not compute itself (other kernels, strides, dilations, groups) go through the heuristic:
``test_cpu_paths.py`` forces every plan on every option, ``test_cpu_dispatch.py`` tests when the
heuristic picks this plan.

Tolerance: ``assert_matches``'s (float32 ``rtol = 1e-5`` with the absolute tolerance scaled by the
result's largest magnitude). Winograd adds and subtracts a few more terms than a direct sum, so it
rounds a little more; on these shapes the measured float32 error stays below 1e-6 of the largest
output, well inside the tolerance, and on the benchmark layers (576 and 1152 products per output)
at most 5.4e-7 of the largest value, the same as im2col (see the module docstring).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

from tinyconv.kernels import contract, cpu
from tinyconv.kernels.cpu import _runtime, winograd
from tinyconv.testing.strategies import ConvCase

from .helpers import check_conv_against_reference, threads_always_split, winograd_cases

# ------------------------------------------------------------------------------------------------
# The transforms
# ------------------------------------------------------------------------------------------------


def test_f23_on_a_1d_signal_is_a_correlation():
    """``y = Aᵀ [(G g) ⊙ (Bᵀ d)]``: two outputs of a 3-tap correlation from 4 multiplications."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        d, g = rng.standard_normal(4), rng.standard_normal(3)
        y = winograd.A_T @ ((winograd.G @ g) * (winograd.B_T @ d))
        np.testing.assert_allclose(y, [d[0:3] @ g, d[1:4] @ g], rtol=1e-12, atol=1e-12)


def test_f2x2_3x3_on_one_tile_is_a_2d_correlation():
    rng = np.random.default_rng(1)
    b_t, g_m, a_t = winograd.B_T, winograd.G, winograd.A_T
    for _ in range(20):
        d, g = rng.standard_normal((4, 4)), rng.standard_normal((3, 3))
        y = a_t @ ((g_m @ g @ g_m.T) * (b_t @ d @ b_t.T)) @ a_t.T
        expected = [[np.sum(d[i:i + 3, j:j + 3] * g) for j in range(2)] for i in range(2)]
        np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


def test_filter_transform_and_its_adjoint():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((3, 2, 3, 3))
    u = winograd.filter_transform(w)
    assert u.shape == (16, 3, 2) and u.flags.c_contiguous
    for co in range(3):
        for ci in range(2):
            expected = winograd.G @ w[co, ci] @ winograd.G.T
            np.testing.assert_allclose(u[:, co, ci].reshape(4, 4), expected, rtol=1e-12)
    grad_u = rng.standard_normal((16, 3, 2))
    # <T w, grad_u> == <w, Tᵀ grad_u>: what makes the weight gradient exact
    np.testing.assert_allclose(np.sum(u * grad_u),
                               np.sum(w * winograd.filter_transform_adjoint(grad_u)), rtol=1e-12)


def test_input_transform_of_one_tile():
    """The kernel's ``Bᵀ d B`` (with the padding it reads as zeros) equals the matrix product."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 2, 3, 4))
    # padding 1 all round: a 3x4 output, 2x2 tiles; transform tile row 1 only (its bottom half
    # and its right column lie in the padding and past it)
    v = np.empty((16, 2, 2))
    winograd.input_transform(x, v, 1, 2, 2, 2, 1, 1)
    padded = np.zeros((2, 6, 6))
    padded[:, 1:4, 1:5] = x[0]
    for c in range(2):
        for b in range(2):
            d = padded[c, 2:6, 2 * b:2 * b + 4]
            expected = winograd.B_T @ d @ winograd.B_T.T
            np.testing.assert_allclose(v[:, c, b].reshape(4, 4), expected, rtol=1e-12,
                                       atol=1e-12)


def test_chunking_bounds_the_transformed_tiles():
    rows, chunks = winograd._chunking(32 * 16, 16, 128, 4)
    assert rows * 16 * 16 * 128 * 4 <= winograd.CHUNK_BYTES_LIMIT
    assert rows * chunks >= 32 * 16 > rows * (chunks - 1)  # every tile row, in whole chunks
    assert winograd._chunking(1, 10**6, 10**4, 8) == (1, 1)  # never less than one tile row


# ------------------------------------------------------------------------------------------------
# The plan against the reference
# ------------------------------------------------------------------------------------------------


@given(case=winograd_cases())
def test_winograd_matches_reference(case):
    with cpu.force_plan("winograd"):
        check_conv_against_reference(case)


@given(case=winograd_cases())
def test_winograd_in_chunks_of_one_tile_row_matches_reference(case):
    previous = winograd.CHUNK_BYTES_LIMIT
    winograd.CHUNK_BYTES_LIMIT = 1  # every chunk is a single row of tiles
    try:
        with cpu.force_plan("winograd"):
            check_conv_against_reference(case)
    finally:
        winograd.CHUNK_BYTES_LIMIT = previous


@given(case=winograd_cases())
def test_winograd_split_over_threads_matches_reference(case):
    """Chunks on two threads (``run_jobs``), each with its own workspace; small chunks, so that
    most calls have several and a chunk often spans two samples."""
    previous = winograd.CHUNK_BYTES_LIMIT
    winograd.CHUNK_BYTES_LIMIT = 1
    try:
        with threads_always_split(), cpu.force_plan("winograd"):
            check_conv_against_reference(case)
    finally:
        winograd.CHUNK_BYTES_LIMIT = previous


def test_padding_above_two_matches_reference():
    """The contract allows any padding; above 2 the input gradient reads δ from inside
    (negative offsets into δ)."""
    rng = np.random.default_rng(4)
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((2, 3, 5, 4)).astype(dtype)
        w = rng.standard_normal((2, 3, 3, 3)).astype(dtype)
        options = ((1, 1), (3, 0, 4, 1), (1, 1), 1)
        y_shape = contract.check_conv2d("test", x.shape, w.shape, *options)
        grad_y = rng.standard_normal(y_shape).astype(dtype)
        with cpu.force_plan("winograd"):
            check_conv_against_reference(ConvCase.from_arrays(x, w, grad_y, *options))


def test_workspace_is_reused_across_calls():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 9, 9)).astype(np.float32)
    w = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)
    options = ((1, 1), (1, 1, 1, 1), (1, 1), 1)
    with cpu.force_plan("winograd"):
        def step():
            y = cpu.conv2d_forward(x, w, *options)
            return (y, cpu.conv2d_backward_input(y, w, x.shape, *options),
                    cpu.conv2d_backward_weight(x, y, w.shape, *options))
        first = step()
        allocations = _runtime.workspace.allocations
        for _ in range(3):
            again = step()
        assert _runtime.workspace.allocations == allocations
        for a, b in zip(first, again, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_realistic_layer_matches_im2col(dtype):
    """64 channels (576 products per output, like the VGG benchmark layer), odd sizes, on
    whichever threads the machine has: the float32 error stays within ``assert_matches``'s."""
    from .test_cpu_kernels import assert_matches

    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 64, 11, 13)).astype(dtype)
    w = (rng.standard_normal((48, 64, 3, 3)) / 24).astype(dtype)
    options = ((1, 1), (1, 1, 1, 1), (1, 1), 1)
    y_shape = contract.check_conv2d("test", x.shape, w.shape, *options)
    grad_y = rng.standard_normal(y_shape).astype(dtype)
    x64, w64, g64 = x.astype(np.float64), w.astype(np.float64), grad_y.astype(np.float64)
    with cpu.force_plan("im2col"):  # float64 im2col as the exact answer (reference is slow here)
        expected = (cpu.conv2d_forward(x64, w64, *options),
                    cpu.conv2d_backward_input(g64, w64, x.shape, *options),
                    cpu.conv2d_backward_weight(x64, g64, w.shape, *options))
    with cpu.force_plan("winograd"):
        got = (cpu.conv2d_forward(x, w, *options),
               cpu.conv2d_backward_input(grad_y, w, x.shape, *options),
               cpu.conv2d_backward_weight(x, grad_y, w.shape, *options))
    for actual, exact in zip(got, expected, strict=True):
        assert_matches(actual, exact.astype(dtype))
