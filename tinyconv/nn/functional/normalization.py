"""Normalisation layers: batch norm (per channel, over the batch) and layer norm (per sample).

Batch norm is a hot op in ResNets, so it is one :class:`Function` with a hand-written backward
(the derivation is in :class:`BatchNormFunction`) rather than a chain of a dozen small ops, each
of which would allocate its own intermediate and its own gradient.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

from tinyconv.autograd import Function, check_same_device, no_grad
from tinyconv.backend import kernels_for
from tinyconv.functions import pad
from tinyconv.kernels.contract import optional_batch_norm, optional_conv_epilogue
from tinyconv.nn.functional._args import check_float_tensors, check_number
from tinyconv.nn.functional._epilogue import bias_relu, relu_backward
from tinyconv.tensor import Tensor


class BatchNormFunction(Function):
    """``y = γ · x̂ + β`` per channel, with ``x̂ = (x - μ) / √(σ² + ε)``.

    ``x: (N, C, *)``, ``γ, β: (C,)``. In training ``μ, σ²`` are the batch statistics of each
    channel (the variance biased: divided by ``m``, the number of values per channel); in eval
    they are the running statistics, given as the fixed arrays ``mean`` and ``var``.

    Backward, training mode. With ``δ = dL/dy`` and all sums over the ``m`` values of a channel:

    - ``dL/dβ = Σ δ``, ``dL/dγ = Σ δ x̂``, and ``g := dL/dx̂ = γ δ``.
    - ``x̂_i`` depends on ``x_j`` directly and through ``μ`` and ``σ²``. With
      ``s = 1/√(σ² + ε)``, ``dμ/dx_j = 1/m`` and ``dσ²/dx_j = 2 (x_j - μ) / m``:

      ``dx̂_i/dx_j = s (δ_ij - 1/m) - (x_i - μ) s³ (x_j - μ) / m``
      ``= (s/m) (m δ_ij - 1 - x̂_i x̂_j)``.
    - So ``dL/dx_j = Σ_i g_i dx̂_i/dx_j = (s/m) (m g_j - Σ g - x̂_j Σ g x̂)``, that is
      ``dL/dx = γ s (δ - mean(δ) - x̂ · mean(δ x̂))``.

    The two means are the only reductions: one pass for ``dL/dβ`` and ``dL/dγ``, reused for
    ``dL/dx``. In eval mode ``μ`` and ``σ²`` are constants, so ``dL/dx = γ s δ`` only.

    ``fused``: a module with ``forward``/``backward`` computing the training-mode formulas in
    fewer passes over memory and ``inference`` for eval mode (``kernels/cpu/batch_norm.py``), or
    None for the array-module code below, which runs on every device and is the version to read.
    """

    name = "batch_norm"

    def forward(self, x, weight, bias, training=False, mean=None, var=None, eps=1e-5,
                fused=None, relu=False, epilogue=None):
        y = self._normalize(x, weight, bias, training, mean, var, eps, fused)
        # relu=True: ``relu(batch_norm(x))`` in one operation (``F.batch_norm_relu``), the ReLU
        # in place, in one threaded pass with the kernel set's conv_epilogue when it has one
        self.relu_out, self.epilogue = None, epilogue
        if relu:
            y = bias_relu(epilogue, self.xp, y, None)
            if any(self.needs_input_grad):
                self.relu_out = y
        return y

    def release(self) -> None:
        super().release()
        self.relu_out = None

    def _normalize(self, x, weight, bias, training, mean, var, eps, fused):
        # Work on x as (N, C, P), P = the spatial positions: a per-channel sum is then a
        # contiguous sum along P followed by a sum over N, which NumPy (and CuPy) do far faster
        # than one reduction over the axes (0, 2, 3) of an NCHW array.
        self.shape = x.shape
        positions = math.prod(x.shape[2:])  # 1 for (N, C) inputs
        x3 = x.reshape(x.shape[0], x.shape[1], positions)
        self.training = training
        self.fused = fused if training else None
        if not training:
            # constants per channel: y = γ (x - μ) s + β = x · (γ s) + (β - μ γ s), one pass
            # with the fused kernel, two with array operations (no x̂ kept: backward recomputes
            # it if γ needs a gradient)
            inv_std = (1.0 / self.xp.sqrt(var + eps)).astype(x.dtype, copy=False)
            scale = weight * inv_std
            shift = bias - mean * scale
            self.save_for_backward(x3, mean, inv_std, weight)
            if fused is not None:
                return fused.inference(x3, scale, shift).reshape(x.shape)
            y = self.xp.multiply(x3, scale[:, None])
            y += shift[:, None]
            return y.reshape(x.shape)
        if self.fused is not None:
            # the same formulas in two passes per channel (kernels/cpu/batch_norm.py)
            y3, self.batch_mean, self.batch_var, inv_std = fused.forward(x3, weight, bias, eps)
            self.save_for_backward(x3, self.batch_mean, inv_std, weight)
            return y3.reshape(x.shape)
        count = x3.shape[0] * x3.shape[2]  # m, values per channel
        mean = _channel_sum(x3) / count
        centered = x3 - mean[:, None]
        squares = centered * centered
        var = _channel_sum(squares) / count  # biased, for normalising
        # kept for the caller, which updates the running statistics from them
        self.batch_mean, self.batch_var = mean, var
        inv_std = (1.0 / self.xp.sqrt(var + eps)).astype(x.dtype, copy=False)
        x_hat = centered
        x_hat *= inv_std[:, None]  # in place: `centered` is not needed any more
        self.save_for_backward(x_hat, inv_std, weight)
        y = self.xp.multiply(x_hat, weight[:, None], out=squares)  # reuse the squares' buffer
        y += bias[:, None]
        return y.reshape(x.shape)

    def backward(self, grad_y):
        if self.relu_out is not None:  # through the ReLU first: δ · (out > 0)
            grad_y, _ = relu_backward(self.epilogue, grad_y, self.relu_out)
        if self.fused is not None:
            x3, mean, inv_std, weight = self.saved
            grad_x3, grad_weight, grad_bias = self.fused.backward(grad_y.reshape(x3.shape), x3,
                                                                  mean, inv_std, weight)
            return grad_x3.reshape(self.shape), grad_weight, grad_bias
        if not self.training:
            return self._backward_eval(grad_y)
        x_hat, inv_std, weight = self.saved  # x_hat: (N, C, P)
        need_x, need_weight, need_bias = self.needs_input_grad
        g = grad_y.reshape(x_hat.shape)
        grad_weight = grad_bias = grad_x = None
        need_sums = need_x  # the input gradient needs both sums in training
        if need_weight or need_sums:
            grad_x = g * x_hat  # a scratch buffer first (δ·x̂), the input gradient later
            grad_weight = _channel_sum(grad_x)
        if need_bias or need_sums:
            grad_bias = _channel_sum(g)
        if need_x:
            count = g.shape[0] * g.shape[2]  # m, values per channel
            # γ s (δ - mean(δ) - x̂ · mean(δx̂)), written into the scratch buffer
            self.xp.multiply(x_hat, (grad_weight / count)[:, None], out=grad_x)
            self.xp.subtract(g, grad_x, out=grad_x)
            grad_x -= (grad_bias / count)[:, None]
            grad_x *= (weight * inv_std)[:, None]  # γ s
            grad_x = grad_x.reshape(self.shape)
        return (grad_x, grad_weight if need_weight else None, grad_bias if need_bias else None)

    def _backward_eval(self, grad_y):
        """Eval mode: μ and σ² are constants, so ``dL/dx = γ s δ``, ``dL/dγ = Σ δ x̂`` and
        ``dL/dβ = Σ δ``."""
        x3, mean, inv_std, weight = self.saved
        need_x, need_weight, need_bias = self.needs_input_grad
        g = grad_y.reshape(x3.shape)
        grad_x = (g * (weight * inv_std)[:, None]).reshape(self.shape) if need_x else None
        grad_weight = grad_bias = None
        if need_weight:
            x_hat = (x3 - mean[:, None]) * inv_std[:, None]
            grad_weight = _channel_sum(g * x_hat)
        if need_bias:
            grad_bias = _channel_sum(g)
        return grad_x, grad_weight, grad_bias


def _channel_sum(a3):
    """``a3: (N, C, P)`` -> ``(C,)``: the sum over the batch and the positions of each channel."""
    return a3.sum(axis=2).sum(axis=0)


def _check_channel_vector(op: str, name: str, t: Tensor | None, channels: int) -> None:
    if t is not None and t.shape != (channels,):
        raise ValueError(f"{op}: {name} must have shape ({channels},) (one value per channel of "
                         f"the input's dimension 1), got {t.shape}")


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel (dimension 1) to mean 0 and variance 1, then scale and shift.

    ``input: (N, C)``, ``(N, C, L)`` or ``(N, C, H, W)``; ``running_mean``, ``running_var``,
    ``weight`` (γ) and ``bias`` (β): ``(C,)``. Returns the input's shape.

    - ``training=True``: normalise with the batch mean and the *biased* batch variance of each
      channel (over N and the spatial positions), and, when running statistics are given, update
      them in place: ``running = (1 - momentum) · running + momentum · batch``, with the
      *unbiased* batch variance for ``running_var`` (as PyTorch).
    - ``training=False``: normalise with ``running_mean`` and ``running_var`` (required).

    ``y = (x - mean) / √(var + eps) · weight + bias``; weight defaults to 1 and bias to 0.
    """
    return normalized("batch_norm", input, running_mean, running_var, weight, bias, training,
                      momentum, eps, relu=False)


def normalized(op: str, input: Tensor, running_mean: Tensor | None,
               running_var: Tensor | None, weight: Tensor | None, bias: Tensor | None,
               training: bool, momentum: float, eps: float, relu: bool) -> Tensor:
    """:func:`batch_norm` (``relu=True``: followed by a ReLU, as one operation), with errors
    reported under ``op``."""
    check_float_tensors(op, input=input, weight=weight, bias=bias)
    if input.ndim < 2:
        raise ValueError(f"{op}: expected an input of shape (N, C), (N, C, L) or (N, C, H, W), "
                         f"got shape {input.shape}")
    channels = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor or None, got {type(t).__name__}")
        _check_channel_vector(op, name, t, channels)
    check_same_device(op, [t for t in (input, running_mean, running_var) if t is not None])
    if not isinstance(training, bool):
        raise TypeError(f"{op}: training must be True or False, got {training!r}")
    check_number(op, "momentum", momentum, low=0, high=1)
    check_number(op, "eps", eps, low=0)

    values_per_channel = input.numel() // channels if channels else 0
    if training and values_per_channel <= 1:
        raise ValueError(f"{op}: expected more than 1 value per channel when training, got "
                         f"input of shape {input.shape} (batch statistics of a single value "
                         "are meaningless: its variance is 0)")
    if not training and (running_mean is None or running_var is None):
        raise ValueError(f"{op}: running_mean and running_var must be given in evaluation mode "
                         "(training=False), which normalises with them")

    xp = input.xp
    if weight is None:
        weight = Tensor._from_array(xp.ones(channels, dtype=input.dtype), input.device)
    if bias is None:
        bias = Tensor._from_array(xp.zeros(channels, dtype=input.dtype), input.device)
    stats = {}
    if not training:
        stats = {"mean": running_mean.data.astype(input.dtype, copy=False),
                 "var": running_var.data.astype(input.dtype, copy=False)}
    # the active kernel set's fused passes, if it has them (the CPU set does): the optional
    # part of the kernel-set protocol (tinyconv.kernels.contract.FusedBatchNorm)
    fused = optional_batch_norm(kernels_for(input.device))
    kernels = kernels_for(input.device)
    output, ctx = BatchNormFunction.apply_with_ctx(
        input, weight, bias, training=training, eps=float(eps), fused=fused, **stats,
        relu=relu, epilogue=optional_conv_epilogue(kernels) if relu else None)

    if training and running_mean is not None:
        with no_grad():
            running_mean.mul_(1 - momentum).add_(ctx.batch_mean * momentum)
    if training and running_var is not None:
        # the running variance estimates the population's, so it takes Bessel's correction
        unbiased_var = ctx.batch_var * (values_per_channel / (values_per_channel - 1))
        with no_grad():
            running_var.mul_(1 - momentum).add_(unbiased_var * momentum)
    return output


def layer_norm(input: Tensor, normalized_shape: int | Sequence[int],
               weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise each sample over its last dimensions ``normalized_shape`` to mean 0 and
    (biased) variance 1, then scale by ``weight`` and shift by ``bias`` (both of shape
    ``normalized_shape``, applied elementwise).

    ``input: (*, *normalized_shape)``; returns the input's shape. Unlike batch norm, the
    statistics come from one sample alone, so training and evaluation behave the same.
    Written with tensor operations (mean, var, sqrt), whose rules give the gradient.
    """
    op = "layer_norm"
    check_float_tensors(op, input=input, weight=weight, bias=bias)
    check_number(op, "eps", eps, low=0)
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (int(normalized_shape),)
    if not isinstance(normalized_shape, (tuple, list)) or not all(
            isinstance(size, numbers.Integral) for size in normalized_shape):
        raise TypeError(f"{op}: normalized_shape must be an int or a tuple of ints (the sizes of "
                        f"the input's last dimensions), got {normalized_shape!r}")
    normalized_shape = tuple(int(size) for size in normalized_shape)
    count = len(normalized_shape)
    if count == 0 or input.ndim < count or input.shape[input.ndim - count:] != normalized_shape:
        raise ValueError(f"{op}: normalized_shape {normalized_shape} must be a non-empty tail "
                         f"of the input's shape {input.shape}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.shape != normalized_shape:
            raise ValueError(f"{op}: {name} must have shape normalized_shape = "
                             f"{normalized_shape}, got {t.shape}")
    axes = tuple(range(input.ndim - count, input.ndim))
    mean = input.mean(dim=axes, keepdim=True)
    var = input.var(dim=axes, keepdim=True, correction=0)
    output = (input - mean) / (var + eps).sqrt()
    if weight is not None:
        output = output * weight
    if bias is not None:
        output = output + bias
    return output


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> Tensor:
    """Local response normalisation across channels (AlexNet, 2012), as ``torch``'s.

    ``input: (N, C, *)`` with at least 3 dimensions; returns the same shape. Each value is
    divided by a power of the mean square of its neighbours *across channels* at the same
    position: ``b_c = a_c / (k + alpha / size · Σ a_j²) ** beta``, the sum running over
    ``j = c - size//2 … c + (size-1)//2`` with missing channels counted as zeros (so the divisor
    is always ``size``, as in PyTorch). A strongly active channel damps its neighbours:
    "lateral inhibition". Written with tensor operations, whose rules give the gradient.
    """
    op = "local_response_norm"
    check_float_tensors(op, input=input)
    if input.ndim < 3:
        raise ValueError(f"{op}: expected an input of 3 or more dimensions (N, C, *), "
                         f"got shape {input.shape}")
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise ValueError(f"{op}: size must be a positive int (channels in the window), "
                         f"got {size!r}")
    channels = input.shape[1]
    # (N, C, P): the window slides along C only, the P positions are independent
    flat = input.reshape(input.shape[0], channels, -1)
    squares = pad(flat * flat, (0, 0, size // 2, (size - 1) // 2))
    window_sum = squares[:, 0:channels]
    for offset in range(1, size):
        window_sum = window_sum + squares[:, offset:offset + channels]
    divisor = (window_sum * (alpha / size) + k) ** beta
    return input / divisor.reshape(input.shape)
