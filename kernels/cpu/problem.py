"""What every convolution plan shares: the problem it is asked to solve, and the plan interface.

A call of one of the three convolution functions is turned, once, into a :class:`ConvProblem`:
the shapes, stride, padding, dilation, groups and dtype, checked by the contract
(``contract.check_conv2d``) as it is built. Every plan and the dispatcher read the problem; none
checks the arguments again.

A *plan* (:class:`ConvPlan`) is one way of computing a convolution: ``"loops"`` (``conv.py``),
``"direct"``, ``"unrolled"``, ``"batch_lanes"``, ``"winograd"`` and ``"im2col"``. It says which
problems it computes, step by step (:meth:`ConvPlan.supports`), and computes them. Which plan
runs is decided in one place, ``dispatch.choose_plan``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from ..contract import Padding4, Pair, Shape4, check_conv2d

__all__ = ["STEPS", "ConvPlan", "ConvProblem", "Step"]

#: The three passes of a convolution, named as the plan methods that compute them.
Step = Literal["forward", "backward_input", "backward_weight"]
STEPS: tuple[Step, ...] = ("forward", "backward_input", "backward_weight")


@dataclass(frozen=True)
class ConvProblem:
    """One convolution, checked: ``x: (N, C_in, H, W)``, ``w: (C_out, C_in/groups, kH, kW)``,
    ``y: (N, C_out, H_out, W_out)``, with the contract's stride, padding (top, bottom, left,
    right), dilation and groups, in ``dtype``. Build it with :meth:`checked`."""

    x_shape: Shape4
    w_shape: Shape4
    y_shape: Shape4
    stride: Pair
    padding: Padding4
    dilation: Pair
    groups: int
    dtype: np.dtype

    @classmethod
    def checked(cls, op: str, x_shape: tuple, w_shape: tuple, stride: Pair, padding: Padding4,
                dilation: Pair, groups: int, dtype: np.dtype) -> ConvProblem:
        """The problem of one call of ``op``, after the contract's checks (a clear ``ValueError``
        naming ``op`` for an invalid configuration); the output shape comes from the contract's
        formula."""
        y_shape = check_conv2d(op, x_shape, w_shape, stride, padding, dilation, groups)
        return cls(tuple(x_shape), tuple(w_shape), y_shape, stride, padding, dilation, groups,
                   np.dtype(dtype))

    @property
    def batch(self) -> int:
        return self.x_shape[0]

    @property
    def kernel_size(self) -> Pair:
        """``(kH, kW)``."""
        return self.w_shape[2], self.w_shape[3]

    @property
    def reduction(self) -> int:
        """``R = C_in/groups · kH · kW``: the products each output value sums."""
        return self.w_shape[1] * self.w_shape[2] * self.w_shape[3]

    @property
    def unit_stride_and_dilation(self) -> bool:
        """Stride 1 and dilation 1 along both axes: every tap is a plain shift of the input."""
        return self.stride == (1, 1) and self.dilation == (1, 1)

    @property
    def flops(self) -> float:
        """Floating-point operations of one pass (a multiply-add counts 2):
        ``2 · N · C_out · H_out · W_out · R``. The two backward passes cost the same."""
        n, c_out, h_out, w_out = self.y_shape
        return 2.0 * n * c_out * h_out * w_out * self.reduction


class ConvPlan(Protocol):
    """One way of computing a convolution. Arrays arrive C-contiguous, already checked against
    the problem, with a batch of at least one sample; every result is a fresh array."""

    #: The name ``force_plan`` and ``plan_name`` use.
    name: str

    def supports(self, problem: ConvProblem, step: Step) -> bool:
        """True when this plan computes ``step`` of ``problem`` itself. A plan that lacks a
        step (or a kernel size) says so here; the dispatcher then takes the next plan."""
        ...

    def forward(self, x: np.ndarray, w: np.ndarray, problem: ConvProblem) -> np.ndarray:
        """``y = x ⋆ w``: ``x: (N, C_in, H, W)``, ``w: (C_out, C_in/g, kH, kW)`` ->
        ``y: (N, C_out, H_out, W_out)``."""
        ...

    def backward_input(self, grad_y: np.ndarray, w: np.ndarray,
                       problem: ConvProblem) -> np.ndarray:
        """``grad_x = full_corr(δ, rot180(w))``, cropped: ``grad_y: (N, C_out, H_out, W_out)``
        -> ``grad_x: (N, C_in, H, W)``."""
        ...

    def backward_weight(self, x: np.ndarray, grad_y: np.ndarray,
                        problem: ConvProblem) -> np.ndarray:
        """``grad_w = x ⋆ δ`` summed over the batch -> ``grad_w: (C_out, C_in/g, kH, kW)``."""
        ...
