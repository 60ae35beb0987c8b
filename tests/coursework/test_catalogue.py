"""A catalogue of the bugs students write, one assignment at a time: each must be caught by the
property named, blamed on the right function, with a counterexample of a few dozen elements at
most (and, where the bug has one, the right pattern or condition in the report).

The grading runs in-process here (``tinyconv.testing.grading.grade`` with the assignment's bounds
and the quick profile); ``test_grade_command.py`` runs the real subprocess grader end to end.
Each buggy function is tinyconv's reference with one mistake a student makes (those shared with
``tests/testing/test_planted_bugs.py`` are taken from there).
"""

from pathlib import Path

import numpy as np
import pytest

from tinyconv.coursework import load_assignment
from tinyconv.coursework.extras import run_extra
from tinyconv.kernels import reference as ref
from tinyconv.kernels.reference import rot180
from tinyconv.testing import grading
from tinyconv.testing.identities import Bounds

from ..testing import test_planted_bugs as planted
from .solutions import pooling as pooling_solution
from .solutions import softplus as softplus_solution

# ---- assignment 1: conv2d_forward ---------------------------------------------------------------




def padding_on_one_side_only(x, w, stride, padding, dilation, groups):
    top, _, left, _ = padding
    return ref.conv2d_forward(x, w, stride, (top, 0, left, 0), dilation, groups)


def dilation_ignored(x, w, stride, padding, dilation, groups):
    return ref.conv2d_forward(x, w, stride, padding, (1, 1), groups)


def height_used_for_both_axes(x, w, stride, padding, dilation, groups):
    """Computes the output height and uses it for the width too (shows only when H != W)."""
    y = ref.conv2d_forward(x, w, stride, padding, dilation, groups)
    side = y.shape[2]
    out = np.zeros(y.shape[:2] + (side, side), dtype=y.dtype)
    common = min(side, y.shape[3])
    out[..., :common] = y[..., :common]
    return out


def stride_of_rows_for_columns(x, w, stride, padding, dilation, groups):
    return ref.conv2d_forward(x, w, (stride[0], stride[0]), padding, dilation, groups)[
        ..., :ref.conv2d_forward(x, w, stride, padding, dilation, groups).shape[3]].copy()






def forward_zeroes_its_input(x, w, stride, padding, dilation, groups):
    y = ref.conv2d_forward(x, w, stride, padding, dilation, groups)
    x[...] = 0
    return y


def batch_of_first_sample(x, w, stride, padding, dilation, groups):
    """Loops ``for n in range(1)``: only the first sample is computed (shows only when N > 1)."""
    y = np.zeros_like(ref.conv2d_forward(x, w, stride, padding, dilation, groups))
    y[:1] = ref.conv2d_forward(x[:1], w, stride, padding, dilation, groups)
    return y


def convolution_instead_of_correlation(x, w, stride, padding, dilation, groups):
    """The kernel flipped in the forward pass: a true convolution, as in a signal-processing
    course (deep learning's "convolution" is a correlation)."""
    return ref.conv2d_forward(x, rot180(w).copy(), stride, padding, dilation, groups)




# ---- assignment 2: the backward passes ------------------------------------------------------


def unreached_rows_not_zeroed(grad_y, w, x_shape, stride, padding, dilation, groups):
    """A gather into np.empty that writes only the input elements some window read: the others
    keep whatever was in memory (here 7). Shows when windows leave gaps (a stride larger than
    the kernel) or rows past the last window."""
    grad_x = ref.conv2d_backward_input(grad_y, w, x_shape, stride, padding, dilation, groups)
    reached = ref.conv2d_backward_input(np.ones_like(grad_y), np.ones_like(w), x_shape, stride,
                                        padding, dilation, groups) != 0
    return np.where(reached, grad_x, 7).astype(grad_x.dtype)


def groups_ignored_in_the_weight_gradient(x, grad_y, w_shape, stride, padding, dilation, groups):
    """Every output channel correlated with the first C_in/groups input channels."""
    c_group = w_shape[1]
    first_block = np.ascontiguousarray(x[:, :c_group])
    per_channel = [ref.conv2d_backward_weight(first_block, grad_y[:, o:o + 1].copy(),
                                              (1, *w_shape[1:]), stride, padding, dilation, 1)
                   for o in range(w_shape[0])]
    return np.concatenate(per_channel)




def crop_from_zero(grad_y, w, x_shape, stride, padding, dilation, groups):
    n, c, h, width = x_shape
    top, bottom, left, right = padding
    padded = ref.conv2d_backward_input(grad_y, w, (n, c, top + h + bottom, left + width + right),
                                       stride, (0, 0, 0, 0), dilation, groups)
    return padded[:, :, :h, :width].copy()




def batch_averaged(x, grad_y, w_shape, stride, padding, dilation, groups):
    return ref.conv2d_backward_weight(x, grad_y, w_shape, stride, padding, dilation,
                                      groups) / x.shape[0]




# ---- assignment 3: pooling ------------------------------------------------------------------


def indices_in_the_padded_plane(x, kernel, stride, padding, dilation, ceil_mode):
    """The argmax is the flat index row·W_padded + col in the *padded* plane, not the input's."""
    y, indices = ref.max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode)
    width, (top, _, left, right) = x.shape[3], padding
    rows, cols = np.divmod(indices, width)
    return y, ((rows + top) * (width + left + right) + cols + left).astype(np.int64)


def divisor_is_always_the_window_area(x, kernel, stride, padding, ceil_mode, count_include_pad):
    """count_include_pad taken as "divide by kH·kW": wrong for a ceil_mode window hanging past
    the padding (PyTorch clips that window to the padded input)."""
    if not count_include_pad:
        return ref.avg_pool2d_forward(x, kernel, stride, padding, ceil_mode, False)
    windows = list(pooling_solution._avg_windows(x.shape, kernel, stride, padding, ceil_mode,
                                                 True))
    y = np.empty(x.shape[:2] + (windows[-1][0] + 1, windows[-1][1] + 1), dtype=x.dtype)
    for i, j, rows, cols, _ in windows:
        y[:, :, i, j] = x[:, :, rows, cols].sum(axis=(2, 3)) / (kernel[0] * kernel[1])
    return y












def nothing_to_pool_returns_the_input(x, kernel, stride, padding, ceil_mode, count_include_pad):
    if kernel == (1, 1) and stride == (1, 1) and not any(padding):
        return x  # "a 1×1 window changes nothing": the output aliases the input
    return ref.avg_pool2d_forward(x, kernel, stride, padding, ceil_mode, count_include_pad)




#: (assignment, function, buggy version, property that must catch it, words the report must say)
CATALOGUE = [
    # assignment 1: conv2d_forward
    ("conv-forward", "conv2d_forward", planted.forward_accumulator_starts_at_one,
     "conv2d_forward", "every element off by the same shift (+1)"),
    ("conv-forward", "conv2d_forward", padding_on_one_side_only, "conv2d_forward", "shape"),
    ("conv-forward", "conv2d_forward", dilation_ignored, "conv2d_forward", "dilation > 1"),
    ("conv-forward", "conv2d_forward", height_used_for_both_axes, "conv2d_forward",
     "instead of"),
    ("conv-forward", "conv2d_forward", stride_of_rows_for_columns, "conv2d_forward", "stride"),
    ("conv-forward", "conv2d_forward", planted.forward_wrong_group_block, "conv2d_forward",
     "groups > 1"),
    ("conv-forward", "conv2d_forward", planted.forward_replaces_nan_by_zero,
     "conv2d_non_finite", "finite where PyTorch gives NaN or inf"),
    ("conv-forward", "conv2d_forward", forward_zeroes_its_input, "contract: conv2d_forward",
     "modified its argument 'x' in place"),
    ("conv-forward", "conv2d_forward", batch_of_first_sample, "conv2d_forward", "batch > 1"),
    ("conv-forward", "conv2d_forward", convolution_instead_of_correlation, "conv2d_forward",
     ""),
    ("conv-forward", "conv2d_forward", planted.forward_returns_float64,
     "contract: conv2d_forward", "dtype float64 for float32 inputs"),
    # assignment 2: the backward passes
    ("conv-backward", "conv2d_backward_input", unreached_rows_not_zeroed, "input_gradient", ""),
    ("conv-backward", "conv2d_backward_weight", groups_ignored_in_the_weight_gradient,
     "weight_gradient", "groups > 1"),
    ("conv-backward", "conv2d_backward_input", planted.input_gradient_not_rotated,
     "input_gradient", ""),
    ("conv-backward", "conv2d_backward_input", planted.input_gradient_not_rotated,
     "full_convolution_commutes", "rotated by 180°"),
    ("conv-backward", "conv2d_backward_input", crop_from_zero, "input_gradient",
     "padding > 0"),
    ("conv-backward", "conv2d_backward_weight", planted.weight_gradient_correlation_swapped,
     "weight_gradient", "rotated by 180°"),
    ("conv-backward", "conv2d_backward_weight", batch_averaged, "weight_gradient",
     "averaged instead of summed"),
    ("conv-backward", "conv2d_backward_weight", planted.weight_gradient_delta_not_dilated,
     "weight_gradient", "stride > 1"),
    # assignment 3: pooling
    ("pooling", "max_pool2d_forward", planted.max_pool_ties_to_last_index,
     "max_pool2d_forward", "a tie"),
    ("pooling", "avg_pool2d_forward", planted.avg_pool_always_counts_padding,
     "avg_pool2d_forward", "padding > 0"),
    ("pooling", "max_pool2d_backward", planted.max_pool_backward_overwrites,
     "max_pool2d_backward", ""),
    ("pooling", "avg_pool2d_backward", planted.avg_pool_backward_forgets_divisor,
     "avg_pool2d_backward", "multiplied by kH·kW"),
    ("pooling", "max_pool2d_forward", planted.max_pool_ignores_ceil_mode,
     "pool2d_output_shapes", "ceil_mode"),
    ("pooling", "avg_pool2d_forward", nothing_to_pool_returns_the_input,
     "contract: avg_pool2d_forward", "shares memory with its argument 'x'"),
    ("pooling", "max_pool2d_forward", planted.max_pool_skips_nan, "pool2d_non_finite",
     "NaN must win"),
    ("pooling", "max_pool2d_forward", indices_in_the_padded_plane, "max_pool2d_forward",
     "padding > 0"),
    ("pooling", "avg_pool2d_forward", divisor_is_always_the_window_area, "avg_pool2d_forward",
     "ceil_mode=True"),
]


def _grade(assignment_name, function, buggy, prop):
    assignment = load_assignment(assignment_name)
    bounds = Bounds(conv=assignment.bounds.get("conv", {}), pool=assignment.bounds.get("pool", {}))
    impl = grading.kernel_set_with({function: buggy})
    if prop.startswith("contract: "):
        (result,) = grading.contract_results(impl, [function], bounds=bounds)
    else:
        (result,) = grading.grade(impl, [prop], student_functions=[function], bounds=bounds)
    return result


def _report_words(result) -> str:
    from tinyconv.coursework.report import format_details

    return result.message + "\n" + format_details(result)


@pytest.mark.parametrize("assignment, function, buggy, prop, words", CATALOGUE,
                         ids=[f"{row[2].__name__}-{row[3]}" for row in CATALOGUE])
def test_bug_is_caught_blamed_and_explained_small(assignment, function, buggy, prop, words):
    result = _grade(assignment, function, buggy, prop)
    assert result.status == "failed", result
    assert result.function == function
    example = result.counterexample
    assert example is not None and example.function == function
    elements = sum(np.size(v) for v in example.arguments.values() if isinstance(v, np.ndarray))
    assert elements <= 48, f"counterexample of {elements} elements: {example.arguments}"
    assert words in _report_words(result) + " ".join(result.conditions), _report_words(result)


def test_the_catalogue_covers_every_function_of_the_kernel_assignments():
    covered = {(row[0], row[1]) for row in CATALOGUE}
    for name in ("conv-forward", "conv-backward", "pooling"):
        for function in load_assignment(name).functions:
            assert (name, function) in covered


# ---- assignment 5: the new op ---------------------------------------------------------------


class NaiveSoftplus(softplus_solution.SoftplusFunction):
    def forward(self, x):  # log(1 + e^x): e^1000 overflows to inf
        self.save_for_backward(x)
        return np.log(1 + np.exp(x))


class WrongDerivative(softplus_solution.SoftplusFunction):
    def backward(self, grad_output):  # e^x instead of σ(x)
        (x,) = self.saved
        return grad_output * np.exp(x)


def _op_module(function_class):
    import types

    return types.SimpleNamespace(softplus=lambda x: function_class.apply(x))


@pytest.mark.parametrize("function_class, prop", [(NaiveSoftplus, "op_large_values"),
                                                  (WrongDerivative, "op_gradcheck")])
def test_op_bugs_are_caught(function_class, prop):
    with np.errstate(all="ignore"):
        result = run_extra(prop, _op_module(function_class), {}, "quick", 0)
    assert result.status == "failed" and result.function == "softplus"
    assert np.size(result.counterexample.arguments["x"]) <= 8


def test_the_correct_op_passes_every_op_property():
    for prop in load_assignment("new-op").extras:
        result = run_extra(prop, softplus_solution, {}, "quick", 0)
        assert result.status == "passed", (prop, result.message)


# ---- correct solutions pass -----------------------------------------------------------------


@pytest.mark.parametrize("assignment_name", ["conv-backward", "pooling"])
def test_a_correct_solution_passes_every_property(assignment_name):
    from tinyconv.coursework.worker import _import_student, run_property

    assignment = load_assignment(assignment_name)
    module = _import_student(Path(__file__).parent / "solutions" / assignment.module)
    for name in assignment.property_names():
        row = run_property(name, assignment, module, "quick", 0)
        assert row["status"] == "passed", row["details"]
