"""Loss layers: Modules wrapping the loss functions of ``tc.nn.functional``."""

from __future__ import annotations

from typing import Any

import tinyconv.nn.functional as F
from tinyconv.nn.functional._args import check_int, check_number, check_reduction, check_tensor
from tinyconv.nn.module import Module
from tinyconv.tensor import Tensor


def _check_loss_args(loss: str, reduction: Any, **optional_tensors: Any) -> None:
    """What a loss layer can check when it is built (the rest needs the input)."""
    check_reduction(loss, reduction)
    for name, value in optional_tensors.items():
        if value is not None:
            check_tensor(loss, name, value)


class CrossEntropyLoss(Module):
    """Softmax + negative log-likelihood of the target class: ``input: (N, C)`` scores,
    ``target: (N,)`` class indices."""

    def __init__(self, weight: Tensor | None = None, ignore_index: int = -100,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__()
        _check_loss_args("CrossEntropyLoss", reduction, weight=weight)
        check_int("CrossEntropyLoss", "ignore_index", ignore_index)
        check_number("CrossEntropyLoss", "label_smoothing", label_smoothing, low=0, high=1)
        self.weight, self.ignore_index = weight, ignore_index
        self.reduction, self.label_smoothing = reduction, label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(Module):
    """Negative log-likelihood given log-probabilities ``input: (N, C)``."""

    def __init__(self, weight: Tensor | None = None, ignore_index: int = -100,
                 reduction: str = "mean"):
        super().__init__()
        _check_loss_args("NLLLoss", reduction, weight=weight)
        check_int("NLLLoss", "ignore_index", ignore_index)
        self.weight, self.ignore_index, self.reduction = weight, ignore_index, reduction

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class MSELoss(Module):
    """Mean squared error."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        _check_loss_args("MSELoss", reduction)
        self.reduction = reduction

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class BCELoss(Module):
    """Binary cross-entropy on probabilities in [0, 1]."""

    def __init__(self, weight: Tensor | None = None, reduction: str = "mean"):
        super().__init__()
        _check_loss_args("BCELoss", reduction, weight=weight)
        self.weight, self.reduction = weight, reduction

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(Module):
    """Sigmoid + binary cross-entropy in one numerically stable step."""

    def __init__(self, weight: Tensor | None = None, reduction: str = "mean",
                 pos_weight: Tensor | None = None):
        super().__init__()
        _check_loss_args("BCEWithLogitsLoss", reduction, weight=weight, pos_weight=pos_weight)
        self.weight, self.reduction, self.pos_weight = weight, reduction, pos_weight

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, self.weight,
                                                  reduction=self.reduction,
                                                  pos_weight=self.pos_weight)
