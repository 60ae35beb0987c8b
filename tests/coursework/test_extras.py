"""The properties that are not kernel identities: the measured speed-up (assignment 4) and
LeNet-5 trained with the student's kernels (assignment 7), on correct solutions and on the bugs
that matter there (no speed-up at all; training that never uses the student's kernels)."""

import types

from tinyconv.coursework import load_assignment
from tinyconv.coursework.extras import run_extra
from tinyconv.coursework.report import format_details

from .solutions import fast_conv, train_lenet5


def test_a_real_speed_up_is_measured_and_passes():
    # the solution is ~100-400x faster on a quiet machine; a target of 2x (not the assignment's
    # 10x) keeps this a test of the grader, not of how busy the CI machine is
    settings = {**load_assignment("numba-speedup").extras["speedup"], "target": 2}
    result = run_extra("speedup", fast_conv, settings, "quick", 0)
    assert result.status == "passed", result.message
    assert "measured" in result.statement and "your loops" in result.message
    assert "(target 2×)" in result.message


def test_no_speed_up_fails_with_the_measured_figure():
    slow = types.SimpleNamespace(**{name: getattr(fast_conv, name) for name in dir(fast_conv)
                                    if name.startswith("conv2d")})
    for name in ("conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight"):
        setattr(slow, name, getattr(fast_conv, f"{name}_loops"))  # "fast" = the loops again
    settings = load_assignment("numba-speedup").extras["speedup"]
    result = run_extra("speedup", slow, settings, "quick", 0)
    assert result.status == "failed"
    assert "the three together" in format_details(result)


def test_lenet5_trained_with_the_students_kernels_reaches_the_threshold():
    settings = load_assignment("lenet5-training").extras["training"]
    result = run_extra("training", train_lenet5, settings, "quick", 0)
    assert result.status == "passed", result.message
    assert "conv2d_backward_weight" in result.message  # the student's kernels were called


def test_training_that_bypasses_the_students_kernels_fails():
    import tinyconv as tc

    def train(model, train_set):
        with tc.use_kernels("cpu"):  # tinyconv's kernels instead of the student's
            images, labels = train_set.tensors
            tc.nn.functional.cross_entropy(model(images[:8]), labels[:8]).backward()

    module = types.SimpleNamespace(**{name: getattr(train_lenet5, name)
                                      for name in dir(train_lenet5) if "2d" in name},
                                   train=train)
    result = run_extra("training", module, {"accuracy": 0.9}, "quick", 0)
    assert result.status == "failed" and "were never called" in result.message
