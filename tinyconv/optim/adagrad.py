"""Adagrad (PyTorch's ``torch.optim.Adagrad``)."""

from __future__ import annotations

from typing import Any

from tinyconv.optim.optimizer import Optimizer, ParamsArgument
from tinyconv.tensor import Tensor


class Adagrad(Optimizer):
    r"""Adagrad: each coordinate's step is divided by the root of the sum of all its past squared
    gradients, so often-updated coordinates slow down and rarely-updated ones keep moving.

    With learning rate γ, learning-rate decay η, weight decay λ and step count t = 1, 2, ...::

        g ← ∇θ f(θ)                      (−∇θ f(θ) when maximize=True)
        g ← g + λθ                       if λ ≠ 0
        γ̃ ← γ / (1 + (t − 1) η)          decayed learning rate
        s ← s + g²                       (s₀ = initial_accumulator_value)
        θ ← θ − γ̃ g / (√s + ε)

    State per parameter: ``"step"`` (t) and ``"sum"`` (s).
    """

    def __init__(self, params: ParamsArgument, lr: float = 1e-2, lr_decay: float = 0,
                 weight_decay: float = 0, initial_accumulator_value: float = 0,
                 eps: float = 1e-10, *, maximize: bool = False):
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, settings: dict) -> None:
        if not 0.0 <= settings["lr"]:
            raise ValueError(f"Invalid learning rate: {settings['lr']}")
        if not 0.0 <= settings["lr_decay"]:
            raise ValueError(f"Invalid lr_decay value: {settings['lr_decay']}")
        if not 0.0 <= settings["weight_decay"]:
            raise ValueError(f"Invalid weight_decay value: {settings['weight_decay']}")
        if not 0.0 <= settings["initial_accumulator_value"]:
            raise ValueError(f"Invalid initial_accumulator_value value: "
                             f"{settings['initial_accumulator_value']}")
        if not 0.0 <= settings["eps"]:
            raise ValueError(f"Invalid epsilon value: {settings['eps']}")

    def _update_parameter(self, param: Tensor, grad: Any, state: dict, group: dict) -> None:
        xp = param.xp
        lr, lr_decay, eps = group["lr"], group["lr_decay"], group["eps"]
        weight_decay = group["weight_decay"]

        if not state:
            state["step"] = 0
            state["sum"] = xp.full_like(param.data, group["initial_accumulator_value"])  # s₀
        state["step"] += 1
        t = state["step"]

        g = -grad if group["maximize"] else grad
        if weight_decay != 0:
            g = g + weight_decay * param.data                        # g ← g + λθ

        decayed_lr = lr / (1 + (t - 1) * lr_decay)                  # γ̃ = γ / (1 + (t − 1)η)
        squared_sum = state["sum"] + g * g                           # s ← s + g²
        state["sum"] = squared_sum

        param.data -= decayed_lr * g / (xp.sqrt(squared_sum) + eps)  # θ ← θ − γ̃ g/(√s + ε)
