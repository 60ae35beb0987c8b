"""RMSprop (PyTorch's ``torch.optim.RMSprop``)."""

from __future__ import annotations

from typing import Any

from tinyconv.optim.optimizer import Optimizer, ParamsArgument
from tinyconv.tensor import Tensor


class RMSprop(Optimizer):
    r"""RMSprop: divide the gradient by the root of a running mean of its square.

    With learning rate γ, smoothing constant α, weight decay λ and momentum μ::

        g ← ∇θ f(θ)                      (−∇θ f(θ) when maximize=True)
        g ← g + λθ                       if λ ≠ 0
        v ← α v + (1 − α) g²             running mean of g²                   (v₀ = 0)
        ṽ ← v
        if centered:                     subtract the squared running mean of g, so that
            ḡ ← α ḡ + (1 − α) g          ṽ estimates the variance of g        (ḡ₀ = 0)
            ṽ ← ṽ − ḡ²
        if μ > 0:
            b ← μ b + g / (√ṽ + ε)                                            (b₀ = 0)
            θ ← θ − γ b
        else:
            θ ← θ − γ g / (√ṽ + ε)

    (ε is added after the square root.) State per parameter: ``"step"``, ``"square_avg"`` (v),
    ``"momentum_buffer"`` (b) when μ > 0 and ``"grad_avg"`` (ḡ) when centered.
    """

    def __init__(self, params: ParamsArgument, lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0, momentum: float = 0,
                 centered: bool = False, *, maximize: bool = False):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, settings: dict) -> None:
        if not 0.0 <= settings["lr"]:
            raise ValueError(f"Invalid learning rate: {settings['lr']}")
        if not 0.0 <= settings["eps"]:
            raise ValueError(f"Invalid epsilon value: {settings['eps']}")
        if not 0.0 <= settings["momentum"]:
            raise ValueError(f"Invalid momentum value: {settings['momentum']}")
        if not 0.0 <= settings["weight_decay"]:
            raise ValueError(f"Invalid weight_decay value: {settings['weight_decay']}")
        if not 0.0 <= settings["alpha"]:
            raise ValueError(f"Invalid alpha value: {settings['alpha']}")

    def _update_parameter(self, param: Tensor, grad: Any, state: dict, group: dict) -> None:
        xp = param.xp
        lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
        weight_decay, momentum = group["weight_decay"], group["momentum"]

        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(param.data)              # v₀ = 0
            if momentum > 0:
                state["momentum_buffer"] = xp.zeros_like(param.data)     # b₀ = 0
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(param.data)            # ḡ₀ = 0
        state["step"] += 1

        g = -grad if group["maximize"] else grad
        if weight_decay != 0:
            g = g + weight_decay * param.data                            # g ← g + λθ

        v = alpha * state["square_avg"] + (1 - alpha) * g * g            # v ← αv + (1 − α)g²
        state["square_avg"] = v
        v_tilde = v
        if group["centered"]:
            g_avg = alpha * state["grad_avg"] + (1 - alpha) * g          # ḡ ← αḡ + (1 − α)g
            state["grad_avg"] = g_avg
            v_tilde = v - g_avg * g_avg                                  # ṽ = v − ḡ²
        scaled_grad = g / (xp.sqrt(v_tilde) + eps)                       # g / (√ṽ + ε)

        if momentum > 0:
            velocity = momentum * state["momentum_buffer"] + scaled_grad  # b ← μb + g/(√ṽ + ε)
            state["momentum_buffer"] = velocity
            param.data -= lr * velocity                                  # θ ← θ − γb
        else:
            param.data -= lr * scaled_grad                               # θ ← θ − γ g/(√ṽ + ε)
