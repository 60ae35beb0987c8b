"""Stochastic gradient descent, optionally with momentum (PyTorch's ``torch.optim.SGD``)."""

from __future__ import annotations

from typing import Any

from tinyconv.optim.optimizer import Optimizer, ParamsArgument
from tinyconv.tensor import Tensor


class SGD(Optimizer):
    r"""Stochastic gradient descent with optional momentum, Nesterov momentum and L2 weight decay.

    With learning rate γ, momentum μ, dampening τ and weight decay λ, one step is::

        g ← ∇θ f(θ)                      (−∇θ f(θ) when maximize=True)
        g ← g + λ θ                      if λ ≠ 0           (L2 penalty λ/2 ‖θ‖²)
        if μ ≠ 0:
            b ← g                        on the first step
            b ← μ b + (1 − τ) g          afterwards         (velocity: a running sum of gradients)
            g ← g + μ b  if nesterov  else  g ← b
        θ ← θ − γ g

    State per parameter: ``"momentum_buffer"`` (b), present when μ ≠ 0.

    Example::

        optimizer = tc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
    """

    def __init__(self, params: ParamsArgument, lr: float = 1e-3, momentum: float = 0,
                 dampening: float = 0, weight_decay: float = 0, nesterov: bool = False, *,
                 maximize: bool = False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, settings: dict) -> None:
        if not 0.0 <= settings["lr"]:
            raise ValueError(f"Invalid learning rate: {settings['lr']}")
        if not 0.0 <= settings["momentum"]:
            raise ValueError(f"Invalid momentum value: {settings['momentum']}")
        if not 0.0 <= settings["weight_decay"]:
            raise ValueError(f"Invalid weight_decay value: {settings['weight_decay']}")
        if settings["nesterov"] and (settings["momentum"] <= 0 or settings["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _update_parameter(self, param: Tensor, grad: Any, state: dict, group: dict) -> None:
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        weight_decay = group["weight_decay"]

        g = -grad if group["maximize"] else grad
        if weight_decay != 0:
            g = g + weight_decay * param.data                   # g ← g + λθ

        if momentum != 0:
            if "momentum_buffer" not in state:
                velocity = g.copy()                             # b₁ = g₁
            else:
                velocity = momentum * state["momentum_buffer"] + (1 - dampening) * g
                #                                               # b ← μb + (1 − τ)g
            state["momentum_buffer"] = velocity
            if group["nesterov"]:
                g = g + momentum * velocity                     # g ← g + μb
            else:
                g = velocity                                    # g ← b

        param.data -= lr * g                                    # θ ← θ − γg
