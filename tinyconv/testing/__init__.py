"""Tools for testing kernels and ops, and for grading a student's kernels.

- ``gradcheck(fn, inputs)``: the finite-difference oracle for any differentiable function.
- :mod:`~tinyconv.testing.strategies`: hypothesis strategies drawing *valid* conv/pool problems
  and their arrays (odd shapes, groups, dilation, non-contiguous layouts, NaN and ±inf);
  :mod:`~tinyconv.testing.tensor_strategies` the same for Tensor ops.
- :mod:`~tinyconv.testing.oracles`: what each kernel of the contract must return, computed
  independently (the grader's ground truth).
- :mod:`~tinyconv.testing.checks`: the identities of convolution's calculus as checks on any
  kernel set; :mod:`~tinyconv.testing.identities`: their catalogue (statements, the functions
  each calls, where a course explains it, the strategies of their arguments).
- :mod:`~tinyconv.testing.grading`: running them: ``run_identity`` / ``run_all`` raise on the
  smallest failing example; ``grade`` returns one structured result per property (what
  ``tinyconv grade`` reports to a student).

Everything but ``gradcheck`` needs hypothesis (``pip install tinyconv[test]``), so it loads on
first use; ``run_all``, ``run_identity`` and ``grade`` are also reachable from here.
"""

import importlib as _importlib

from tinyconv.testing.gradcheck import GradcheckError, gradcheck

__all__ = ["GradcheckError", "checks", "grade", "gradcheck", "grading", "identities", "oracles",
           "run_all", "run_identity", "strategies", "tensor_strategies"]

_SUBMODULES = ("checks", "grading", "identities", "oracles", "strategies", "tensor_strategies")


def __getattr__(name: str):
    if name in _SUBMODULES:
        return _importlib.import_module(f"tinyconv.testing.{name}")
    if name in ("grade", "run_all", "run_identity"):
        return getattr(_importlib.import_module("tinyconv.testing.grading"), name)
    raise AttributeError(f"module 'tinyconv.testing' has no attribute {name!r}")
