"""``tc.nn.utils``: gradient clipping (PyTorch's ``torch.nn.utils.clip_grad_norm_`` and
``clip_grad_value_``).

Call either between ``loss.backward()`` and ``optimizer.step()``; both change the gradients in
place::

    loss.backward()
    tc.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    optimizer.step()
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from tinyconv.creation import tensor
from tinyconv.tensor import Tensor

TensorOrTensors = Tensor | Iterable[Tensor]


def _gradients(parameters: TensorOrTensors) -> list[Tensor]:
    """The ``.grad`` of each parameter that has one (a single tensor is accepted too)."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [param.grad for param in parameters if param.grad is not None]


def _vector_norm(xp: Any, array: Any, norm_type: float) -> Any:
    """The ``norm_type``-norm of ``array`` seen as one long vector, as a 0-d array::

        ‖x‖_p = (Σ |xᵢ|^p)^(1/p),   ‖x‖_∞ = max |xᵢ|,   ‖x‖_−∞ = min |xᵢ|,   ‖x‖_0 = #{xᵢ ≠ 0}
    """
    magnitudes = xp.abs(array)
    if magnitudes.size == 0:
        return xp.zeros((), dtype=array.dtype)
    if norm_type == math.inf:
        return magnitudes.max()
    if norm_type == -math.inf:
        return magnitudes.min()
    if norm_type == 0:
        return (magnitudes != 0).sum().astype(array.dtype)
    if norm_type == 1:
        return magnitudes.sum()
    if norm_type == 2:
        return xp.sqrt((magnitudes * magnitudes).sum())
    return (magnitudes ** norm_type).sum() ** (1.0 / norm_type)


def clip_grad_norm_(parameters: TensorOrTensors, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    r"""Rescale the gradients so that their total norm is at most ``max_norm``.

    The total norm treats all the gradients as one long vector: the ``norm_type``-norm of the
    per-gradient norms (``norm_type=inf`` gives the largest absolute entry). Every gradient is then
    multiplied, in place, by::

        min(1, max_norm / (total_norm + 1e-6))

    so gradients already inside the ball are unchanged and the others keep their direction.
    Returns the total norm *before* clipping, as a 0-d tensor (log it to watch for exploding
    gradients). Parameters without a gradient are ignored; with none at all, the norm is 0.

    ``error_if_nonfinite=True`` raises a RuntimeError when the total norm is nan or inf instead
    of filling the gradients with nan.
    """
    max_norm, norm_type = float(max_norm), float(norm_type)
    grads = _gradients(parameters)
    if not grads:
        return tensor(0.0)
    device = grads[0].device
    xp = grads[0].xp
    for grad in grads:
        if grad.device != device:
            raise RuntimeError(f"clip_grad_norm_: expected all gradients on the same device, "
                               f"got {device} and {grad.device}")

    per_gradient_norms = xp.stack([_vector_norm(xp, grad.data, norm_type) for grad in grads])
    total_norm = _vector_norm(xp, per_gradient_norms, norm_type)

    if error_if_nonfinite and not bool(xp.isfinite(total_norm)):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` "
                           f"is non-finite, so it cannot be clipped. To disable this error and "
                           f"scale the gradients by the non-finite norm anyway, set "
                           f"`error_if_nonfinite=False`")

    clip_coefficient = max_norm / (total_norm + 1e-6)
    clip_coefficient = xp.minimum(clip_coefficient, 1.0)    # never scale gradients up
    for grad in grads:
        grad.data *= clip_coefficient
    return tensor(total_norm, device=device)


def clip_grad_value_(parameters: TensorOrTensors, clip_value: float) -> None:
    """Clamp every gradient entry, in place, into ``[-clip_value, clip_value]``."""
    clip_value = float(clip_value)
    for grad in _gradients(parameters):
        grad.data[...] = grad.xp.clip(grad.data, -clip_value, clip_value)
