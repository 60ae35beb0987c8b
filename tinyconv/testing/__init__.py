"""Tools for testing kernels and ops: gradient checking, hypothesis strategies, identity checks.

``tinyconv.testing.gradcheck`` is the finite-difference oracle. ``tinyconv.testing.strategies``
(hypothesis strategies drawing valid conv/pool configurations) and ``tinyconv.testing.identities``
(the calculus of convolution as checks on any kernel module) need the ``test`` extra
(``pip install tinyconv[test]``), so they load on first use.
"""

import importlib as _importlib

from tinyconv.testing.gradcheck import GradcheckError, gradcheck

__all__ = ["gradcheck", "GradcheckError", "strategies", "identities"]


def __getattr__(name: str):
    if name in ("strategies", "identities"):
        return _importlib.import_module(f"tinyconv.testing.{name}")
    raise AttributeError(f"module 'tinyconv.testing' has no attribute {name!r}")
