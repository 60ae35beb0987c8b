"""Run tables of bad calls in a child process, so a crash or a hang is a failed case, not a dead
test run (the spirit of PyTorch's OpInfo ``error_inputs``).

A case is a line of Python (``"F.conv2d(x, None)"``) with the exception type and a fragment of
the message it must raise. The child evaluates every case of a batch in one namespace (``tc``,
``F``, ``nn``, ``optim`` and a few ready-made tensors, see :data:`SETUP`), and prints one JSON
line per case: the exception's type and message, or that it returned. Many cases share one
child, because importing tinyconv and compiling kernels costs more than all the cases together.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap

__all__ = ["ErrorInput", "Outcome", "SETUP", "run_cases"]

# What every case can use. Small tensors: the cases are about arguments, not arithmetic.
SETUP = textwrap.dedent("""
    import math
    import numpy as np
    import tinyconv as tc
    import tinyconv.nn.functional as F
    from tinyconv import nn, optim
    from tinyconv.optim import lr_scheduler
    from tinyconv.nn.functional._args import size_limit
    x = tc.randn(2, 3, 8, 8)            # images (N, C, H, W)
    x1 = tc.randn(2, 3, 8)              # sequences (N, C, L)
    w = tc.randn(4, 3, 3, 3)            # conv weight (C_out, C_in, kH, kW)
    w1 = tc.randn(4, 3, 3)              # conv1d weight
    wt = tc.randn(3, 4, 3, 3)           # conv_transpose weight (C_in, C_out, kH, kW)
    wt1 = tc.randn(3, 4, 3)
    logits = tc.randn(4, 5)             # (N, classes)
    labels = tc.tensor([0, 1, 2, 3])
    probs = tc.rand(4, 5)
    m = tc.randn(6, 4)                  # a matrix
    params = [nn.Parameter(tc.randn(3))]
    sgd = optim.SGD(params, lr=0.1)
""")

# The child: reads the cases (JSON list of strings) on stdin, prints one JSON object per case.
_CHILD = textwrap.dedent("""
    import json, sys, traceback
    cases = json.loads(sys.stdin.read())
    namespace = {}
    exec(compile(SETUP, "<setup>", "exec"), namespace)
    for index, code in enumerate(cases):
        print(json.dumps({"index": index, "started": True}), flush=True)
        try:
            value = eval(compile(code, f"<case {index}>", "eval"), namespace)
            outcome = {"index": index, "type": None, "message": f"returned {type(value).__name__}"}
        except BaseException as error:  # noqa: B036 - a KeyboardInterrupt would be a finding too
            frames = traceback.extract_tb(error.__traceback__)
            outcome = {"index": index, "type": type(error).__name__, "message": str(error),
                       "where": f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ""}
        print(json.dumps(outcome), flush=True)
""")


@dataclasses.dataclass(frozen=True)
class ErrorInput:
    """One bad call: ``code`` must raise ``error`` with ``match`` in its message."""

    code: str
    error: type[BaseException]
    match: str

    def __str__(self) -> str:
        return self.code


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a case did in the child: ``type`` None means it returned instead of raising."""

    type: str | None
    message: str
    where: str = ""


def run_cases(cases: list[str], timeout: float = 300.0) -> list[Outcome]:
    """Evaluate every line of ``cases`` in one fresh child process; one :class:`Outcome` each.

    A case the child never finished (it crashed, or hung past ``timeout``) gets an Outcome of type
    ``"ChildDied"`` naming what happened; the cases after it are run in a new child.
    """
    outcomes: list[Outcome] = []
    while len(outcomes) < len(cases):
        start = len(outcomes)
        outcomes += _run_batch(cases[start:], timeout)
    return outcomes


def _run_batch(cases: list[str], timeout: float) -> list[Outcome]:
    script = "SETUP = " + repr(SETUP) + "\n" + _CHILD
    env = dict(os.environ, PYTHONFAULTHANDLER="1")
    try:
        done = subprocess.run([sys.executable, "-c", script], input=json.dumps(cases),
                              capture_output=True, text=True, timeout=timeout, env=env)
        stdout, stderr, status = done.stdout, done.stderr, f"exit status {done.returncode}"
    except subprocess.TimeoutExpired as expired:
        stdout = expired.stdout.decode() if isinstance(expired.stdout, bytes) else \
            (expired.stdout or "")
        stderr, status = "", f"no answer within {timeout:.0f} s"
    outcomes: list[Outcome] = []
    for line in stdout.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # something the code under test printed
        if isinstance(record, dict) and "type" in record:
            outcomes.append(Outcome(record["type"], record["message"], record.get("where", "")))
    if len(outcomes) < len(cases):  # the child died on cases[len(outcomes)]
        outcomes.append(Outcome("ChildDied", f"{status}; stderr: {stderr[-2000:]}"))
    return outcomes
