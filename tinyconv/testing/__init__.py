"""Tools for testing kernels and ops: gradient checking, hypothesis strategies, identity checks.

- ``gradcheck(fn, inputs)``: the finite-difference oracle for any differentiable function.
- ``tinyconv.testing.strategies``: hypothesis strategies drawing *valid* conv/pool
  configurations and their arrays (odd shapes, groups, dilation, non-contiguous layouts).
- ``tinyconv.testing.identities``: the calculus of convolution as checks on any module that
  implements the kernel contract; ``run_all(my_kernels)`` grades a student's module.

``strategies`` and ``identities`` need hypothesis (``pip install tinyconv[test]``), so they load on
first use; ``run_all`` and ``run_identity`` are also reachable from here.
"""

import importlib as _importlib

from tinyconv.testing.gradcheck import GradcheckError, gradcheck

__all__ = ["gradcheck", "GradcheckError", "strategies", "identities", "run_all", "run_identity"]


def __getattr__(name: str):
    if name in ("strategies", "identities"):
        return _importlib.import_module(f"tinyconv.testing.{name}")
    if name in ("run_all", "run_identity"):
        return getattr(_importlib.import_module("tinyconv.testing.identities"), name)
    raise AttributeError(f"module 'tinyconv.testing' has no attribute {name!r}")
