"""Parameter: a tensor that a Module registers as learnable."""

from __future__ import annotations

from typing import Any

from tinyconv.tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor with ``requires_grad=True`` by default; assigning one to a Module attribute
    registers it, so ``module.parameters()`` finds it. Built from a tensor, it shares its memory."""

    def __init__(self, data: Any = None, requires_grad: bool = True):
        source = data if isinstance(data, Tensor) else Tensor([] if data is None else data)
        self.data, self.device = source.data, source.device
        self.grad, self._ctx, self._retains_grad, self.requires_grad = None, None, False, False
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
