"""The grading subprocess: imports the student's module, then runs the properties the parent asks
for, one JSON line per request on stdin, one JSON line per result on its private channel.

Started by :mod:`tinyconv.coursework.runner` as ``python -m tinyconv.coursework.worker
ASSIGNMENT FILE PROFILE SEED`` under a memory limit; the parent enforces the time limit and
restarts a worker that hangs or dies. The student's prints go to stderr (the protocol keeps the
original stdout to itself), and ``faulthandler`` prints the Python stack if a kernel segfaults.
"""

from __future__ import annotations

import faulthandler
import importlib.util
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from tinyconv.coursework import Assignment

__all__ = ["main", "run_property"]


def _cuda_module(path: Path) -> Any:
    """The student's CUDA C file as a kernel set: compiled now (a compile error is an import
    error) for tinyconv's CPU emulation, its kernels launched by tinyconv's launchers with the
    "direct" plan (one thread per output element: the kernels the student wrote), the other
    kernels from tinyconv's own ``.cu`` files."""
    import types

    from tinyconv.kernels.cuda import launch
    from tinyconv.kernels.cuda.emulator import kernel_names
    from tinyconv.kernels.cuda.runtime import SOURCES, EmulatedRuntime

    runtime = EmulatedRuntime((*SOURCES, path))
    defined = kernel_names(path.read_text(encoding="utf-8"))

    def launcher(name: str):
        def launched(*args, **kwargs):
            with launch.force_plan("direct"):
                return getattr(launch, name)(runtime, *args, **kwargs)
        launched.__name__ = name
        return launched

    functions = {}
    for name in ("conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight"):
        if f"{name}_f32" in defined:
            runtime.get_function(f"{name}_f32")  # g++ runs here: a compile error fails import
            functions[name] = launcher(name)
    return types.SimpleNamespace(__file__=str(path), __name__=path.stem, **functions)


def _import_student(path: Path) -> Any:
    """Import the student's file as a fresh module (its folder on the import path, so that it
    can import its own helpers); a ``.cu`` file becomes a kernel set (:func:`_cuda_module`)."""
    if path.suffix == ".cu":
        return _cuda_module(path)
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def run_property(name: str, assignment: Assignment, module: Any, profile: str,
                 seed: int) -> dict:
    """Run one property; return its row (name, statement, status, function, details, seconds)."""
    from tinyconv.coursework.extras import run_extra
    from tinyconv.coursework.report import format_details
    from tinyconv.testing import grading
    from tinyconv.testing.identities import IDENTITIES, Bounds

    bounds = Bounds(conv=assignment.bounds.get("conv", {}), pool=assignment.bounds.get("pool", {}))
    present = [f for f in assignment.functions if callable(getattr(module, f, None))]
    impl = grading.kernel_set_with({f: getattr(module, f) for f in present},
                                   name=Path(module.__file__).name)
    if name.startswith("contract: "):
        function = name.removeprefix("contract: ")
        if function not in present:
            result = grading.PropertyResult(
                name, f"{assignment.module} defines {function}", "failed", seed=seed,
                function=function, message=f"{assignment.module} has no function {function}")
        else:
            (result,) = grading.contract_results(impl, [function], bounds=bounds,
                                                 profile=profile, seed=seed)
    elif name in assignment.extras:
        result = run_extra(name, module, assignment.extras[name], profile, seed)
    else:
        identity = IDENTITIES[name]
        missing = [f for f in identity.functions
                   if f in assignment.functions and f not in present]
        if missing:
            result = grading.PropertyResult(name, identity.statement, "failed", seed=seed,
                                            function=missing[0],
                                            message=f"needs {missing}, which "
                                                    f"{assignment.module} does not define")
        else:
            (result,) = grading.grade(impl, [name], student_functions=present, bounds=bounds,
                                      profile=profile, seed=seed)
    return {"name": result.name, "statement": result.statement, "status": result.status,
            "function": result.function, "details": format_details(result),
            "seconds": round(result.seconds, 3)}


def main(argv: list[str]) -> int:
    from tinyconv.coursework import load_assignment

    assignment_name, path, profile, seed = argv[0], Path(argv[1]), argv[2], int(argv[3])
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # the student's prints go to stderr, never into the protocol
    sys.stdout = sys.stderr
    faulthandler.enable()
    assignment = load_assignment(assignment_name)
    try:
        module = _import_student(path)
        import_error = None
    except BaseException as error:  # noqa: BLE001 -- a syntax error, an exception at import
        frames = [f for f in traceback.extract_tb(error.__traceback__)
                  if f.filename == str(path)]
        import_error = (("Traceback (most recent call last):\n"
                         + "".join(traceback.format_list(frames)) if frames else "")
                        + "".join(traceback.format_exception_only(type(error), error)))
    for line in sys.stdin:
        name = json.loads(line)["property"]
        if import_error is not None:
            row = {"name": name, "statement": "", "status": "crashed", "function": None,
                   "details": f"importing {path.name} failed:\n{import_error}", "seconds": 0.0}
        else:
            try:
                row = run_property(name, assignment, module, profile, seed)
            except Exception:  # noqa: BLE001 -- the grader's own bug: say so, keep going
                row = {"name": name, "statement": "", "status": "crashed", "function": None,
                       "details": "the grader itself failed on this property (please report "
                                  "it to your instructor):\n" + traceback.format_exc(),
                       "seconds": 0.0}
        channel.write(json.dumps(row) + "\n")
        channel.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
