"""``tinyconv.testing.grading``: structured results, the watcher, the pattern finder, the profiles,
and the pieces they stand on (NaN-aware comparison, the new strategy options, non-finite values
propagating as in PyTorch)."""

import os
import types

import numpy as np
import pytest
from hypothesis import given, settings

from tinyconv.kernels import reference
from tinyconv.testing import checks, grading
from tinyconv.testing.strategies import (
    conv2d_configs,
    non_finite_cases,
    pool2d_cases,
    pool2d_configs,
)


def forward_plus_one(x, w, stride, padding, dilation, groups):
    return reference.conv2d_forward(x, w, stride, padding, dilation, groups) + 1


def forward_in_place(x, w, stride, padding, dilation, groups):
    y = reference.conv2d_forward(x, w, stride, padding, dilation, groups)
    x[...] = 0
    return y


def forward_raises(x, w, stride, padding, dilation, groups):
    if x.shape[2] != x.shape[3]:
        raise IndexError("index 3 is out of bounds for axis 2")
    return reference.conv2d_forward(x, w, stride, padding, dilation, groups)


def forward_wrong_with_stride(x, w, stride, padding, dilation, groups):
    """Ignores the stride: the stride-1 output, cut to the expected size."""
    y = reference.conv2d_forward(x, w, (1, 1), padding, dilation, groups)
    expected = reference.conv2d_forward(x, w, stride, padding, dilation, groups)
    return y[:, :, :expected.shape[2], :expected.shape[3]].copy()


def grade_forward(function, names=("conv2d_forward",)):
    impl = grading.kernel_set_with({"conv2d_forward": function})
    return grading.grade(impl, names, student_functions=("conv2d_forward",))


def test_a_wrong_forward_is_blamed_with_the_smallest_call_and_its_pattern():
    (result,) = grade_forward(forward_plus_one, ("linearity_in_input",))
    assert result.status == "failed" and result.function == "conv2d_forward"
    example = result.counterexample
    assert example.arguments["x"].size == 1 and example.arguments["w"].size == 1
    assert example.first_difference == (0, 0, 0, 0)
    assert len(example.patterns) == 1
    assert example.patterns[0].startswith("every element off by the same shift (+1)")


def test_same_failure_twice_gives_the_same_counterexample():
    first, second = (grade_forward(forward_wrong_with_stride)[0] for _ in range(2))
    assert first.status == second.status == "failed"
    for key, value in first.counterexample.arguments.items():
        np.testing.assert_array_equal(value, second.counterexample.arguments[key])


def test_a_bug_that_needs_a_stride_is_reported_as_such():
    (result,) = grade_forward(forward_wrong_with_stride)
    assert "stride > 1" in result.conditions
    assert "batch > 1" not in result.conditions


def test_modifying_an_input_is_a_contract_violation():
    (result,) = grade_forward(forward_in_place)
    assert result.status == "failed" and result.function == "conv2d_forward"
    assert "modified its argument 'x' in place" in result.message


def test_a_crash_keeps_the_students_traceback_and_arguments():
    (result,) = grade_forward(forward_raises)
    assert result.status == "crashed" and result.function == "conv2d_forward"
    assert "IndexError: index 3 is out of bounds" in result.traceback
    assert "forward_raises" in result.traceback and "testing/grading.py" not in result.traceback
    x = result.counterexample.arguments["x"]
    assert x.shape[2] != x.shape[3] and x.size <= 2


def test_contract_results_report_a_wrong_signature_and_a_view():
    def backward_input(grad_y, weight, x_shape, stride, padding, dilation, groups):
        raise NotImplementedError

    def avg_forward_view(x, kernel, stride, padding, ceil_mode, count_include_pad):
        return x[:, :, :1, :1] if kernel == (1, 1) and stride == (1, 1) and not any(padding) \
            else reference.avg_pool2d_forward(x, kernel, stride, padding, ceil_mode,
                                              count_include_pad)

    impl = grading.kernel_set_with({"conv2d_backward_input": backward_input,
                                    "avg_pool2d_forward": avg_forward_view})
    signature, view = grading.contract_results(impl, ("conv2d_backward_input",
                                                      "avg_pool2d_forward"))
    assert signature.status == "failed" and "'weight'" in signature.message
    assert view.status == "failed" and "shares memory with its argument 'x'" in view.message


def test_grading_ignores_the_loaded_profile_and_writes_no_database(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings.register_profile("one-example", max_examples=1)
    settings.load_profile("one-example")
    try:
        (result,) = grade_forward(forward_plus_one)
    finally:  # back to the suite's profile (tests/conftest.py)
        settings.load_profile(os.environ.get("TINYCONV_HYPOTHESIS", "ci"))
    assert result.status == "failed" and result.examples > 1
    (passed,) = grading.grade(reference, ["conv2d_forward"])
    assert passed.status == "passed" and passed.examples == grading.PROFILES["quick"]
    assert os.listdir(tmp_path) == []  # no .hypothesis/ example database


def test_describe_difference_names_the_usual_patterns():
    e = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    describe = grading.describe_difference
    assert "rotated by 180°" in describe("f", {}, e, e[..., ::-1, ::-1])[1][0]
    assert "transposed" in describe("f", {}, e, np.swapaxes(e, 2, 3))[1][0]
    border = e.copy()
    border[0, 0, 0, 0] = 7
    assert any("only border" in p for p in describe("f", {}, e, border)[1])
    batch = np.concatenate([e, e])
    assert "averaged instead of summed" in describe("f", {"x": batch}, batch, batch / 2)[1][0]
    where, patterns = describe("f", {}, e, np.where(e == 5, np.nan, e))
    assert where == (0, 0, 1, 1) and "NaN or inf where the result is finite" in patterns


def test_ties_in_max_pooling_are_explained():
    x = np.array([[[[1.0, 3.0, 3.0, 0.0]]]])
    expected = reference.max_pool2d_forward(x, (1, 4), (1, 4), (0, 0, 0, 0), (1, 1), False)
    received = (expected[0], np.array([[[[2]]]]))
    where, patterns = grading.describe_difference("max_pool2d_forward", {"x": x}, expected,
                                                  received)
    assert where == (0, 0, 0, 0) and "a tie" in patterns[0] and "a later one" in patterns[0]


def test_assert_close_treats_equal_non_finite_values_as_equal():
    values = np.array([np.nan, np.inf, -np.inf, 1.0])
    checks.assert_close(values, values.copy(), bound=np.abs(values), dtype="float64", what="same")
    with pytest.raises(AssertionError, match="1 of 4 entries wrong"):
        checks.assert_close(np.array([np.nan, np.inf, 1.0, 1.0]), values, bound=1.0,
                            dtype="float64", what="inf vs -inf")


@given(conv2d_configs(square=True, stride_within_kernel=True, max_stride=4))
def test_square_and_stride_within_kernel_conv_configs(config):
    assert config.height == config.width
    assert all(s <= k for s, k in zip(config.stride, config.kernel, strict=True))


@given(pool2d_configs(square=True))
def test_square_pool_configs(config):
    assert config.height == config.width


@given(non_finite_cases(pool2d_cases()))
def test_non_finite_cases_hold_nan_or_inf(case):
    assert not np.isfinite(case.x).all() and not np.isfinite(case.grad_y).all()


def test_reference_kernels_propagate_non_finite_values_as_pytorch_does():
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle for non-finite values")
    x = np.array([[[[1.0, np.inf, 2.0, np.nan], [0.0, -np.inf, 3.0, 1.0]]]])
    w = np.array([[[[0.0, 1.0], [2.0, 0.0]]]])
    with np.errstate(invalid="ignore"):  # inf · 0
        ours = reference.conv2d_forward(x, w, (1, 1), (1, 1, 1, 1), (1, 1), 1)
    theirs = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1)
    np.testing.assert_array_equal(ours, theirs.numpy())
    y, indices = reference.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), False)
    t_y, t_indices = torch.nn.functional.max_pool2d(torch.from_numpy(x), 2, return_indices=True)
    np.testing.assert_array_equal(y, t_y.numpy())
    np.testing.assert_array_equal(indices, t_indices.numpy())


def test_partial_kernel_sets_take_the_rest_from_the_reference():
    impl = grading.kernel_set_with({"conv2d_forward": forward_plus_one})
    assert impl.conv2d_forward is forward_plus_one
    assert impl.avg_pool2d_backward is reference.avg_pool2d_backward
    assert isinstance(impl, types.SimpleNamespace)


def test_a_forward_bug_is_not_blamed_on_the_backward_pass():
    """adjoint_input calls the forward and the input gradient: with only the forward wrong, the
    report must send the student to the forward."""
    impl = grading.kernel_set_with({"conv2d_forward": forward_plus_one})
    (result,) = grading.grade(impl, ["adjoint_input"])  # every function is the student's
    assert result.status == "failed" and result.function == "conv2d_forward"
