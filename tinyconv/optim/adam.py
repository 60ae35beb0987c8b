"""Adam and AdamW (PyTorch's ``torch.optim.Adam`` and ``torch.optim.AdamW``).

The two differ only in how weight decay enters:

- Adam adds the L2 penalty's gradient λθ to g, so it is rescaled by the adaptive denominator
  like the rest of the gradient;
- AdamW ("decoupled weight decay", Loshchilov & Hutter) shrinks θ directly, θ ← θ(1 − γλ),
  before the Adam step, so every weight decays at the same rate whatever its gradient history.
"""

from __future__ import annotations

from typing import Any

from tinyconv.optim.optimizer import Optimizer, ParamsArgument
from tinyconv.tensor import Tensor


class Adam(Optimizer):
    r"""Adam: momentum on the gradient (m) divided by the root of a running mean of its square (v).

    With learning rate γ, betas (β₁, β₂), weight decay λ and step count t = 1, 2, ...::

        g ← ∇θ f(θ)                      (−∇θ f(θ) when maximize=True)
        if decoupled_weight_decay:  θ ← θ(1 − γλ)       (AdamW)
        else if λ ≠ 0:              g ← g + λθ         (L2 penalty)
        m ← β₁ m + (1 − β₁) g            first moment: running mean of g        (m₀ = 0)
        v ← β₂ v + (1 − β₂) g²           second moment: running mean of g²      (v₀ = 0)
        m̂ ← m / (1 − β₁ᵗ)                bias corrections: m and v start at 0,
        v̂ ← v / (1 − β₂ᵗ)                so early averages are too small
        if amsgrad:  v_max ← max(v_max, v);  v̂ ← v_max / (1 − β₂ᵗ)
        θ ← θ − γ m̂ / (√v̂ + ε)

    On the first step m̂ = g and v̂ = g², so every parameter moves by about γ·sign(g).

    State per parameter: ``"step"`` (t), ``"exp_avg"`` (m), ``"exp_avg_sq"`` (v) and, with
    amsgrad, ``"max_exp_avg_sq"`` (v_max).
    """

    def __init__(self, params: ParamsArgument, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False):
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                        weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, settings: dict) -> None:
        beta1, beta2 = settings["betas"]
        if not 0.0 <= settings["lr"]:
            raise ValueError(f"Invalid learning rate: {settings['lr']}")
        if not 0.0 <= settings["eps"]:
            raise ValueError(f"Invalid epsilon value: {settings['eps']}")
        if not 0.0 <= beta1 < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {beta1}")
        if not 0.0 <= beta2 < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {beta2}")
        if not 0.0 <= settings["weight_decay"]:
            raise ValueError(f"Invalid weight_decay value: {settings['weight_decay']}")

    def _update_parameter(self, param: Tensor, grad: Any, state: dict, group: dict) -> None:
        xp = param.xp
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        weight_decay = group["weight_decay"]

        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(param.data)             # m₀ = 0
            state["exp_avg_sq"] = xp.zeros_like(param.data)          # v₀ = 0
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = xp.zeros_like(param.data)
        state["step"] += 1
        t = state["step"]

        g = -grad if group["maximize"] else grad
        if weight_decay != 0:
            if group["decoupled_weight_decay"]:
                param.data *= 1 - lr * weight_decay                  # θ ← θ(1 − γλ)
            else:
                g = g + weight_decay * param.data                    # g ← g + λθ

        m = beta1 * state["exp_avg"] + (1 - beta1) * g               # m ← β₁m + (1 − β₁)g
        v = beta2 * state["exp_avg_sq"] + (1 - beta2) * g * g        # v ← β₂v + (1 − β₂)g²
        state["exp_avg"], state["exp_avg_sq"] = m, v

        m_hat = m / (1 - beta1 ** t)                                 # m̂ = m / (1 − β₁ᵗ)
        if group["amsgrad"]:
            v_max = xp.maximum(state["max_exp_avg_sq"], v)           # v_max ← max(v_max, v)
            state["max_exp_avg_sq"] = v_max
            v_hat = v_max / (1 - beta2 ** t)                         # v̂ = v_max / (1 − β₂ᵗ)
        else:
            v_hat = v / (1 - beta2 ** t)                             # v̂ = v / (1 − β₂ᵗ)

        param.data -= lr * m_hat / (xp.sqrt(v_hat) + eps)            # θ ← θ − γ m̂/(√v̂ + ε)


class AdamW(Adam):
    r"""Adam with decoupled weight decay (default λ = 1e-2): each step first shrinks the weights,
    θ ← θ(1 − γλ), then takes a plain Adam step on the loss gradient alone (see :class:`Adam`)."""

    def __init__(self, params: ParamsArgument, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=True)

