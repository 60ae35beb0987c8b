"""``tinyconv grade``: run an assignment's properties on a student's file, each in a subprocess
with a time and a memory limit, and report.

One worker process (:mod:`tinyconv.coursework.worker`) imports the student's module once and
runs the properties in turn. If a property does not answer within the time limit (an infinite
loop, a kernel far too slow), the worker is killed and the property is "timed out"; if the worker
dies (a segfault in a Numba kernel, ``os._exit``, the memory limit), the property "crashed" with
the signal and the last lines the worker wrote (``faulthandler``'s Python stack included). Either
way a fresh worker takes the next property and the grader itself exits normally.
"""

from __future__ import annotations

import json
import os
import queue
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tinyconv.coursework import Assignment, find_submission
from tinyconv.coursework.report import format_report, gradescope_results

__all__ = ["grade_submission"]


class _Worker:
    """A worker process and a thread that reads its result lines into a queue."""

    def __init__(self, assignment: Assignment, path: Path, profile: str, seed: int,
                 memory_mb: int):
        self.stderr = tempfile.TemporaryFile()

        def limit_memory():  # runs in the child, before the interpreter starts
            limit = memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

        self.process = subprocess.Popen(
            [sys.executable, "-m", "tinyconv.coursework.worker", assignment.name, str(path),
             profile, str(seed)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True,
            preexec_fn=limit_memory, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)  # end of file: the worker is gone

    def ask(self, name: str, timeout: float) -> dict | str:
        """The row for property ``name``, or ``"timed out"`` / ``"died"``."""
        try:
            self.process.stdin.write(json.dumps({"property": name}) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            return "died"
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            return "timed out"
        return "died" if line is None else json.loads(line)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def close(self) -> None:
        try:
            self.process.stdin.close()
            self.process.wait(timeout=10)
        except (BrokenPipeError, subprocess.TimeoutExpired):
            pass
        self.stop()


def _fatal_error_stack(text: str, student_file: Path) -> str:
    """From ``faulthandler``'s report of a fatal error, the error line and the stack frames in
    the student's file (the grader's frames and the list of extension modules left out)."""
    report = text[text.rindex("Fatal Python error"):]
    lines = report.split("\nExtension modules")[0].splitlines()
    frames = [line.strip() for line in lines if str(student_file) in line]
    return "\n".join([lines[0]] + ["most recent call first:"] + frames if frames else lines[:1])


def _died(worker: _Worker, name: str, statement: str, student_file: Path) -> dict:
    code = worker.process.wait()
    how = (f"was killed by signal {signal.Signals(-code).name}" if code < 0
           else f"exited with status {code}")
    if code == -signal.SIGSEGV:
        how += " (a segmentation fault: an array read or written out of bounds?)"
    worker.stderr.seek(0)
    text = worker.stderr.read().decode("utf-8", errors="replace")
    if "Fatal Python error" in text:
        tail = _fatal_error_stack(text, student_file)
    else:
        tail = "\n".join(text.rstrip().splitlines()[-15:])
    details = f"the process running your code {how} during this property"
    if "MemoryError" in tail:
        details += " (it ran out of memory: the limit was exceeded)"
    if tail:
        details += "\nits last output:\n" + "\n".join("    " + t for t in tail.splitlines())
    return {"name": name, "statement": statement, "status": "crashed", "function": None,
            "details": details, "seconds": 0.0}


def grade_submission(path: str | Path, *, assignment: str | None = None, profile: str = "quick",
                     timeout: float = 60.0, seed: int = 0, memory_mb: int = 2048,
                     json_path: str | Path | None = None, only: list[str] | None = None,
                     echo: Callable[[str], object] = print) -> int:
    """Grade the student's file (or folder) at ``path``; print the report with ``echo``; write
    Gradescope's ``results.json`` to ``json_path`` if given; ``only``: just these properties.
    Returns the exit status: 0 only if every property passed, 1 otherwise."""
    spec, student_file = find_submission(path, assignment)
    names = spec.property_names()
    unknown = [name for name in only or [] if name not in names]
    if unknown:
        raise ValueError(f"grade: {unknown} are not properties of {spec.name}; they are {names}")
    started = time.perf_counter()
    if spec.needs:
        echo(f"tinyconv grade: {spec.title}: {spec.needs}")
    from tinyconv.testing.identities import IDENTITIES

    rows, worker = [], None
    for name in only or names:
        statement = IDENTITIES[name].statement if name in IDENTITIES else name
        if worker is None:
            worker = _Worker(spec, student_file, profile, seed, memory_mb)
        answer = worker.ask(name, timeout)
        if answer == "timed out":
            worker.stop()
            row = {"name": name, "statement": statement, "status": "timed out",
                   "function": None, "seconds": timeout,
                   "details": f"no answer within {timeout:g} s: an infinite loop, or a kernel "
                              "far too slow for these sizes (stopped; the next property runs "
                              "in a fresh process)"}
            worker = None
        elif answer == "died":
            row = _died(worker, name, statement, student_file)
            worker.stop()
            worker = None
        else:
            row = answer
            row["statement"] = row["statement"] or statement
        row["max_score"] = spec.weight(name)
        row["score"] = row["max_score"] if row["status"] == "passed" else 0
        rows.append(row)
    if worker is not None:
        worker.close()
    seconds = time.perf_counter() - started
    report = format_report(spec.title, str(student_file), rows, profile, seed, timeout)
    echo(report)
    if json_path is not None:
        summary = report.splitlines()[-1]
        Path(json_path).write_text(json.dumps(gradescope_results(rows, seconds, summary),
                                              indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return 0 if rows and all(r["status"] == "passed" for r in rows) else 1
