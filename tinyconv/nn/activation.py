"""Activation layers: the nonlinearities between convolutions, as Modules."""

from __future__ import annotations

from typing import Any

import tinyconv.nn.functional as F
from tinyconv.nn.functional._args import check_int, check_number
from tinyconv.nn.module import Module
from tinyconv.tensor import Tensor


def _check_inplace(layer: str, inplace: Any) -> None:
    if not isinstance(inplace, bool):
        raise TypeError(f"{layer}: inplace must be True or False, got {inplace!r}")


class ReLU(Module):
    """``max(0, x)``: cheap, and its gradient does not vanish for positive inputs."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        _check_inplace("ReLU", inplace)
        self.inplace = inplace  # accepted for PyTorch compatibility; tinyconv never mutates

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(input)


class ReLU6(Module):
    """``min(max(0, x), 6)`` (MobileNetV2)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        _check_inplace("ReLU6", inplace)
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.relu6(input)


class LeakyReLU(Module):
    """``x`` for x > 0, ``negative_slope * x`` otherwise."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        check_number("LeakyReLU", "negative_slope", negative_slope)
        _check_inplace("LeakyReLU", inplace)
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    def forward(self, input: Tensor) -> Tensor:
        return F.sigmoid(input)


class Tanh(Module):
    def forward(self, input: Tensor) -> Tensor:
        return F.tanh(input)


class Softmax(Module):
    """Turns scores along ``dim`` into probabilities that sum to 1."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        if dim is not None:
            check_int(type(self).__name__, "dim", dim)
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """``log(softmax(x))`` computed stably (pairs with NLLLoss)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.log_softmax(input, self.dim)
