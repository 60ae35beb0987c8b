"""The properties of an assignment that are not identities of the kernel contract: the measured
speed-up of Numba kernels over the student's own loops (assignment 4), a new differentiable op
(assignment 5), and training LeNet-5 with the student's kernels (assignment 7).

Each ``run_<name>(module, settings, profile, seed) -> PropertyResult`` is called by the worker
with the student's imported module and the extra's settings from ``grading.json``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinyconv.testing import grading
from tinyconv.testing.grading import Counterexample, PropertyResult, StudentError

__all__ = ["EXTRAS", "run_extra"]


def _result(name: str, statement: str, tutorial: str, seed: int) -> PropertyResult:
    return PropertyResult(name, statement, "passed", seed=seed, tutorial=tutorial)


# ------------------------------------------------------------------------------------------------
# Assignment 4: the speed-up over the student's loops
# ------------------------------------------------------------------------------------------------

def _best_time(function: Callable, args: tuple, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        function(*args)
        best = min(best, time.perf_counter() - started)
    return best


def run_speedup(module: Any, settings: dict, profile: str, seed: int) -> PropertyResult:
    """Time the three conv functions against the student's ``*_loops`` versions on one problem
    (after a warm-up call: compile time is not counted; best of several runs); pass from
    ``target``× on the three together."""
    target = settings.get("target", 10)
    result = _result("speedup", f"Numba kernels at least {target}× faster than your loops",
                     "kernels/cpu/conv.py (the readable Numba twin of kernels/reference.py)", seed)
    p = settings["problem"]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((p["batch"], p["c_in"], p["size"], p["size"])).astype(np.float32)
    w = rng.standard_normal((p["c_out"], p["c_in"], p["kernel"], p["kernel"])).astype(np.float32)
    out = p["size"] - p["kernel"] + 1
    grad_y = rng.standard_normal((p["batch"], p["c_out"], out, out)).astype(np.float32)
    options = ((1, 1), (0, 0, 0, 0), (1, 1), 1)
    arguments = {"conv2d_forward": (x, w, *options),
                 "conv2d_backward_input": (grad_y, w, x.shape, *options),
                 "conv2d_backward_weight": (x, grad_y, w.shape, *options)}
    repeats = 5 if profile == "quick" else 20
    fast_total = loops_total = 0.0
    lines = []
    for name, loops_name in settings["loops"].items():
        fast, loops = getattr(module, name, None), getattr(module, loops_name, None)
        if fast is None or loops is None:
            result.status, result.function = "failed", name if fast is None else loops_name
            result.message = f"{result.function} is missing from the module"
            return result
        for function, label in ((fast, name), (loops, loops_name)):
            try:
                function(*arguments[name])  # warm-up: Numba compiles here
            except Exception as error:  # noqa: BLE001 -- the student's bug
                student = StudentError(label, error)
                result.status, result.function = "crashed", label
                result.message, result.traceback = str(student), student.traceback
                return result
        fast_time = _best_time(fast, arguments[name], repeats)
        loops_time = _best_time(loops, arguments[name], max(1, repeats // 5))
        fast_total, loops_total = fast_total + fast_time, loops_total + loops_time
        lines.append(f"{name}: {fast_time * 1e3:.2f} ms, your loops {loops_time * 1e3:.1f} ms "
                     f"({loops_time / fast_time:.1f}×)")
    ratio = loops_total / fast_total
    lines.append(f"the three together: {ratio:.1f}× faster (target {target}×)")
    result.message = "\n".join(lines)
    result.statement += f": measured {ratio:.1f}×"
    if ratio < target:
        result.status = "failed"
    return result


# ------------------------------------------------------------------------------------------------
# Assignment 5: softplus, a new differentiable op
# ------------------------------------------------------------------------------------------------

def _softplus_expected(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x.astype(np.float64))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -x.astype(np.float64)))


def _op_property(name: str, statement: str, module: Any, profile: str, seed: int,
                 arrays: st.SearchStrategy, check: Callable[[Any, np.ndarray], None]
                 ) -> PropertyResult:
    """Run ``check(softplus, x)`` on drawn arrays; on failure the counterexample is the last
    (smallest) ``x`` with what ``check`` recorded as expected and received."""
    result = _result(name, statement, "tinyconv/ops.py (SigmoidFunction: a stable forward)", seed)
    softplus = getattr(module, "softplus", None)
    if softplus is None:
        result.status, result.message = "failed", "softplus.py defines no softplus function"
        return result
    seen: dict[str, Any] = {}

    def student_softplus(t):
        try:
            return softplus(t)
        except Exception as error:  # noqa: BLE001 -- the student's bug
            raise StudentError("softplus", error) from None

    def property_(x):
        seen.clear()
        seen["x"] = x
        check(student_softplus, x, seen)

    started = time.perf_counter()
    try:
        with np.errstate(all="ignore"):
            hypothesis_seed(seed)(grading.hypothesis_settings(profile)(given(arrays)(property_)))()
    except StudentError as error:
        result.status, result.function = "crashed", error.function
        result.message, result.traceback = str(error), error.traceback
        result.counterexample = Counterexample("softplus", {"x": seen.get("x")})
    except AssertionError as error:
        result.status, result.function, result.message = "failed", "softplus", str(error)
        expected, received = seen.get("expected"), seen.get("received")
        where, patterns = (None, [])
        if expected is not None and received is not None:
            where, patterns = grading.describe_difference("softplus", seen, expected, received)
        result.counterexample = Counterexample("softplus", {"x": seen["x"]}, expected, received,
                                               where, patterns)
    result.seconds = time.perf_counter() - started
    return result


def _values(dtype: str, low: float, high: float) -> st.SearchStrategy:
    return hnp.arrays(np.dtype(dtype), hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
                      elements=st.floats(low, high, width=32 if dtype == "float32" else 64))


def _tensor(x: np.ndarray, requires_grad: bool = False):
    import tinyconv as tc

    return tc.tensor(x, dtype=x.dtype, requires_grad=requires_grad)


def _compare(seen: dict, received: Any, expected: np.ndarray, what: str, dtype) -> None:
    received = np.asarray(received)
    seen["expected"], seen["received"] = expected, received
    tolerance = 8 * np.finfo(dtype).eps * (1 + np.abs(expected))
    same = (received == expected) | (np.isnan(received) & np.isnan(expected))
    if received.shape != expected.shape or not np.all(same | (np.abs(received - expected)
                                                              <= tolerance)):
        raise AssertionError(what)


def _check_forward(softplus, x, seen) -> None:
    y = softplus(_tensor(x))
    received = y.numpy()
    if received.dtype != x.dtype:
        seen["expected"], seen["received"] = None, None
        raise AssertionError(f"softplus returned {received.dtype} for a {x.dtype} input")
    _compare(seen, received, _softplus_expected(x), "softplus(x) != log(1 + e^x)", x.dtype)


def _check_large(softplus, x, seen) -> None:
    t = _tensor(x, requires_grad=True)
    y = softplus(t)
    _compare(seen, y.detach().numpy(), _softplus_expected(x), "softplus overflows for large |x|",
             x.dtype)
    try:
        y.sum().backward()  # runs the student's backward
    except Exception as error:  # noqa: BLE001 -- the student's bug
        raise StudentError("SoftplusFunction.backward", error) from None
    _compare(seen, t.grad.numpy(), _sigmoid(x), "the gradient of softplus overflows for large "
             "|x| (it is σ(x))", x.dtype)


def _check_gradcheck(softplus, x, seen) -> None:
    from tinyconv.testing import gradcheck

    y = softplus(_tensor(x.astype(np.float64), requires_grad=True))
    if not getattr(y, "requires_grad", False):
        raise AssertionError("softplus(x).requires_grad is False: apply the Function with "
                             "SoftplusFunction.apply(x)")
    try:
        gradcheck(softplus, (_tensor(x.astype(np.float64), requires_grad=True),))
    except StudentError:
        raise
    except AssertionError:  # GradcheckError: compare the gradient itself, for the report
        t = _tensor(x.astype(np.float64), requires_grad=True)
        softplus(t).sum().backward()
        _compare(seen, t.grad.numpy(), _sigmoid(x), "backward != σ(x)·δ (gradcheck: finite "
                 "differences disagree with your backward)", np.float64)
        raise


def _check_non_finite(softplus, x, seen) -> None:
    _compare(seen, softplus(_tensor(x)).numpy(), _softplus_expected(x),
             "softplus does not propagate NaN and ±inf as PyTorch does", x.dtype)


def _non_finite_arrays() -> st.SearchStrategy:
    return hnp.arrays(np.float64, st.integers(1, 6),
                      elements=st.sampled_from([np.nan, np.inf, -np.inf, 0.0, 1.0, -2.0]))


def run_op_forward(module: Any, settings: dict, profile: str, seed: int) -> PropertyResult:
    return _op_property("op_forward", "softplus(x) = log(1 + e^x), dtype kept", module, profile,
                        seed, st.sampled_from(["float32", "float64"]).flatmap(
                            lambda d: _values(d, -20, 20)), _check_forward)


def run_op_large_values(module: Any, settings: dict, profile: str, seed: int) -> PropertyResult:
    return _op_property("op_large_values", "no overflow for |x| up to 1000 (forward and "
                        "gradient)", module, profile, seed, _values("float64", -1000, 1000),
                        _check_large)


def run_op_gradcheck(module: Any, settings: dict, profile: str, seed: int) -> PropertyResult:
    return _op_property("op_gradcheck", "backward = σ(x)·δ, checked by finite differences",
                        module, profile, seed, _values("float64", -3, 3), _check_gradcheck)


def run_op_non_finite(module: Any, settings: dict, profile: str, seed: int) -> PropertyResult:
    return _op_property("op_non_finite", "softplus(NaN) = NaN, softplus(inf) = inf, "
                        "softplus(-inf) = 0", module, profile, seed, _non_finite_arrays(),
                        _check_non_finite)


# ------------------------------------------------------------------------------------------------
# Assignment 7: LeNet-5 trained with the student's kernels
# ------------------------------------------------------------------------------------------------

def run_training(module: Any, settings: dict, profile: str, seed: int) -> PropertyResult:
    """Register the module as a kernel set (its calls counted), run its ``train`` on LeNet-5,
    then measure the test accuracy with tinyconv's own kernels."""
    import tinyconv as tc
    from tinyconv.kernels.contract import CONTRACT_FUNCTIONS

    threshold = settings.get("accuracy", 0.9)
    result = _result("training", f"LeNet-5 trained with your kernels reaches "
                     f"{threshold:.0%} test accuracy", "tutorials/05_train_lenet5.py", seed)
    train = getattr(module, "train", None)
    if train is None:
        result.status, result.message = "failed", "the module defines no train(model, train_set)"
        return result
    calls = dict.fromkeys(CONTRACT_FUNCTIONS, 0)

    def counted(name):
        function = getattr(module, name)

        def call(*args):
            calls[name] += 1
            return function(*args)
        call.__name__ = name
        return call

    import types

    kernels = types.SimpleNamespace(**{name: counted(name) for name in CONTRACT_FUNCTIONS})
    tc.register_kernels("student", kernels)
    tc.manual_seed(settings.get("seed", seed))
    model = tc.models.lenet5()
    train_set = tc.data.digits(train=True, size=32)
    started = time.perf_counter()
    try:
        with tc.use_kernels("student"):
            train(model, train_set)
    except Exception as error:  # noqa: BLE001 -- the student's bug
        student = StudentError("train", error)
        result.status, result.function = "crashed", "train"
        result.message, result.traceback = str(student), student.traceback
        return result
    seconds = time.perf_counter() - started
    unused = [name for name in ("conv2d_forward", "conv2d_backward_input",
                                "conv2d_backward_weight") if not calls[name]]
    images, labels = tc.data.digits(train=False, size=32).tensors
    model.eval()
    with tc.no_grad():
        predicted = model(images).numpy().argmax(axis=1)
    accuracy = float((predicted == labels.numpy()).mean())
    result.message = (f"test accuracy {accuracy:.1%} after {seconds:.1f} s of training; kernel "
                      f"calls: " + ", ".join(f"{k} {v}" for k, v in calls.items() if v))
    result.statement += f": measured {accuracy:.1%}"
    if unused:
        result.status = "failed"
        result.message += f"\nyour {unused} were never called: train with your kernels active"
    elif accuracy < threshold:
        result.status = "failed"
    return result


#: Every extra property, by the name ``grading.json`` gives it.
EXTRAS: dict[str, Callable[..., PropertyResult]] = {
    "speedup": run_speedup,
    "op_forward": run_op_forward,
    "op_large_values": run_op_large_values,
    "op_gradcheck": run_op_gradcheck,
    "op_non_finite": run_op_non_finite,
    "training": run_training,
}


def run_extra(name: str, module: Any, settings: dict, profile: str, seed: int) -> PropertyResult:
    """Run extra property ``name`` on the student's ``module``."""
    return EXTRAS[name](module, settings, profile, seed)
