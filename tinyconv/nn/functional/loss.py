"""Loss functions, with PyTorch's names, arguments and semantics.

Classification losses take scores ``input: (N, C)`` (or ``(N, C, d1, ...)`` for a class per
pixel, or an unbatched ``(C,)``) and class indices ``target: (N,)`` (or ``(N, d1, ...)``, or a
0-d index). ``reduction`` is ``"none"`` (one loss per element), ``"sum"`` or ``"mean"``.

Most losses are compositions of tensor operations, so their gradients come from the rules in
``tinyconv.ops``. The two binary cross-entropies get their own :class:`Function`: their
PyTorch gradients at the edges (a probability of exactly 0 or 1, a logit of exactly 0) are not
what composing clamped logs or ``|x|`` would give.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from tinyconv import ops
from tinyconv.autograd import Function, check_same_device
from tinyconv.dtypes import is_floating_dtype
from tinyconv.nn.functional._args import check_float_tensors, check_reduction, check_tensor
from tinyconv.nn.functional.activation import log_softmax
from tinyconv.tensor import Tensor

# ---------------------------------------------------------------------------------------------
# Shared checks
# ---------------------------------------------------------------------------------------------


def _check_same_shape(op: str, input: Tensor, target: Tensor) -> None:
    if input.shape != target.shape:
        raise ValueError(f"{op}: target of shape {target.shape} must have the same shape as "
                         f"input {input.shape} (tinyconv does not broadcast a loss's target: a "
                         f"mismatch there is almost always a bug)")


def _check_broadcasts_to(op: str, name: str, t: Tensor | None, shape: tuple) -> None:
    if t is None:
        return
    try:
        fits = np.broadcast_shapes(t.shape, shape) == tuple(shape)
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{op}: {name} of shape {t.shape} must broadcast to the input's shape "
                         f"{shape}")


def _reduce(losses: Tensor, reduction: str) -> Tensor:
    if reduction == "sum":
        return losses.sum()
    if reduction == "mean":
        return losses.mean()
    return losses


def _mean_over_weight(losses: Tensor, total_weight: float) -> Tensor:
    """``Σ losses / total_weight``: the weighted mean of the class-index losses. When every
    target is ignored the total is 0 and the mean is NaN (0/0), as in PyTorch; the gradient is
    then 0, since no loss depends on the input."""
    if total_weight > 0:
        return losses.sum() / total_weight
    return losses.sum() + float("nan")


# ---------------------------------------------------------------------------------------------
# Class-index targets (nll_loss, cross_entropy)
# ---------------------------------------------------------------------------------------------


def _class_index_targets(op: str, input: Tensor, target: Tensor, weight: Tensor | None,
                         ignore_index: int) -> tuple:
    """Check ``target`` as class indices for ``input`` and return ``(input, target, unbatched)``
    with an unbatched ``(C,)`` / 0-d pair turned into a batch of one."""
    if target.dtype.kind not in "iu":
        hint = (f"; class probabilities (for cross_entropy) must have the input's shape "
                f"{input.shape}" if op == "cross_entropy" and is_floating_dtype(target.dtype)
                else "")
        raise TypeError(f"{op}: target must hold class indices of an integer dtype (tc.int64), "
                        f"got dtype {target.dtype}{hint}")
    if not isinstance(ignore_index, numbers.Integral) or isinstance(ignore_index, bool):
        raise TypeError(f"{op}: ignore_index must be an int, got {ignore_index!r}")
    check_same_device(op, (input, target))
    if input.ndim == 0:
        raise ValueError(f"{op}: input must have a class dimension: (N, C), (N, C, d1, ...) "
                         f"or unbatched (C,), got a 0-d tensor")
    unbatched = input.ndim == 1
    if unbatched:
        if target.ndim != 0:
            raise ValueError(f"{op}: for an unbatched input of shape {input.shape} (C,), target "
                             f"must be a 0-d class index, got shape {target.shape}")
        input, target = input.unsqueeze(0), target.reshape(1)
    expected = input.shape[:1] + input.shape[2:]
    if target.shape != expected:
        raise ValueError(f"{op}: target of shape {target.shape} does not fit input of shape "
                         f"{input.shape}: expected target shape {expected} (the input's shape "
                         "without the class dimension 1)")
    classes = input.shape[1]
    if weight is not None and weight.shape != (classes,):
        raise ValueError(f"{op}: weight must have shape ({classes},) (one weight per class), "
                         f"got {weight.shape}")
    labels = target.data
    out_of_range = (labels != ignore_index) & ((labels < 0) | (labels >= classes))
    if out_of_range.any():
        bad = int(labels[out_of_range].reshape(-1)[0])
        raise IndexError(f"{op}: target {bad} is out of range for {classes} classes (expected "
                         f"0 <= target <= {classes - 1}, or ignore_index = {ignore_index})")
    return input, target, unbatched


def _target_weights(input: Tensor, target: Tensor, weight: Tensor | None,
                    ignore_index: int) -> tuple:
    """``(indices, weights)``: the target classes with ignored ones replaced by class 0 (so
    they can index safely), and each element's weight ``w[target]``, 0 where ignored."""
    xp = input.xp
    ignored = target.data == ignore_index
    indices = xp.where(ignored, 0, target.data).astype(np.int64)
    class_weights = (weight.data[indices] if weight is not None
                     else xp.ones(indices.shape, dtype=input.dtype))
    return indices, (class_weights * ~ignored).astype(input.dtype, copy=False)


def _pick_classes(log_probs: Tensor, indices: Any) -> Tensor:
    """``log_probs[n, indices[n, ...], ...]``: each element's log-probability of its class."""
    picked = ops.TakeAlongDimFunction.apply(
        log_probs, indices=log_probs.xp.expand_dims(indices, 1), axis=1)
    return picked.squeeze(1)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
             ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood: ``loss_n = -w[t_n] · input[n, t_n]`` for log-probabilities
    ``input: (N, C)`` (e.g. from :func:`log_softmax`) and class indices ``target: (N,)``.

    Also ``(N, C, d1, ...)`` with ``(N, d1, ...)`` targets, and unbatched ``(C,)`` with a 0-d
    target. Targets equal to ``ignore_index`` contribute 0. ``weight: (C,)`` rescales each
    class (a constant: no gradient flows to it). ``"mean"`` divides the sum by the total weight
    of the non-ignored targets, ``Σ_n w[t_n]``, not by N.
    """
    op = "nll_loss"
    check_tensor(op, "input", input)
    check_tensor(op, "target", target)
    check_float_tensors(op, input=input, weight=weight)
    check_reduction(op, reduction)
    batched, target, unbatched = _class_index_targets(op, input, target, weight, ignore_index)
    indices, element_weights = _target_weights(batched, target, weight, ignore_index)
    losses = -_pick_classes(batched, indices) * Tensor._from_array(element_weights, input.device)
    if reduction == "mean":
        return _mean_over_weight(losses, float(element_weights.sum()))
    if reduction == "sum":
        return losses.sum()
    return losses.reshape(()) if unbatched else losses


def _check_label_smoothing(op: str, label_smoothing: Any) -> float:
    if not isinstance(label_smoothing, numbers.Real) or isinstance(label_smoothing, bool) \
            or not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be a number in [0, 1], got "
                         f"{label_smoothing!r}")
    return float(label_smoothing)


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                  ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy between scores ``input: (N, C)`` and targets.

    ``target`` is either

    - class indices ``(N,)`` of an integer dtype: ``loss_n = -w[t_n] · log_softmax(x_n)[t_n]``;
      ``(N, C, d1, ...)`` scores take ``(N, d1, ...)`` targets; unbatched ``(C,)`` takes a 0-d
      target; targets equal to ``ignore_index`` contribute 0, and ``"mean"`` divides by the
      total weight ``Σ w[t_n]`` of the others; or
    - class probabilities of the input's shape and dtype: ``loss_n = -Σ_c w_c p_nc
      log_softmax(x_n)_c``; ``"mean"`` divides by the number of samples (N · d1 · ...).

    ``label_smoothing = ε`` mixes the target with the uniform distribution over the C classes:
    the target becomes ``(1 - ε) · onehot(t) + ε / C``. For class indices that is
    ``(1 - ε) · nll_n + (ε / C) · Σ_c -w_c log_softmax(x_n)_c`` (both terms share the mean's
    denominator), as in PyTorch. ``weight: (C,)`` is a constant (no gradient flows to it).
    Computed from :func:`log_softmax`, so large scores do not overflow.
    """
    op = "cross_entropy"
    check_tensor(op, "input", input)
    check_tensor(op, "target", target)
    check_float_tensors(op, input=input, weight=weight)
    check_reduction(op, reduction)
    smoothing = _check_label_smoothing(op, label_smoothing)
    if is_floating_dtype(target.dtype) and target.shape == input.shape and input.ndim >= 1:
        return _cross_entropy_with_probabilities(op, input, target, weight, reduction, smoothing)

    batched, target, unbatched = _class_index_targets(op, input, target, weight, ignore_index)
    indices, element_weights = _target_weights(batched, target, weight, ignore_index)
    log_probs = log_softmax(batched, dim=1)
    losses = -_pick_classes(log_probs, indices) * Tensor._from_array(element_weights,
                                                                    input.device)
    if smoothing > 0:
        classes = batched.shape[1]
        weighted = log_probs if weight is None else log_probs * _along_class_dim(weight,
                                                                               batched.ndim)
        not_ignored = (target.data != ignore_index).astype(input.dtype)
        uniform_part = -weighted.sum(dim=1) * Tensor._from_array(not_ignored, input.device)
        losses = (1 - smoothing) * losses + (smoothing / classes) * uniform_part
    if reduction == "mean":
        return _mean_over_weight(losses, float(element_weights.sum()))
    if reduction == "sum":
        return losses.sum()
    return losses.reshape(()) if unbatched else losses


def _along_class_dim(weight: Tensor, ndim: int) -> Tensor:
    """``(C,) -> (1, C, 1, ...)``: a per-class constant that broadcasts along dimension 1."""
    return weight.detach().reshape((1, -1) + (1,) * (ndim - 2))


def _cross_entropy_with_probabilities(op: str, input: Tensor, target: Tensor,
                                      weight: Tensor | None, reduction: str,
                                      smoothing: float) -> Tensor:
    check_float_tensors(op, input=input, target=target)
    batched = input.unsqueeze(0) if input.ndim == 1 else input
    probs = target.unsqueeze(0) if input.ndim == 1 else target
    classes = batched.shape[1]
    if weight is not None and weight.shape != (classes,):
        raise ValueError(f"{op}: weight must have shape ({classes},) (one weight per class), "
                         f"got {weight.shape}")
    if smoothing > 0:
        probs = probs * (1 - smoothing) + smoothing / classes
    log_probs = log_softmax(batched, dim=1)
    if weight is not None:
        log_probs = log_probs * _along_class_dim(weight, batched.ndim)
    losses = -(log_probs * probs).sum(dim=1)  # (N, d1, ...)
    if input.ndim == 1:
        losses = losses.reshape(())
    return _reduce(losses, reduction)


# ---------------------------------------------------------------------------------------------
# Regression
# ---------------------------------------------------------------------------------------------


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Squared error ``(input - target)²`` per element, reduced. ``input`` and ``target`` have
    the same shape (any) and float dtype; both may require gradients."""
    op = "mse_loss"
    check_tensor(op, "input", input)
    check_tensor(op, "target", target)
    check_float_tensors(op, input=input, target=target)
    check_reduction(op, reduction)
    _check_same_shape(op, input, target)
    difference = input - target
    return _reduce(difference * difference, reduction)


# ---------------------------------------------------------------------------------------------
# Binary cross-entropy
# ---------------------------------------------------------------------------------------------

_LOG_FLOOR = -100.0  # PyTorch clamps log(p) here, so p = 0 gives a loss of 100, not infinity
# PyTorch's lower bound on p(1 - p) in the gradient: 1e-12, stored as a float32 (hence not exactly
# 1e-12 in float64); the same constant makes the gradients at p = 0 or 1 match bit for bit
_BCE_GRAD_EPS = float(np.float32(1e-12))


class BinaryCrossEntropyFunction(Function):
    """``loss = -(t · max(log p, -100) + (1 - t) · max(log(1 - p), -100))`` elementwise."""

    name = "binary_cross_entropy"

    def forward(self, p, t):
        xp = self.xp
        with np.errstate(divide="ignore"):  # log(0) = -inf is expected; the floor catches it
            log_p = xp.maximum(xp.log(p), _LOG_FLOOR)
            log_not_p = xp.maximum(xp.log1p(-p), _LOG_FLOOR)
        self.save_for_backward(p, t, log_p, log_not_p)
        return -(t * log_p + (1 - t) * log_not_p)

    def backward(self, grad):
        p, t, log_p, log_not_p = self.saved
        grad_p = grad_t = None
        if self.needs_input_grad[0]:
            # d/dp = -t/p + (1 - t)/(1 - p) = (p - t) / (p (1 - p)); PyTorch bounds the
            # denominator below by 1e-12 so p = 0 or 1 gives a large but finite gradient.
            grad_p = grad * (p - t) / self.xp.maximum(p * (1 - p), _BCE_GRAD_EPS)
        if self.needs_input_grad[1]:
            # d/dt = -(log p - log(1 - p)), with the clamped logs of the forward pass (PyTorch
            # uses the unclamped ones, which are ±inf at p = 0 or 1; inside (0, 1) they agree)
            grad_t = grad * (log_not_p - log_p)
        return grad_p, grad_t


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         reduction: str = "mean") -> Tensor:
    """``-w · (t log p + (1 - t) log(1 - p))`` for probabilities ``input`` in [0, 1] and
    targets of the same shape (any); each log is clamped at -100 (as PyTorch), so a confident
    wrong answer costs 100, not infinity. ``weight`` broadcasts to the input's shape and is a
    constant. ``"mean"`` is the plain mean over elements. For raw scores use
    :func:`binary_cross_entropy_with_logits`, which is more accurate.
    """
    op = "binary_cross_entropy"
    check_tensor(op, "input", input)
    check_tensor(op, "target", target)
    check_float_tensors(op, input=input, target=target, weight=weight)
    check_reduction(op, reduction)
    _check_same_shape(op, input, target)
    _check_broadcasts_to(op, "weight", weight, input.shape)
    outside = (input.data < 0) | (input.data > 1)
    if outside.any():
        bad = float(input.data[outside].reshape(-1)[0])
        raise ValueError(f"{op}: all elements of input must be probabilities in [0, 1], got "
                         f"{bad}; apply sigmoid first, or use binary_cross_entropy_with_logits "
                         "on raw scores")
    losses = BinaryCrossEntropyFunction.apply(input, target)
    if weight is not None:
        losses = losses * weight.detach()
    return _reduce(losses, reduction)


class BinaryCrossEntropyWithLogitsFunction(Function):
    """``loss = (1 - t) x + (1 + (q - 1) t) softplus(-x)`` elementwise, ``q`` the pos_weight.

    With ``σ`` the sigmoid, ``-log σ(x) = softplus(-x)`` and
    ``-log(1 - σ(x)) = x + softplus(-x)``,
    so ``-(q t log σ(x) + (1 - t) log(1 - σ(x)))`` is the expression above. The stable softplus
    ``softplus(-x) = max(-x, 0) + log(1 + e^(-|x|))`` never exponentiates a positive number.
    """

    name = "binary_cross_entropy_with_logits"

    def forward(self, x, t, pos_weight=None):
        xp = self.xp
        softplus_neg_x = xp.maximum(-x, 0) + xp.log1p(xp.exp(-xp.abs(x)))
        log_weight = 1 if pos_weight is None else 1 + (pos_weight - 1) * t
        self.pos_weight = pos_weight
        self.save_for_backward(x, t, softplus_neg_x)
        return ((1 - t) * x + log_weight * softplus_neg_x).astype(x.dtype, copy=False)

    def backward(self, grad):
        xp = self.xp
        x, t, softplus_neg_x = self.saved
        pos_weight = self.pos_weight
        grad_x = grad_t = None
        if self.needs_input_grad[0]:
            # d/dx = (1 - t) - (1 + (q - 1) t) σ(-x), since d softplus(-x)/dx = -σ(-x).
            # σ(-x) computed stably from e = e^(-|x|): e/(1+e) for x >= 0, 1/(1+e) for x < 0.
            e = xp.exp(-xp.abs(x))
            sigmoid_neg_x = xp.where(x >= 0, e, 1.0) / (1 + e)
            log_weight = 1 if pos_weight is None else 1 + (pos_weight - 1) * t
            grad_x = grad * ((1 - t) - log_weight * sigmoid_neg_x)
        if self.needs_input_grad[1]:  # d/dt = -x + (q - 1) softplus(-x)
            grad_t = grad * (-x if pos_weight is None else -x + (pos_weight - 1) * softplus_neg_x)
        return grad_x, grad_t


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,
                                     weight: Tensor | None = None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """``binary_cross_entropy(sigmoid(input), target)`` in one numerically stable step.

    ``input``: raw scores (logits), any shape; ``target``: the same shape, values in [0, 1].
    ``weight`` broadcasts to the input's shape and rescales each element's loss;
    ``pos_weight`` (e.g. ``(C,)`` for the last dimension) multiplies the positive term
    ``-t log σ(x)``: > 1 favours recall. Both are constants (no gradient, as in PyTorch).
    """
    op = "binary_cross_entropy_with_logits"
    check_tensor(op, "input", input)
    check_tensor(op, "target", target)
    check_float_tensors(op, input=input, target=target, weight=weight, pos_weight=pos_weight)
    check_reduction(op, reduction)
    _check_same_shape(op, input, target)
    _check_broadcasts_to(op, "weight", weight, input.shape)
    _check_broadcasts_to(op, "pos_weight", pos_weight, input.shape)
    losses = BinaryCrossEntropyWithLogitsFunction.apply(
        input, target, pos_weight=None if pos_weight is None else pos_weight.data)
    if weight is not None:
        losses = losses * weight.detach()
    return _reduce(losses, reduction)
