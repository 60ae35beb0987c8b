"""The report a student reads, and the autograder JSON (Gradescope's ``results.json`` format,
which GitHub Classroom's autograding reporters read too).

A property's details come from a :class:`~tinyconv.testing.grading.PropertyResult`: the student
function at fault, its smallest failing call printed small (the arguments it received, the
expected and received results in full when they are small, the first differing index, the
pattern of the difference, the conditions under which it fails), the seed, a crash's traceback
down to the student's line, and the tutorial section to read. No grader internals.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from tinyconv.testing.grading import Counterexample, PropertyResult

__all__ = ["format_details", "format_report", "format_value", "gradescope_results"]

#: Arrays with at most this many elements are printed in full.
SMALL = 64

_MARKS = {"passed": "PASS", "failed": "FAIL", "crashed": "CRASH", "timed out": "TIMEOUT",
          "skipped": "SKIP"}


def format_value(value: Any, indent: str = "") -> str:
    """An argument or result, small: arrays with their dtype and shape (in full up to
    :data:`SMALL` elements), tuples of arrays one per line, anything else as ``repr``."""
    if isinstance(value, tuple) and any(isinstance(v, np.ndarray) for v in value):
        # max pooling's (y, indices): one labelled array per line
        labels = ("y", "indices") if len(value) == 2 else tuple(str(i) for i in range(len(value)))
        return "\n".join(format_value(v, f"{indent.rstrip(': ')} {label}: ")
                         for label, v in zip(labels, value, strict=True))
    if not isinstance(value, np.ndarray):
        return f"{indent}{value!r}"
    head = f"{value.dtype} array of shape {value.shape}"
    if value.size > SMALL:
        finite = value[np.isfinite(value)] if value.dtype.kind == "f" else value
        span = f", values in [{finite.min():g}, {finite.max():g}]" if finite.size else ""
        return f"{indent}{head}{span} (too large to print)"
    body = np.array2string(value, precision=4, suppress_small=True, separator=", ",
                           max_line_width=92)
    return f"{indent}{head}\n" + "\n".join("        " + line for line in body.splitlines())


def _call(example: Counterexample) -> str:
    options = ", ".join(f"{k}={v!r}" for k, v in example.arguments.items()
                        if not isinstance(v, np.ndarray))
    arrays = ", ".join(k for k, v in example.arguments.items() if isinstance(v, np.ndarray))
    return f"{example.function}({arrays}{', ' if arrays and options else ''}{options})"


def _at(value: Any, index: tuple[int, ...]) -> str:
    if isinstance(value, tuple):  # max pooling: (values, indices)
        return " / ".join(_at(v, index) for v in value)
    try:
        item = np.asarray(value)[index].item()
    except (IndexError, TypeError):
        return "-"
    return f"{item:.6g}" if isinstance(item, float) else repr(item)


def format_details(result: PropertyResult) -> str:
    """The lines under a property's PASS/FAIL line (empty for a pass)."""
    if result.status == "passed":
        return ""
    lines = []
    if result.function:
        lines.append(f"function at fault: {result.function}")
    if result.status == "crashed" and (result.traceback or "").rstrip().splitlines()[-1:] \
            and result.traceback.rstrip().splitlines()[-1].startswith("NotImplementedError"):
        lines.append(f"not written yet: {result.traceback.rstrip().splitlines()[-1]}")
        if result.tutorial:
            lines.append(f"read: {result.tutorial}")
        return "\n".join(lines)
    if result.status == "crashed" and result.traceback:
        lines.append("it raised an exception:")
        lines += ["    " + line for line in result.traceback.rstrip().splitlines()]
    elif result.message and (result.counterexample is None
                             or result.counterexample.expected is None):
        message = result.message
        if result.counterexample is not None:  # the call below shows the configuration
            message = re.sub(r"\s*Config: \w+Config\(.*\)\s*$", "", message)
        lines += message.splitlines()
    example = result.counterexample
    if example is not None:
        lines.append(f"smallest failing call (seed {result.seed}, {result.examples} examples "
                     "tried):")
        lines.append(f"    {_call(example)}")
        for name, value in example.arguments.items():
            if isinstance(value, np.ndarray):
                lines.append(format_value(value, f"    {name}: "))
        if example.expected is not None:
            lines.append(format_value(example.expected, "    expected: "))
            lines.append(format_value(example.received, "    received: "))
        if example.first_difference is not None:
            where = example.first_difference
            lines.append(f"    first difference at index {list(where)}: expected "
                         f"{_at(example.expected, where)}, received "
                         f"{_at(example.received, where)}")
        for pattern in example.patterns:
            lines.append(f"    how: {pattern}")
    for condition in result.conditions:
        lines.append(f"    when: wrong only when {condition} (without it, it passed)")
    if result.tutorial:
        lines.append(f"read: {result.tutorial}")
    return "\n".join(lines)


def format_report(title: str, path: str, rows: list[dict], profile: str, seed: int,
                  timeout: float) -> str:
    """The whole report: a header, one line per property (mark, name, statement, points) with
    its details indented below, and the total."""
    lines = [f"tinyconv grade: {title}", f"file {path}; profile {profile}, seed {seed}, "
             f"time limit {timeout:g} s per property", ""]
    for row in rows:
        points = f"{row['score']:g}/{row['max_score']:g}"
        lines.append(f"{_MARKS.get(row['status'], row['status']):<8}{row['name']}: "
                     f"{row['statement']}  [{points}]")
        if row["details"]:
            lines += ["        " + line for line in row["details"].splitlines()]
    score = sum(r["score"] for r in rows)
    total = sum(r["max_score"] for r in rows)
    failed = sum(r["status"] != "passed" for r in rows)
    lines += ["", f"score {score:g}/{total:g}: "
              + ("every property passed" if not failed else
                 f"{failed} of {len(rows)} properties did not pass")]
    return "\n".join(lines)


def gradescope_results(rows: list[dict], seconds: float, summary: str) -> dict:
    """Gradescope's ``results.json``: a test per property (name, score, max_score, status,
    output), the total score and the run time."""
    return {
        "score": sum(r["score"] for r in rows),
        "execution_time": round(seconds, 3),
        "output": summary,
        "visibility": "visible",
        "tests": [{"name": r["name"], "score": r["score"], "max_score": r["max_score"],
                   "status": "passed" if r["status"] == "passed" else "failed",
                   "output": (f"{r['status']}: {r['statement']}\n{r['details']}").rstrip(),
                   "visibility": "visible"} for r in rows],
    }
