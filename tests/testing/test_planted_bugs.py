"""Every identity catches a bug: deliberately wrong kernel sets must FAIL the matching checks.

Each planted bug is the reference kernel set with one function broken the way a student might
break it (the docstring says how). ``PLANTED`` pairs each bug with the identities that must
catch it, and every identity of ``tinyconv.testing.identities`` appears at least once, so no
identity is a check that cannot fail.
"""

import re
import types

import numpy as np
import pytest

from tinyconv.kernels import reference
from tinyconv.kernels.contract import CONTRACT_FUNCTIONS
from tinyconv.kernels.reference import rot180
from tinyconv.testing import grading, identities


def kernel_set(name, **broken):
    """The reference kernel set with the functions in ``broken`` replaced."""
    functions = {f: getattr(reference, f) for f in CONTRACT_FUNCTIONS}
    functions.update(broken)
    return types.SimpleNamespace(__name__=name, **functions)


# ---- convolution bugs ---------------------------------------------------------------------------

def weight_gradient_correlation_swapped(x, grad_y, w_shape, stride, padding, dilation, groups):
    """δ ⋆ X instead of X ⋆ δ: correlating the other way round turns the result by 180°."""
    return rot180(reference.conv2d_backward_weight(x, grad_y, w_shape, stride, padding, dilation,
                                                   groups)).copy()


def input_gradient_not_rotated(grad_y, w, x_shape, stride, padding, dilation, groups):
    """full_corr(δ, W) instead of full_corr(δ, rot180(W)): the reference rotates its w, so
    handing it an already rotated w undoes the rotation."""
    return reference.conv2d_backward_input(grad_y, rot180(w).copy(), x_shape, stride, padding,
                                           dilation, groups)


def input_gradient_cropped_one_row_late(grad_y, w, x_shape, stride, padding, dilation, groups):
    """The padding crop of the input gradient starts one row too late (rows top+1 .. top+H)."""
    n, c, h, width = x_shape
    top, bottom, left, right = padding
    padded_shape = (n, c, top + h + bottom, left + width + right)
    grad_x_padded = reference.conv2d_backward_input(grad_y, w, padded_shape, stride, (0, 0, 0, 0),
                                                    dilation, groups)
    grad_x_padded = np.pad(grad_x_padded, [(0, 0), (0, 0), (0, 1), (0, 0)])
    return grad_x_padded[:, :, top + 1:top + 1 + h, left:left + width].copy()


def forward_input_one_row_low(x, w, stride, padding, dilation, groups):
    """Off-by-one padding: the input is copied one row too low into the padded buffer
    (top padding + 1, last input row lost)."""
    shifted = np.zeros_like(x)
    shifted[:, :, 1:] = x[:, :, :-1]
    return reference.conv2d_forward(shifted, w, stride, padding, dilation, groups)


def weight_gradient_delta_not_dilated(x, grad_y, w_shape, stride, padding, dilation, groups):
    """δ's entries treated as neighbours instead of ``stride`` apart (stride forgotten)."""
    h_out, w_out = grad_y.shape[2:]
    span_h = dilation[0] * (w_shape[2] - 1) + 1
    span_w = dilation[1] * (w_shape[3] - 1) + 1
    top, bottom, left, right = padding
    x_padded = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    x_seen = x_padded[:, :, :h_out - 1 + span_h, :w_out - 1 + span_w]
    return reference.conv2d_backward_weight(x_seen, grad_y, w_shape, (1, 1), (0, 0, 0, 0),
                                            dilation, groups)


def forward_wrong_group_block(x, w, stride, padding, dilation, groups):
    """Group g reads the input channels of group g + 1 (mod groups)."""
    c_per_group = x.shape[1] // groups
    return reference.conv2d_forward(np.roll(x, -c_per_group, axis=1), w, stride, padding,
                                    dilation, groups)


def forward_accumulator_starts_at_one(x, w, stride, padding, dilation, groups):
    """The accumulator is created with np.ones instead of np.zeros: y = X ⋆ W + 1."""
    return reference.conv2d_forward(x, w, stride, padding, dilation, groups) + 1


def forward_pads_by_replicating_edges(x, w, stride, padding, dilation, groups):
    """Padding repeats the border pixels (np.pad mode="edge") instead of adding zeros."""
    top, bottom, left, right = padding
    x_padded = np.pad(x, [(0, 0), (0, 0), (top, bottom), (left, right)], mode="edge")
    return reference.conv2d_forward(x_padded, w, stride, (0, 0, 0, 0), dilation, groups)


def forward_output_size_rounded_up(x, w, stride, padding, dilation, groups):
    """The output size uses ceil instead of floor (bottom/right padded by stride - 1 more)."""
    top, bottom, left, right = padding
    rounded_up = (top, bottom + stride[0] - 1, left, right + stride[1] - 1)
    return reference.conv2d_forward(x, w, stride, rounded_up, dilation, groups)


def forward_returns_float64(x, w, stride, padding, dilation, groups):
    """The output is float64 whatever the input dtype."""
    return reference.conv2d_forward(x, w, stride, padding, dilation, groups).astype(np.float64)


def forward_replaces_nan_by_zero(x, w, stride, padding, dilation, groups):
    """The input is cleaned with np.nan_to_num first: NaN and inf no longer propagate."""
    return reference.conv2d_forward(np.nan_to_num(x, posinf=0, neginf=0), w, stride, padding,
                                    dilation, groups)


# ---- pooling bugs -------------------------------------------------------------------------------

def max_pool_skips_nan(x, kernel, stride, padding, dilation, ceil_mode):
    """NaN treated as -inf (as np.nanmax would): a window holding NaN pools to its other values."""
    return reference.max_pool2d_forward(np.where(np.isnan(x), -np.inf, x), kernel, stride, padding,
                                        dilation, ceil_mode)


def max_pool_ignores_ceil_mode(x, kernel, stride, padding, dilation, ceil_mode):
    """ceil_mode is ignored: the output size always rounds down."""
    return reference.max_pool2d_forward(x, kernel, stride, padding, dilation, False)


def max_pool_ties_to_last_index(x, kernel, stride, padding, dilation, ceil_mode):
    """``>=`` instead of ``>`` when scanning a window: ties go to the LAST maximal element."""
    y, indices = reference.max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode)
    h, width = x.shape[2:]
    for n, c, i, j in np.ndindex(*y.shape):
        rows = [i * stride[0] - padding[0] + m * dilation[0] for m in range(kernel[0])]
        cols = [j * stride[1] - padding[2] + m * dilation[1] for m in range(kernel[1])]
        winners = [r * width + q for r in rows for q in cols
                   if 0 <= r < h and 0 <= q < width and x[n, c, r, q] == y[n, c, i, j]]
        indices[n, c, i, j] = winners[-1]
    return y, indices


def max_pool_backward_overwrites(grad_y, indices, x_shape):
    """``grad_x[winner] = δ`` instead of ``+= δ``: an element winning two windows keeps one δ."""
    n, c, h, width = x_shape
    grad_x = np.zeros((n, c, h * width), dtype=grad_y.dtype)
    np.put_along_axis(grad_x, np.asarray(indices).reshape(n, c, -1),
                      np.asarray(grad_y).reshape(n, c, -1), axis=2)
    return grad_x.reshape(x_shape)


def avg_pool_always_counts_padding(x, kernel, stride, padding, ceil_mode, count_include_pad):
    """count_include_pad=False is ignored: padding always counts in the divisor."""
    return reference.avg_pool2d_forward(x, kernel, stride, padding, ceil_mode, True)


def avg_pool_backward_forgets_divisor(grad_y, x_shape, kernel, stride, padding, ceil_mode,
                                       count_include_pad):
    """The 1/(kH·kW) is forgotten: a full window spreads δ itself to each of its elements."""
    scaled = grad_y * (kernel[0] * kernel[1])
    return reference.avg_pool2d_backward(scaled, x_shape, kernel, stride, padding, ceil_mode,
                                         count_include_pad)


BUGGY = {
    "weight_gradient_correlation_swapped": kernel_set(
        "weight_gradient_correlation_swapped",
        conv2d_backward_weight=weight_gradient_correlation_swapped),
    "input_gradient_not_rotated": kernel_set(
        "input_gradient_not_rotated", conv2d_backward_input=input_gradient_not_rotated),
    "input_gradient_cropped_one_row_late": kernel_set(
        "input_gradient_cropped_one_row_late",
        conv2d_backward_input=input_gradient_cropped_one_row_late),
    "forward_input_one_row_low": kernel_set(
        "forward_input_one_row_low", conv2d_forward=forward_input_one_row_low),
    "weight_gradient_delta_not_dilated": kernel_set(
        "weight_gradient_delta_not_dilated",
        conv2d_backward_weight=weight_gradient_delta_not_dilated),
    "forward_wrong_group_block": kernel_set(
        "forward_wrong_group_block", conv2d_forward=forward_wrong_group_block),
    "forward_accumulator_starts_at_one": kernel_set(
        "forward_accumulator_starts_at_one", conv2d_forward=forward_accumulator_starts_at_one),
    "forward_pads_by_replicating_edges": kernel_set(
        "forward_pads_by_replicating_edges", conv2d_forward=forward_pads_by_replicating_edges),
    "forward_output_size_rounded_up": kernel_set(
        "forward_output_size_rounded_up", conv2d_forward=forward_output_size_rounded_up),
    "forward_returns_float64": kernel_set(
        "forward_returns_float64", conv2d_forward=forward_returns_float64),
    "forward_replaces_nan_by_zero": kernel_set(
        "forward_replaces_nan_by_zero", conv2d_forward=forward_replaces_nan_by_zero),
    "max_pool_skips_nan": kernel_set("max_pool_skips_nan", max_pool2d_forward=max_pool_skips_nan),
    "max_pool_ignores_ceil_mode": kernel_set(
        "max_pool_ignores_ceil_mode", max_pool2d_forward=max_pool_ignores_ceil_mode),
    "max_pool_ties_to_last_index": kernel_set(
        "max_pool_ties_to_last_index", max_pool2d_forward=max_pool_ties_to_last_index),
    "max_pool_backward_overwrites": kernel_set(
        "max_pool_backward_overwrites", max_pool2d_backward=max_pool_backward_overwrites),
    "avg_pool_always_counts_padding": kernel_set(
        "avg_pool_always_counts_padding", avg_pool2d_forward=avg_pool_always_counts_padding),
    "avg_pool_backward_forgets_divisor": kernel_set(
        "avg_pool_backward_forgets_divisor",
        avg_pool2d_backward=avg_pool_backward_forgets_divisor),
}

#: (bug, identity that must catch it)
PLANTED = [
    ("weight_gradient_correlation_swapped", "weight_gradient"),
    ("weight_gradient_correlation_swapped", "adjoint_weight"),
    ("input_gradient_not_rotated", "input_gradient"),
    ("input_gradient_not_rotated", "adjoint_input"),
    ("input_gradient_not_rotated", "full_convolution_commutes"),
    ("input_gradient_not_rotated", "convolution_is_correlation_with_rotated_kernel"),
    ("input_gradient_cropped_one_row_late", "input_gradient"),
    ("input_gradient_cropped_one_row_late", "adjoint_input"),
    ("input_gradient_cropped_one_row_late", "stacked_3x3_receptive_field"),
    ("forward_input_one_row_low", "conv2d_forward"),
    ("forward_input_one_row_low", "conv1x1_is_linear"),
    ("forward_input_one_row_low", "adjoint_weight"),
    ("forward_input_one_row_low", "matches_reference"),
    ("weight_gradient_delta_not_dilated", "weight_gradient"),
    ("weight_gradient_delta_not_dilated", "adjoint_weight"),
    ("forward_wrong_group_block", "conv2d_forward"),
    ("forward_wrong_group_block", "depthwise_separable"),
    ("forward_accumulator_starts_at_one", "linearity_in_input"),
    ("forward_accumulator_starts_at_one", "linearity_in_weight"),
    ("forward_pads_by_replicating_edges", "conv2d_forward"),
    ("forward_pads_by_replicating_edges", "translation_equivariance"),
    ("forward_output_size_rounded_up", "conv2d_output_shapes"),
    ("forward_returns_float64", "conv2d_output_shapes"),
    ("forward_replaces_nan_by_zero", "conv2d_non_finite"),
    ("max_pool_skips_nan", "pool2d_non_finite"),
    ("max_pool_ignores_ceil_mode", "pool2d_output_shapes"),
    ("max_pool_ignores_ceil_mode", "matches_reference"),
    ("max_pool_ties_to_last_index", "max_pool2d_forward"),
    ("max_pool_backward_overwrites", "max_pool2d_backward"),
    ("max_pool_backward_overwrites", "pool2d_gradient_sum"),
    ("avg_pool_always_counts_padding", "avg_pool2d_forward"),
    ("avg_pool_backward_forgets_divisor", "avg_pool2d_backward"),
    ("avg_pool_backward_forgets_divisor", "pool2d_gradient_sum"),
]


def test_every_identity_catches_a_planted_bug():
    assert {identity for _, identity in PLANTED} == set(identities.IDENTITY_NAMES)


def test_every_planted_bug_is_used():
    assert {bug for bug, _ in PLANTED} == set(BUGGY)


@pytest.mark.parametrize("bug, identity", PLANTED, ids=[f"{b}-{i}" for b, i in PLANTED])
def test_identity_catches_planted_bug(bug, identity):
    # Searching stops at the first failure; shrinking is skipped to keep the suite fast.
    with pytest.raises(AssertionError):
        grading.run_identity(identity, BUGGY[bug], reference=reference, max_examples=300,
                             shrink=False)


def test_failure_is_shrunk_to_a_small_example_with_a_helpful_message():
    """With shrinking on, the rotation bug is reported on tiny arrays (at most 2×2), with a
    message that says where the result is wrong and by how much."""
    with pytest.raises(AssertionError, match=r"largest error .* at index .* got .* expected") as e:
        grading.run_identity("full_convolution_commutes", BUGGY["input_gradient_not_rotated"],
                             max_examples=300)
    shapes = re.search(r"a: \((\d+), (\d+)\), b: \((\d+), (\d+)\)", str(e.value)).groups()
    assert max(int(size) for size in shapes) <= 2, str(e.value)


def test_run_all_lists_the_failing_identities():
    with pytest.raises(AssertionError) as failure:
        grading.run_all(BUGGY["forward_accumulator_starts_at_one"], max_examples=50,
                        shrink=False,
                        names=("conv2d_forward", "linearity_in_input", "max_pool2d_forward"))
    report = str(failure.value)
    assert "2 of 3 identities failed" in report
    assert "linearity_in_input" in report and "conv2d_forward" in report
    assert "max_pool2d_forward (" not in report
    # hypothesis's note with the failing arguments (worded "Falsifying example" before 6.16x)
    assert re.search(r"Falsifying example|Failing test case", report), report


def test_a_kernel_set_missing_a_function_is_reported():
    incomplete = types.SimpleNamespace(__name__="incomplete",
                                       conv2d_forward=reference.conv2d_forward)
    with pytest.raises(AssertionError, match="lacks the kernel-contract function"):
        grading.run_all(incomplete)
