"""The fully connected (affine) layer: ``y = x Wᵀ + b``.

For a batch of rows ``x: (M, in)``, weight ``W: (out, in)``, bias ``b: (out,)`` and upstream
gradient ``δ = dL/dy: (M, out)``, the chain rule through ``y_mo = Σ_i x_mi W_oi + b_o`` gives

- ``dL/dx = δ W``   (``dL/dx_mi = Σ_o δ_mo W_oi``),
- ``dL/dW = δᵀ x``  (``dL/dW_oi = Σ_m δ_mo x_mi``: every row of the batch adds its share),
- ``dL/db = Σ_m δ`` (the bias is added to every row).

Leading dimensions ``*`` of ``x: (*, in)`` are flattened into M and restored afterwards.
"""

from __future__ import annotations

from tinyconv.autograd import Function
from tinyconv.nn.functional._args import check_float_tensors, check_result_size
from tinyconv.tensor import Tensor


class LinearFunction(Function):
    """``y = x Wᵀ (+ b)`` on ``x: (M, in)``, ``W: (out, in)``, ``b: (out,)``."""

    name = "linear"

    def forward(self, x, weight, bias=None):
        self.save_for_backward(x, weight)
        y = x @ weight.T
        if bias is not None:
            y += bias
        return y

    def backward(self, grad_y):
        x, weight = self.saved
        grad_x = grad_y @ weight if self.needs_input_grad[0] else None
        grad_weight = grad_y.T @ x if self.needs_input_grad[1] else None
        grad_bias = None
        if len(self.needs_input_grad) > 2 and self.needs_input_grad[2]:
            grad_bias = grad_y.sum(axis=0)
        return grad_x, grad_weight, grad_bias


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias``.

    ``input: (*, in_features)`` (any number of leading dimensions, or none),
    ``weight: (out_features, in_features)``, ``bias: (out_features,)``;
    returns ``(*, out_features)``.
    """
    op = "linear"
    check_float_tensors(op, required=("input", "weight"), input=input, weight=weight, bias=bias)
    if weight.ndim != 2:
        raise ValueError(f"{op}: weight must be 2-D (out_features, in_features), got shape "
                         f"{weight.shape}")
    out_features, in_features = weight.shape
    if input.ndim == 0 or input.shape[-1] != in_features:
        raise ValueError(f"{op}: input of shape {input.shape} does not fit weight of shape "
                         f"{weight.shape}: the input's last dimension must be in_features = "
                         f"{in_features}")
    if bias is not None and bias.shape != (out_features,):
        raise ValueError(f"{op}: bias must have shape ({out_features},) (one value per output "
                         f"feature), got {bias.shape}")
    leading = input.shape[:-1]
    check_result_size(op, "output", leading + (out_features,), input.dtype)
    rows = input.reshape(-1, in_features) if input.ndim != 2 else input
    inputs = (rows, weight) if bias is None else (rows, weight, bias)
    y = LinearFunction.apply(*inputs)
    return y.reshape(leading + (out_features,)) if input.ndim != 2 else y
