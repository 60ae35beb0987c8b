"""Every public op, layer, optimizer and scheduler refuses bad input with a clear exception.

All cases of the tables in ``error_inputs.py`` run in ONE child process (see ``harness.py``):
a case that crashes the interpreter or hangs fails, without taking the test run down with it.
The coverage tests fail when a public name has no bad inputs in the tables, so a new op or layer
cannot be added without them.
"""

from __future__ import annotations

import inspect

import pytest

import tinyconv as tc
from tests.fuzz import error_inputs
from tests.fuzz.harness import ErrorInput, run_cases

TABLES = {"functional": error_inputs.FUNCTIONAL, "modules": error_inputs.MODULES,
          "optimizers": error_inputs.OPTIMIZERS, "schedulers": error_inputs.SCHEDULERS,
          "tensor": error_inputs.TENSOR}
CASES: list[ErrorInput] = [case for table in TABLES.values() for cases in table.values()
                           for case in cases]


@pytest.fixture(scope="module")
def outcomes() -> dict:
    """Each case's outcome, from one child process for all of them."""
    codes = [case.code for case in CASES]
    return dict(zip(codes, run_cases(codes), strict=True))


def _marks(case: ErrorInput) -> list:
    reason = error_inputs.KNOWN_GAPS.get(case.code)
    return [pytest.mark.xfail(reason=reason, strict=False)] if reason else []


@pytest.mark.parametrize("case", [pytest.param(case, id=case.code, marks=_marks(case))
                                  for case in CASES])
def test_bad_input_raises_a_clear_error(case: ErrorInput, outcomes: dict):
    outcome = outcomes[case.code]
    assert outcome.type != "ChildDied", f"{case.code} crashed or hung: {outcome.message}"
    assert outcome.type is not None, f"{case.code} raised nothing ({outcome.message})"
    expected = case.error.__name__
    assert outcome.type == expected, \
        f"{case.code} raised {outcome.type}: {outcome.message} (at {outcome.where}); " \
        f"expected {expected}"
    assert case.match in outcome.message, \
        f"{case.code}: message {outcome.message!r} lacks {case.match!r}"


def test_every_case_is_listed_once():
    codes = [case.code for case in CASES]
    assert len(codes) == len(set(codes))
    assert set(error_inputs.KNOWN_GAPS) <= set(codes), "a known gap without its case"


# --- coverage: every public name has bad inputs ------------------------------------------------


def test_every_functional_op_has_error_inputs():
    missing = set(tc.nn.functional.__all__) - set(error_inputs.FUNCTIONAL)
    assert not missing, f"add bad inputs for tc.nn.functional.{sorted(missing)} to error_inputs.py"


def test_every_layer_has_error_inputs():
    public = {name for name, value in vars(tc.nn).items()
              if inspect.isclass(value) and issubclass(value, (tc.nn.Module, tc.Tensor))}
    missing = public - set(error_inputs.MODULES)
    assert not missing, f"add bad inputs for tc.nn.{sorted(missing)} to error_inputs.py"


def test_every_optimizer_and_scheduler_has_error_inputs():
    optimizers = {name for name in tc.optim.__all__ if inspect.isclass(getattr(tc.optim, name))}
    scheduler_module = tc.optim.lr_scheduler
    schedulers = {name for name, value in vars(scheduler_module).items()
                  if inspect.isclass(value) and value.__module__ == scheduler_module.__name__}
    assert not optimizers - set(error_inputs.OPTIMIZERS), optimizers - set(error_inputs.OPTIMIZERS)
    assert not schedulers - set(error_inputs.SCHEDULERS), schedulers - set(error_inputs.SCHEDULERS)


# modules of tinyconv whose functions the top-level namespace re-exports but that are not tensor
# ops, with where their bad inputs are tested
NOT_TENSOR_OPS = {
    "tinyconv.serialization": "the loaders: tests/test_serialization.py and tests/interop",
    "tinyconv.model_summary": "tc.summary: tests/test_summary.py",
    "tinyconv.backend": "devices and kernel sets: tests/test_devices.py, tests/kernels",
    "tinyconv.autograd": "grad modes: tests/test_autograd.py",
}


def test_every_tensor_function_has_error_inputs():
    public = {name for name in dir(tc) if not name.startswith("_")
              and inspect.isfunction(getattr(tc, name))
              and getattr(tc, name).__module__.startswith("tinyconv")
              and getattr(tc, name).__module__ not in NOT_TENSOR_OPS}
    missing = public - set(error_inputs.TENSOR)
    assert not missing, f"add bad inputs for tc.{sorted(missing)} to error_inputs.py"
