# tinyconv assignment: new-op
"""A correct solution of assignment 5 (the grader's test; never shipped to students)."""

import numpy as np

import tinyconv as tc
from tinyconv.autograd import Function


class SoftplusFunction(Function):
    name = "softplus"

    def forward(self, x):
        self.save_for_backward(x)
        return np.logaddexp(0, x).astype(x.dtype, copy=False)

    def backward(self, grad_output):  # d softplus / dx = σ(x)
        (x,) = self.saved
        return grad_output * np.exp(-np.logaddexp(0, -x))


def softplus(x: tc.Tensor) -> tc.Tensor:
    return SoftplusFunction.apply(x)
