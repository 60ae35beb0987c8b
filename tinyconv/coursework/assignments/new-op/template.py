# tinyconv assignment: new-op
"""Assignment 5: a new differentiable op, softplus (see README.md next to this file).

``softplus(x) = log(1 + exp(x))``, a smooth ReLU. Write its :class:`~tinyconv.autograd.Function`
(forward and backward on arrays) and the op that applies it. Grade with ``tinyconv grade .``.
"""

import numpy as np

import tinyconv as tc
from tinyconv.autograd import Function


class SoftplusFunction(Function):
    """``y = log(1 + e^x)`` elementwise; ``dy/dx = σ(x) = 1 / (1 + e^-x)``."""

    name = "softplus"

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``x``: any shape, float32 or float64 -> ``y`` of the same shape and dtype. Must not
        overflow: ``softplus(1000) = 1000``, ``softplus(-1000) ≈ 0`` (and ``inf -> inf``,
        ``-inf -> 0``, ``NaN -> NaN``). Save what backward needs with ``self.save_for_backward``."""
        raise NotImplementedError("SoftplusFunction.forward")

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """``∂L/∂x = ∂L/∂y · σ(x)``; finite for every finite ``x``."""
        raise NotImplementedError("SoftplusFunction.backward")


def softplus(x: tc.Tensor) -> tc.Tensor:
    """The differentiable op: ``SoftplusFunction.apply(x)``."""
    raise NotImplementedError("softplus: apply the Function")
