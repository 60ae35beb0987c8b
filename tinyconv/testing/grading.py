"""Grading: run identities on a kernel set and say, per property, what happened and why.

Three levels, each built on the one before:

- :func:`run_identity` checks one identity under hypothesis and raises the check's
  ``AssertionError`` (or the kernel's own exception) on the smallest failing example;
- :func:`run_all` runs several and raises one ``AssertionError`` listing every failure;
- :func:`grade` returns one :class:`PropertyResult` per property, for partial credit: ``passed``,
  ``failed`` (with a :class:`Counterexample`), ``crashed`` (with the student's traceback) or
  ``skipped``. It watches every call the checks make to the student's functions, so it also
  catches a function that modifies its inputs or returns a view of one, and it names the function
  at fault: after a failure it replays each recorded call of the smallest failing example against
  the reference kernels, and the first call that differs is the one shown (its arguments, the
  expected and received outputs, where and how they differ). Then it asks hypothesis whether the
  property still fails without each unusual feature of that example (a stride, padding, a second
  sample, H ≠ W ...) and reports, e.g., "wrong only when stride > 1".

Hypothesis runs with the library's own profiles (:data:`PROFILES`: ``quick`` and ``thorough``),
never with whatever profile happens to be loaded: no example database (one student's failures are
never replayed on the next student's module), no ``.hypothesis/`` folder, no deadline, and an
explicit seed, so the same failure gives the same counterexample every time. (The time and memory
limits, and surviving a kernel that hangs or crashes the interpreter, are the job of the process
that runs this: ``tinyconv grade``, :mod:`tinyconv.coursework.runner`.)

A course's own pytest file can still use the first level::

    @pytest.mark.parametrize("name", ["conv2d_forward", "input_gradient"])
    def test_identity(name):
        grading.run_identity(name, student_kernels, reference=reference)
"""

from __future__ import annotations

import inspect
import time
import traceback
import types
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from tinyconv.kernels import reference as reference_kernels
from tinyconv.kernels.contract import CONTRACT_FUNCTIONS, KernelSet, check_kernel_set
from tinyconv.testing import checks
from tinyconv.testing.identities import IDENTITIES, IDENTITY_NAMES, Bounds, Identity
from tinyconv.testing.strategies import conv2d_cases, pool2d_cases

__all__ = [
    "PROFILES",
    "ContractViolation",
    "Counterexample",
    "PropertyResult",
    "StudentError",
    "contract_results",
    "describe_difference",
    "grade",
    "hypothesis_settings",
    "kernel_set_with",
    "run_all",
    "run_identity",
]

#: The grading profiles: how many examples each property draws.
PROFILES = {"quick": 30, "thorough": 400}

#: Examples drawn when asking "does it still fail without this feature?".
CONDITION_EXAMPLES = {"quick": 25, "thorough": 150}


def hypothesis_settings(profile: str = "quick", *, max_examples: int | None = None,
                        shrink: bool = True) -> settings:
    """The hypothesis settings of a grading profile (independent of any loaded profile).

    No example database (nothing written to disk, nothing shared between submissions), no
    deadline (a first call may compile a Numba kernel), one bug reported, no "explain" phase (it
    re-runs the test many times to say which lines ran, which tells a student nothing the
    smallest example does not), and ``shrink=False`` stops at the first failure.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown grading profile {profile!r}; expected one of {list(PROFILES)}")
    skipped = {Phase.explain} if shrink else {Phase.explain, Phase.shrink}
    return settings(max_examples=max_examples or PROFILES[profile], database=None, deadline=None,
                    derandomize=False, print_blob=False, report_multiple_bugs=False,
                    phases=[phase for phase in Phase if phase not in skipped],
                    suppress_health_check=list(HealthCheck))


# ================================================================================================
# Watching the student's functions
# ================================================================================================

class ContractViolation(AssertionError):
    """A kernel broke the contract: it modified an input in place, or returned a view of one."""

    def __init__(self, function: str, message: str):
        super().__init__(message)
        self.function = function


class StudentError(Exception):
    """A kernel raised an exception; ``traceback`` shows the student's frames only."""

    def __init__(self, function: str, error: BaseException):
        self.function = function
        self.error = error
        self.traceback = _student_traceback(error)
        super().__init__(f"{function} raised {type(error).__name__}: {error}")


def _student_traceback(error: BaseException) -> str:
    """The traceback of ``error`` from the student's function down to the line that raised,
    without the grader's frames (the first, the wrapper) or library internals below the
    student's last line."""
    frames = traceback.extract_tb(error.__traceback__)[1:]
    inside = [f for f in frames if "site-packages" not in f.filename
              and "/lib/python" not in f.filename]
    lines = traceback.format_list(inside or frames)
    return ("Traceback (most recent call last):\n" + "".join(lines)
            + "".join(traceback.format_exception_only(type(error), error)))


def _parameters(name: str) -> list[str]:
    """The contract's parameter names of function ``name``."""
    return list(inspect.signature(getattr(KernelSet, name)).parameters)[1:]


@dataclass
class Call:
    """One recorded call of a student function: a copy of its arguments, and its result."""

    function: str
    args: tuple
    kwargs: dict
    result: Any

    def named_arguments(self) -> dict[str, Any]:
        """Every argument under the contract's parameter name."""
        return {**dict(zip(_parameters(self.function), self.args, strict=False)), **self.kwargs}


def _arrays_in(value: Any) -> list[np.ndarray]:
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, tuple):
        return [v for v in value if isinstance(v, np.ndarray)]
    return []


def _unchanged(before: np.ndarray, after: np.ndarray) -> bool:
    if before.shape != after.shape:
        return False
    if before.dtype.kind == "f":
        return bool(np.array_equal(before, after, equal_nan=True))
    return bool(np.array_equal(before, after))


class _Watcher:
    """Wraps the student's functions: records each call, and turns an exception, an input
    modified in place or an output that is a view of an input into a clear error."""

    def __init__(self, impl: Any, student_functions: Iterable[str]):
        self.calls: list[Call] = []
        self.student_functions = tuple(student_functions)
        functions = {name: getattr(impl, name) for name in CONTRACT_FUNCTIONS
                     if callable(getattr(impl, name, None))}
        for name in self.student_functions:
            functions[name] = self._watch(name, functions[name])
        self.kernels = types.SimpleNamespace(__name__=getattr(impl, "__name__", "student"),
                                             **functions)

    def _watch(self, name: str, function: Callable) -> Callable:
        names = _parameters(name)

        def watched(*args, **kwargs):
            originals = {**dict(zip(names, args, strict=False)), **kwargs}
            copies = {k: np.array(v, copy=True) for k, v in originals.items()
                      if isinstance(v, np.ndarray)}
            positional = tuple(copies.get(k, v) for k, v in zip(names, args, strict=False))
            call = Call(name, positional, {k: copies.get(k, v) for k, v in kwargs.items()}, None)
            self.calls.append(call)  # before the call: a crash keeps its arguments
            try:
                result = function(*args, **kwargs)
            except Exception as error:  # noqa: BLE001 -- the student's bug, reported as such
                raise StudentError(name, error) from None
            call.result = result
            for key, copy in copies.items():
                if not _unchanged(copy, originals[key]):
                    raise ContractViolation(name, f"{name} modified its argument {key!r} in "
                                                  "place; a kernel must leave its inputs as they "
                                                  "were (compute into a new array)")
            for out in _arrays_in(result):
                for key, value in originals.items():
                    if isinstance(value, np.ndarray) and np.shares_memory(out, value):
                        raise ContractViolation(name, f"{name} returned an array that shares "
                                                      f"memory with its argument {key!r}; return "
                                                      "a new array (e.g. .copy())")
            return result

        watched.__name__ = name
        return watched


def kernel_set_with(functions: dict[str, Callable], base: Any = reference_kernels,
                    name: str = "student") -> types.SimpleNamespace:
    """A complete kernel set: ``functions`` (a student's, for part of the contract) and the rest
    from ``base``. This is how an assignment that covers only some contract functions is graded
    without anyone assembling a full module."""
    complete = {f: getattr(base, f) for f in CONTRACT_FUNCTIONS}
    complete.update(functions)
    return types.SimpleNamespace(__name__=name, **complete)


# ================================================================================================
# Level 1 and 2: raise on failure
# ================================================================================================

def _property(identity: Identity, impl: Any, reference: Any,
              before_each: Callable[[], None] | None = None) -> Callable:
    """The check of ``identity`` as a one-argument function (the drawn arguments tuple)."""
    def check_identity(arguments):
        if before_each is not None:
            before_each()
        if identity.needs_reference:
            identity.check(impl, reference, *arguments)
        else:
            identity.check(impl, *arguments)
    return check_identity


def _run(identity: Identity, impl: Any, reference: Any, bounds: Bounds, hypothesis: settings,
         seed: int, before_each: Callable[[], None] | None = None) -> None:
    test = given(identity.arguments(bounds))(_property(identity, impl, reference, before_each))
    with np.errstate(all="ignore"):  # NaN and inf are drawn on purpose: no warnings about them
        hypothesis_seed(seed)(hypothesis(test))()


def run_identity(name: str, impl: Any, *, reference: Any = None, bounds: Bounds | None = None,
                 profile: str = "quick", max_examples: int | None = None, shrink: bool = True,
                 seed: int = 0) -> None:
    """Check one identity on ``impl`` with hypothesis-drawn arguments.

    Raises the check's ``AssertionError`` (or the kernel's own exception) for the smallest failing
    example; hypothesis adds that example to the error's notes. ``profile`` and ``max_examples``
    set how many examples are drawn, ``seed`` which ones; ``shrink=False`` skips shrinking (faster
    when you only need to know *that* it fails). ``reference`` is required by the identities that
    compare with a reference kernel set (``matches_reference``, ``*_non_finite``).
    """
    identity = IDENTITIES[name]
    if identity.needs_reference and reference is None:
        raise ValueError(f"identity {name!r} compares with a reference: pass reference=...")
    _run(identity, impl, reference, bounds or Bounds(),
         hypothesis_settings(profile, max_examples=max_examples, shrink=shrink), seed)


def run_all(impl: Any, *, reference: Any = None, bounds: Bounds | None = None,
            profile: str = "quick", max_examples: int | None = None,
            names: Sequence[str] | None = None, shrink: bool = True, seed: int = 0) -> list[str]:
    """Run every identity (or those in ``names``) on ``impl``; return the names that passed.

    The identities that compare with a reference run only when ``reference`` is given; the other
    arguments are passed to :func:`run_identity`. Raises one ``AssertionError`` listing each
    failing identity with its statement, message and falsifying example.
    """
    checks.check_has_contract_functions(impl)
    if names is None:
        names = tuple(n for n in IDENTITY_NAMES
                      if reference is not None or not IDENTITIES[n].needs_reference)
    passed, failures = [], []
    for name in names:
        try:
            run_identity(name, impl, reference=reference, bounds=bounds, profile=profile,
                         max_examples=max_examples, shrink=shrink, seed=seed)
        except Exception as error:  # noqa: BLE001 -- a kernel that crashes fails too
            example = "\n".join(getattr(error, "__notes__", []))  # hypothesis's falsifying example
            failures.append(f"- {name} ({IDENTITIES[name].statement}): "
                            f"{type(error).__name__}: {error}\n{example}")
        else:
            passed.append(name)
    if failures:
        raise AssertionError(f"{len(failures)} of {len(names)} identities failed:\n"
                             + "\n".join(failures))
    return passed


# ================================================================================================
# Level 3: structured results
# ================================================================================================

@dataclass
class Counterexample:
    """The smallest failing call of the student function at fault.

    ``arguments`` maps the contract's parameter names to the values passed; ``expected`` and
    ``received`` are the reference's and the student's results (``None`` when the failure is not
    a wrong value: an exception, a modified input); ``first_difference`` is the first index where
    they differ; ``patterns`` say how they differ ("every element off by the same shift (+1)").
    """

    function: str
    arguments: dict[str, Any]
    expected: Any = None
    received: Any = None
    first_difference: tuple[int, ...] | None = None
    patterns: list[str] = field(default_factory=list)


@dataclass
class PropertyResult:
    """What happened to one property.

    ``status``: ``"passed"``, ``"failed"``, ``"crashed"`` (the student's code raised; see
    ``traceback``), ``"timed out"`` (set by the process runner) or ``"skipped"``. ``function`` is
    the student function at fault, ``message`` the check's own explanation, ``conditions`` the
    features without which the property passed ("stride > 1").
    """

    name: str
    statement: str
    status: str
    seed: int = 0
    examples: int = 0
    seconds: float = 0.0
    tutorial: str = ""
    function: str | None = None
    message: str = ""
    counterexample: Counterexample | None = None
    conditions: list[str] = field(default_factory=list)
    traceback: str | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def grade(impl: Any, names: Sequence[str], *, student_functions: Sequence[str] | None = None,
          reference: Any = reference_kernels, bounds: Bounds | None = None,
          profile: str = "quick", seed: int = 0,
          on_result: Callable[[PropertyResult], None] | None = None) -> list[PropertyResult]:
    """Run the identities ``names`` on ``impl``; one :class:`PropertyResult` each.

    ``impl`` is a complete kernel set (see :func:`kernel_set_with` for a partial one);
    ``student_functions`` are the functions written by the student (default: all seven): only
    they are watched and blamed. ``on_result`` is called as each result is ready.
    """
    student_functions = tuple(student_functions or CONTRACT_FUNCTIONS)
    bounds = bounds or Bounds()
    results = []
    for name in names:
        result = _grade_one(IDENTITIES[name], impl, student_functions, reference, bounds, profile,
                            seed)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def contract_results(impl: Any, student_functions: Sequence[str], *, bounds: Bounds | None = None,
                     profile: str = "quick", seed: int = 0) -> list[PropertyResult]:
    """The contract of each student function, before any identity: present and callable with the
    contract's parameters, and on drawn problems returning NumPy arrays of the right shape and
    dtype, freshly allocated, with its inputs left unmodified. One result per function, named
    ``contract: <function>``."""
    bounds = bounds or Bounds()
    results = []
    for function in student_functions:
        identity = Identity(
            name=f"contract: {function}",
            check=lambda kernels, case, function=function: checks.check_contract(
                kernels, function, case),
            arguments=lambda b, function=function: _contract_cases(function, b),
            statement=f"{function}({', '.join(_parameters(function))}) returns fresh arrays of "
                      "the right shape and dtype and leaves its inputs alone",
            functions=(function,), tutorial="kernels/contract.py")
        try:
            check_kernel_set(getattr(impl, "__name__", "student"),
                             kernel_set_with({function: getattr(impl, function, None)}))
        except TypeError as error:
            results.append(PropertyResult(identity.name, identity.statement, "failed", seed=seed,
                                          function=function, message=str(error),
                                          tutorial=identity.tutorial))
            continue
        results.append(_grade_one(identity, impl, (function,), reference_kernels, bounds,
                                  profile, seed, find_conditions=False))
    return results


def _contract_cases(function: str, bounds: Bounds) -> st.SearchStrategy:
    if function in checks.CONV_FUNCTIONS:
        cases = conv2d_cases(**bounds.conv)
    elif function.startswith("avg"):
        cases = pool2d_cases(**{**bounds.pool, "allow_dilation": False})
    else:
        cases = pool2d_cases(**bounds.pool)
    return cases.map(lambda case: (case,))


def _grade_one(identity: Identity, impl: Any, student_functions: tuple[str, ...], reference: Any,
               bounds: Bounds, profile: str, seed: int,
               find_conditions: bool = True) -> PropertyResult:
    result = PropertyResult(identity.name, identity.statement, "passed", seed=seed,
                            tutorial=identity.tutorial)
    involved = [f for f in identity.functions if f in student_functions]
    if not involved:
        result.status = "skipped"
        result.message = "calls none of the functions of this assignment"
        return result
    watcher = _Watcher(impl, student_functions)
    counter = {"examples": 0}

    def before_each():
        counter["examples"] += 1
        watcher.calls.clear()

    started = time.perf_counter()
    try:
        _run(identity, watcher.kernels, reference, bounds, hypothesis_settings(profile), seed,
             before_each)
    except StudentError as error:
        result.status, result.function = "crashed", error.function
        result.message = str(error)
        result.traceback = error.traceback
        calls = [c for c in watcher.calls if c.function == error.function]
        if calls:  # the last call of the function is the one that raised
            result.counterexample = Counterexample(error.function, calls[-1].named_arguments())
    except ContractViolation as error:
        result.status, result.function, result.message = "failed", error.function, str(error)
        calls = [c for c in watcher.calls if c.function == error.function]
        if calls:
            result.counterexample = Counterexample(error.function, calls[-1].named_arguments())
    except AssertionError as error:
        result.status, result.message = "failed", str(error)
        result.counterexample = _blame(watcher.calls, reference)
        result.function = (result.counterexample.function if result.counterexample
                           else involved[0] if len(involved) == 1 else None)
        calls = [c for c in watcher.calls if c.function == result.function]
        if result.counterexample is None and calls:  # right values, wrong dtype or type
            result.counterexample = Counterexample(result.function, calls[-1].named_arguments())
    result.examples = counter["examples"]
    if result.status != "passed" and find_conditions and result.counterexample is not None:
        result.conditions = _conditions(identity, watcher.kernels, reference, bounds, profile,
                                        seed, result.counterexample)
    result.seconds = time.perf_counter() - started
    return result


def _blame(calls: list[Call], reference: Any) -> Counterexample | None:
    """The first recorded call whose result differs from the reference's, as a counterexample."""
    for call in calls:
        try:
            checks.compare_with_reference(call.function, reference, call.args, call.kwargs,
                                          call.result)
        except AssertionError:
            expected = getattr(reference, call.function)(*call.args, **call.kwargs)
            arguments = call.named_arguments()
            where, patterns = describe_difference(call.function, arguments, expected,
                                                  call.result)
            return Counterexample(call.function, arguments, expected, call.result, where,
                                  patterns)
    return None


# ------------------------------------------------------------------------------------------------
# How two results differ
# ------------------------------------------------------------------------------------------------

def _first_difference(expected: np.ndarray, received: np.ndarray) -> tuple[int, ...] | None:
    e, r = np.asarray(expected, np.float64), np.asarray(received, np.float64)
    different = ~((e == r) | (np.isnan(e) & np.isnan(r)) | (np.abs(e - r) <= 1e-5 * np.abs(e)))
    if not different.any():
        return None
    return tuple(int(i) for i in np.argwhere(different)[0])


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True))


def describe_difference(function: str, arguments: dict[str, Any], expected: Any,
                        received: Any) -> tuple[tuple[int, ...] | None, list[str]]:
    """``(first differing index, patterns)`` between the reference's and the student's result.

    The patterns are the ones students produce: a wrong shape (H and W swapped?), NaN or inf
    where there should be none (or none where PyTorch has them), every element off by the same
    shift, scaled by one factor (a divisor forgotten, the batch averaged), the result rotated by
    180° (a kernel not flipped, correlation arguments swapped), transposed, shifted by a row or
    a column, wrong only on the border, only in samples after the first, or, for max pooling,
    a tie resolved to a later maximum.
    """
    if function == "max_pool2d_forward":
        return _describe_max_pool(arguments, expected, received)
    e = np.asarray(expected, np.float64)
    r = np.asarray(received, np.float64)
    if e.shape != r.shape:
        patterns = [f"shape {r.shape} instead of {e.shape}"]
        if r.ndim == e.ndim >= 2 and r.shape[-2:] == e.shape[-2:][::-1]:
            patterns.append("the last two axes are swapped (H and W transposed?)")
        return None, patterns
    where = _first_difference(e, r)
    patterns = []
    e_bad, r_bad = ~np.isfinite(e), ~np.isfinite(r)
    if (e_bad & ~r_bad).any():
        patterns.append("finite where PyTorch gives NaN or inf: non-finite inputs must "
                        "propagate (inf·0 = NaN, anything + NaN = NaN)")
    if (r_bad & ~e_bad).any():
        patterns.append("NaN or inf where the result is finite")
    both = e_bad & r_bad & ~((e == r) | (np.isnan(e) & np.isnan(r)))
    if both.any():
        i = tuple(np.argwhere(both)[0])
        patterns.append(f"a different non-finite value: {r[i]} where PyTorch gives {e[i]} "
                        "(NaN must win over ±inf)")
    if patterns or where is None:
        return where, patterns
    if not np.any(r) and np.any(e):
        return where, ["all zeros (is the result ever written?)"]
    difference = r - e
    nonzero = np.abs(e) > 1e-9
    factor = r[nonzero].flat[0] / e[nonzero].flat[0] if nonzero.any() else 1.0
    scaled = factor != 1 and _close(r, factor * e)
    scaled_text = _scaled(factor, function, arguments) if scaled else ""
    # With a constant result a shift and a factor both fit: a factor with a meaning wins.
    shifted = _close(difference, np.full_like(difference, difference.flat[0]))
    if scaled and ":" in scaled_text:
        patterns.append(scaled_text)
    elif shifted and scaled:  # a constant result: one number cannot tell the two apart
        patterns.append(f"every element off by the same shift ({difference.flat[0]:+g}), or "
                        f"scaled by the same factor ({factor:.4g})")
    elif shifted:
        patterns.append(f"every element off by the same shift ({difference.flat[0]:+g})")
    elif scaled:
        patterns.append(scaled_text)
    if e.ndim >= 2:
        if _close(r, e[..., ::-1, ::-1]):
            patterns.append("rotated by 180° (a kernel not flipped, or the two arguments of a "
                            "correlation swapped)")
        if e.shape[-1] == e.shape[-2] and _close(r, np.swapaxes(e, -1, -2)):
            patterns.append("transposed (rows and columns swapped)")
        patterns.extend(_shifted(e, r))
        wrong = ~((e == r) | np.isclose(e, r, rtol=1e-5, atol=1e-6))
        interior = wrong[..., 1:-1, 1:-1]
        if e.shape[-2] > 2 and e.shape[-1] > 2 and not interior.any():
            patterns.append("only border elements wrong (padding, or the first/last "
                            "row/column of a loop)")
        if e.ndim == 4 and e.shape[0] > 1 and not wrong[0].any():
            patterns.append("sample 0 is right, later samples of the batch are wrong")
    return where, patterns


def _scaled(factor: float, function: str, arguments: dict[str, Any]) -> str:
    text = f"every element scaled by the same factor ({factor:.4g})"
    batch = None
    for key in ("x", "grad_y"):
        if isinstance(arguments.get(key), np.ndarray):
            batch = arguments[key].shape[0]
    if batch and batch > 1 and np.isclose(factor, 1 / batch):
        text += f": divided by the batch size {batch} (averaged instead of summed over the batch?)"
    kernel = arguments.get("kernel")
    if kernel is not None and np.isclose(factor, kernel[0] * kernel[1]):
        text += f": multiplied by kH·kW = {kernel[0] * kernel[1]} (a divisor forgotten?)"
    return text


def _shifted(e: np.ndarray, r: np.ndarray) -> list[str]:
    """Whether ``r`` is ``e`` moved by one row or column (wherever both are defined)."""
    found = []
    moves = {"down by one row": (slice(1, None), slice(None), slice(None, -1), slice(None)),
             "up by one row": (slice(None, -1), slice(None), slice(1, None), slice(None)),
             "right by one column": (slice(None), slice(1, None), slice(None), slice(None, -1)),
             "left by one column": (slice(None), slice(None, -1), slice(None), slice(1, None))}
    for words, (r_rows, r_cols, e_rows, e_cols) in moves.items():
        moved, original = r[..., r_rows, r_cols], e[..., e_rows, e_cols]
        if moved.size and np.any(original) and _close(moved, original) and not _close(r, e):
            found.append(f"shifted {words} (an offset of one in an index or in the padding)")
    return found


def _describe_max_pool(arguments: dict[str, Any], expected: Any,
                       received: Any) -> tuple[tuple[int, ...] | None, list[str]]:
    if not (isinstance(received, tuple) and len(received) == 2):
        return None, ["not a pair (y, indices)"]
    (e_y, e_i), (r_y, r_i) = expected, received
    where, patterns = describe_difference("max_pool2d_forward values", arguments, e_y, r_y)
    if where is not None or patterns:
        return where, ["values: " + p for p in patterns]
    r_i, e_i = np.asarray(r_i), np.asarray(e_i)
    if r_i.shape != e_i.shape:
        return None, [f"indices of shape {r_i.shape} instead of {e_i.shape}"]
    wrong = np.argwhere(r_i != e_i)
    if not len(wrong):
        return None, []
    where = tuple(int(i) for i in wrong[0])
    x = np.asarray(arguments["x"])
    n, c = where[0], where[1]
    plane = x[n, c].reshape(-1)
    got, want = int(r_i[where]), int(e_i[where])
    if 0 <= got < plane.size and plane[got] == plane[want]:
        later = "a later" if got > want else "an earlier"
        return where, [f"a tie: index {got} holds the same maximum as index {want}, but the "
                       f"first maximum in row-major order wins ({later} one was chosen)"]
    if 0 <= got < plane.size:
        return where, [f"index {got} is not a maximum of its window (value {plane[got]:g}; "
                       f"the maximum {plane[want]:g} is at {want}); indices are row·W + col in "
                       "the unpadded input plane"]
    return where, [f"index {got} is outside the input plane of {plane.size} elements"]


# ------------------------------------------------------------------------------------------------
# When it fails: "wrong only when stride > 1"
# ------------------------------------------------------------------------------------------------

def _features(example: Counterexample) -> list[tuple[str, dict, dict]]:
    """The unusual features of a failing call, each with the conv and pool bounds that remove it:
    ``(words, conv bounds, pool bounds)``."""
    args = example.arguments
    shapes = [np.shape(args[k]) for k in ("x", "grad_y") if k in args]
    x_shape = args.get("x_shape") or (np.shape(args["x"]) if "x" in args else None)
    stride = args.get("stride", (1, 1))
    kernel = args.get("kernel") or (np.shape(args["w"])[2:] if "w" in args else
                                    tuple(args["w_shape"][2:]) if "w_shape" in args else None)
    found = []
    if any(len(s) == 4 and s[0] > 1 for s in shapes):
        found.append(("batch > 1", {"max_batch": 1}, {"max_batch": 1}))
    if tuple(stride) != (1, 1):
        found.append(("stride > 1", {"max_stride": 1}, {"max_stride": 1}))
    if kernel is not None and any(s > k for s, k in zip(stride, kernel, strict=True)):
        found.append(("stride > kernel", {"stride_within_kernel": True},
                      {"stride_within_kernel": True}))
    if x_shape is not None and len(x_shape) == 4 and x_shape[2] != x_shape[3]:
        found.append(("H ≠ W", {"square": True}, {"square": True}))
    if any(args.get("padding", (0, 0, 0, 0))):
        found.append(("padding > 0", {"allow_padding": False}, {"allow_padding": False}))
    if tuple(args.get("dilation", (1, 1))) != (1, 1):
        found.append(("dilation > 1", {"allow_dilation": False}, {"allow_dilation": False}))
    if args.get("groups", 1) > 1:
        found.append(("groups > 1", {"allow_groups": False}, {}))
    if args.get("ceil_mode"):
        found.append(("ceil_mode=True", {}, {"allow_ceil_mode": False}))
    return found


def _conditions(identity: Identity, impl: Any, reference: Any, bounds: Bounds, profile: str,
                seed: int, example: Counterexample, most: int = 3) -> list[str]:
    """The features of the smallest failing example without which the property passes
    (``CONDITION_EXAMPLES[profile]`` examples, no shrinking): each is a condition of the bug."""
    found = []
    for words, conv, pool in _features(example)[:most]:
        narrower = Bounds(conv={**bounds.conv, **conv}, pool={**bounds.pool, **pool})
        try:
            _run(identity, impl, reference, narrower,
                 hypothesis_settings(profile, max_examples=CONDITION_EXAMPLES[profile],
                                     shrink=False), seed)
        except Exception:  # noqa: BLE001 -- still fails without it: not a condition
            continue
        found.append(words)
    return found
