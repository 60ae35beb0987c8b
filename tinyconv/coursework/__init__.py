"""Coursework: assignments to hand out, and the grader that runs them.

Each assignment lives in ``tinyconv/coursework/assignments/<name>/`` as package data:
``template.py`` (the student's file: signatures, docstrings with shapes and identities,
``raise NotImplementedError`` bodies; its first line names the assignment; ``template.cu`` for
the CUDA C assignment), ``statement.md``
(what to do, what to read, how it is graded) and ``grading.json`` (the module's file name, the
contract functions the student writes, the bounds of the drawn problems, a weight per property).

From the command line::

    tinyconv coursework list
    tinyconv coursework new conv-forward hw1/      # writes hw1/conv_forward.py and hw1/README.md
    tinyconv grade hw1/ [--json results.json] [--profile quick|thorough] [--timeout 60]

The grader (:mod:`tinyconv.coursework.runner`) runs the student's code in a subprocess
(:mod:`tinyconv.coursework.worker`) with a time and memory limit per property; the report is
:mod:`tinyconv.coursework.report`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from tinyconv.kernels.contract import CONTRACT_FUNCTIONS

__all__ = ["Assignment", "assignments", "find_submission", "load_assignment", "write_assignment"]

#: The first line of every template (and so of every student's file): names the assignment.
MARKER = re.compile(r"^(?:#|//)\s*tinyconv assignment:\s*([\w-]+)\s*$", re.MULTILINE)

#: The kinds of file a student hands in: Python, or CUDA C (assignment 6).
SUFFIXES = (".py", ".cu")


@dataclass(frozen=True)
class Assignment:
    """One assignment, as its ``grading.json`` describes it.

    ``functions`` are the contract functions the student writes (the rest of the kernel set is
    tinyconv's reference); ``bounds`` the keyword arguments of ``conv2d_configs`` and
    ``pool2d_configs`` for the drawn problems; ``properties`` the identities graded, with their
    weights; ``contract_weight`` the weight of each function's contract; ``extras`` the
    properties that are not identities of the kernel contract (a speed-up, an op, a training
    run), each with its settings and ``weight``.
    """

    name: str
    title: str
    module: str
    functions: tuple[str, ...]
    tutorials: tuple[str, ...]
    bounds: dict
    contract_weight: int
    properties: dict[str, int]
    extras: dict[str, dict] = field(default_factory=dict)
    needs: str = ""

    def property_names(self) -> list[str]:
        """Every graded property, in the order the grade runs them: contracts first."""
        contracts = [f"contract: {f}" for f in self.functions] if self.contract_weight else []
        return contracts + list(self.properties) + list(self.extras)

    def weight(self, name: str) -> int:
        """The points property ``name`` is worth."""
        if name.startswith("contract: "):
            return self.contract_weight
        if name in self.properties:
            return self.properties[name]
        return int(self.extras[name].get("weight", 1))


def _folder() -> Path:
    return Path(str(resources.files("tinyconv.coursework") / "assignments"))


def assignments() -> dict[str, Assignment]:
    """Every shipped assignment, by name, in the course's order."""
    found = [load_assignment(path.name) for path in _folder().iterdir()
             if (path / "grading.json").is_file()]
    return {a.name: a for a in sorted(found, key=lambda a: a.title)}


def load_assignment(name: str) -> Assignment:
    """The assignment called ``name`` (a ``ValueError`` listing the names if there is none)."""
    spec_path = _folder() / name / "grading.json"
    if not spec_path.is_file():
        names = sorted(p.name for p in _folder().iterdir() if (p / "grading.json").is_file())
        raise ValueError(f"no assignment named {name!r}; the assignments are {names}")
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    unknown = [f for f in spec["functions"] if f not in CONTRACT_FUNCTIONS]
    if unknown:
        raise ValueError(f"assignment {name!r}: {unknown} are not kernel-contract functions")
    return Assignment(name=name, title=spec["title"], module=spec["module"],
                      functions=tuple(spec["functions"]), tutorials=tuple(spec["tutorials"]),
                      bounds=spec.get("bounds", {}), contract_weight=spec["contract_weight"],
                      properties=spec["properties"], extras=spec.get("extras", {}),
                      needs=spec.get("needs", ""))


def write_assignment(name: str, folder: str | Path) -> list[Path]:
    """Write assignment ``name`` into ``folder`` (created if needed): the template as the
    student's module and the statement as ``README.md``. Never overwrites a student's file."""
    assignment = load_assignment(name)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    source = _folder() / name
    template = source / f"template{Path(assignment.module).suffix}"
    targets = {folder / assignment.module: template,
               folder / "README.md": source / "statement.md"}
    existing = [str(t) for t in targets if t.exists()]
    if existing:
        raise FileExistsError(f"coursework new: {existing} already exist; choose an empty folder")
    for target, origin in targets.items():
        target.write_text(origin.read_text(encoding="utf-8"), encoding="utf-8")
    return list(targets)


def find_submission(path: str | Path, assignment: str | None = None) -> tuple[Assignment, Path]:
    """The assignment and the student's file for ``path`` (a file, or a folder holding it).

    Without ``assignment`` it is read from the file's first line (``# tinyconv assignment:
    NAME``, written by ``tinyconv coursework new``)."""
    path = Path(path)
    if path.is_dir():
        if assignment is not None:
            candidate = path / load_assignment(assignment).module
            files = [candidate] if candidate.is_file() else []
        else:
            files = [p for p in sorted(path.iterdir()) if p.suffix in SUFFIXES
                     and MARKER.search(p.read_text(encoding="utf-8", errors="replace"))]
        if len(files) != 1:
            raise FileNotFoundError(
                f"grade: found {len(files)} assignment files in {path} "
                f"({[p.name for p in files]}); name the file, or pass --assignment")
        path = files[0]
    if not path.is_file():
        raise FileNotFoundError(f"grade: {path} does not exist")
    if assignment is None:
        marker = MARKER.search(path.read_text(encoding="utf-8", errors="replace"))
        if marker is None:
            raise ValueError(f"grade: {path} does not say which assignment it is (no "
                             "'# tinyconv assignment: NAME' line); pass --assignment NAME")
        assignment = marker.group(1)
    return load_assignment(assignment), path
