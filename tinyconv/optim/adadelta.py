"""Adadelta (PyTorch's ``torch.optim.Adadelta``)."""

from __future__ import annotations

from typing import Any

from tinyconv.optim.optimizer import Optimizer, ParamsArgument
from tinyconv.tensor import Tensor


class Adadelta(Optimizer):
    r"""Adadelta: the step is the gradient rescaled by RMS(past steps) / RMS(past gradients), so it
    has the units of θ; ``lr`` (default 1.0) only scales the result.

    With coefficient ρ, weight decay λ and learning rate γ::

        g ← ∇θ f(θ)                      (−∇θ f(θ) when maximize=True)
        g ← g + λθ                       if λ ≠ 0
        v ← ρ v + (1 − ρ) g²             running mean of squared gradients     (v₀ = 0)
        Δθ ← √(u + ε) / √(v + ε) · g     step, with u from the previous steps
        u ← ρ u + (1 − ρ) Δθ²            running mean of squared steps         (u₀ = 0)
        θ ← θ − γ Δθ

    State per parameter: ``"step"``, ``"square_avg"`` (v) and ``"acc_delta"`` (u).
    """

    def __init__(self, params: ParamsArgument, lr: float = 1.0, rho: float = 0.9,
                 eps: float = 1e-6, weight_decay: float = 0, *, maximize: bool = False):
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, settings: dict) -> None:
        if not 0.0 <= settings["lr"]:
            raise ValueError(f"Invalid learning rate: {settings['lr']}")
        if not 0.0 <= settings["rho"] <= 1.0:
            raise ValueError(f"Invalid rho value: {settings['rho']}")
        if not 0.0 <= settings["eps"]:
            raise ValueError(f"Invalid epsilon value: {settings['eps']}")
        if not 0.0 <= settings["weight_decay"]:
            raise ValueError(f"Invalid weight_decay value: {settings['weight_decay']}")

    def _update_parameter(self, param: Tensor, grad: Any, state: dict, group: dict) -> None:
        xp = param.xp
        lr, rho, eps, weight_decay = group["lr"], group["rho"], group["eps"], group["weight_decay"]

        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(param.data)          # v₀ = 0
            state["acc_delta"] = xp.zeros_like(param.data)           # u₀ = 0
        state["step"] += 1

        g = -grad if group["maximize"] else grad
        if weight_decay != 0:
            g = g + weight_decay * param.data                        # g ← g + λθ

        v = rho * state["square_avg"] + (1 - rho) * g * g            # v ← ρv + (1 − ρ)g²
        u = state["acc_delta"]
        delta = xp.sqrt(u + eps) / xp.sqrt(v + eps) * g              # Δθ = √(u + ε)/√(v + ε) · g
        u = rho * u + (1 - rho) * delta * delta                      # u ← ρu + (1 − ρ)Δθ²
        state["square_avg"], state["acc_delta"] = v, u

        param.data -= lr * delta                                     # θ ← θ − γΔθ
