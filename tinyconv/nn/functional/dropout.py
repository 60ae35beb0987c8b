"""Dropout: in training, zero random entries and scale the survivors by ``1 / (1 - p)``.

This is *inverted* dropout: scaling at training time keeps the expected value of every entry
unchanged (``E[y] = (1 - p) · x / (1 - p) = x``), so evaluation needs no rescaling and is the
identity. The backward pass sends the gradient through the same mask with the same scale.

Masks are drawn from ``tc.default_generator()`` (on the host, so CPU and GPU runs agree), which
``tc.manual_seed`` seeds.
"""

from __future__ import annotations

import numbers
from typing import Any

from tinyconv.autograd import Function
from tinyconv.dtypes import is_floating_dtype
from tinyconv.random import default_generator
from tinyconv.tensor import Tensor


class ScaledMaskFunction(Function):
    """``y = x * m`` for a fixed array ``m`` (the scaled dropout mask), which may broadcast
    against ``x`` (one value per channel for ``dropout2d``)."""

    name = "dropout"

    def forward(self, x, scaled_mask=None):
        self.scaled_mask = scaled_mask
        return x * scaled_mask

    def backward(self, grad):  # dy/dx = m: dropped entries get no gradient
        return grad * self.scaled_mask


def _check_dropout_args(op: str, input: Any, p: Any, training: Any) -> float:
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if not is_floating_dtype(input.dtype):
        raise TypeError(f"{op}: input must be a floating point tensor, got dtype {input.dtype}")
    if not isinstance(p, numbers.Real) or isinstance(p, bool) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p!r}")
    if not isinstance(training, bool):
        raise TypeError(f"{op}: training must be True or False, got {training!r}")
    return float(p)


def _drop(input: Tensor, p: float, mask_shape: tuple) -> Tensor:
    """Keep each entry of a ``mask_shape`` mask with probability ``1 - p``, scaled by
    ``1 / (1 - p)``, and multiply ``input`` by it (the mask broadcasts over the rest)."""
    keep = default_generator().random(mask_shape) >= p
    # p = 1 drops everything; the scale would be 1/0, but nothing survives to be scaled
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    scaled_mask = input.xp.asarray((keep * scale).astype(input.dtype))
    return ScaledMaskFunction.apply(input, scaled_mask=scaled_mask)


def dropout(input: Tensor, p: float = 0.5, training: bool = True,
            inplace: bool = False) -> Tensor:
    """Zero each entry independently with probability ``p`` and scale the rest by
    ``1 / (1 - p)`` when ``training``; return ``input`` unchanged otherwise.

    ``input``: any shape. ``p`` in [0, 1]: ``p = 0`` is the identity, ``p = 1`` gives zeros.
    ``inplace`` is accepted for PyTorch compatibility; tinyconv never overwrites ``input``.
    """
    p = _check_dropout_args("dropout", input, p, training)
    if not training or p == 0.0:
        return input
    return _drop(input, p, input.shape)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels: each ``(n, c)`` feature map of ``input: (N, C, H, W)`` is dropped
    with probability ``p`` (the survivors scaled by ``1 / (1 - p)``) when ``training``.

    Neighbouring pixels of a feature map are strongly correlated, so dropping single pixels
    barely regularises a conv net; dropping the whole map does. An unbatched ``(C, H, W)`` input
    drops each of its C channels. (PyTorch currently reads a 3-D input as ``(N, C, L)`` with a
    warning and plans to switch to ``(C, H, W)``; tinyconv takes the ``(C, H, W)`` reading.)
    """
    op = "dropout2d"
    p = _check_dropout_args(op, input, p, training)
    if input.ndim not in (3, 4):
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W) or a 3-D unbatched input "
                         f"(C, H, W), got shape {input.shape}")
    if not training or p == 0.0:
        return input
    channels = input.shape[:-2]  # (N, C) or (C,): one draw per feature map
    return _drop(input, p, channels + (1, 1))
