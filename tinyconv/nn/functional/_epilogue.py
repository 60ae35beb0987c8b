"""The ReLU that fused operations apply to their result (``fused.py``'s convolutions,
``normalization.py``'s ``batch_norm_relu``), written once: the kernel set's fused epilogue when it
has one (``contract.FusedConvEpilogue``: one threaded pass on the CPU), else the array code below,
which runs on every device and is the version to read.

``y, out, grad_out: (N, C, *)``; ``bias: (C,)`` or None.
"""

from __future__ import annotations

from typing import Any


def bias_relu(epilogue: Any, xp: Any, y: Any, bias: Any | None) -> Any:
    """``max(y + bias, 0)`` per channel, in place where possible: use the returned array."""
    if epilogue is not None:
        return epilogue.bias_relu(y, bias)
    if bias is not None:
        y += bias.reshape((1, -1) + (1,) * (y.ndim - 2))
    xp.maximum(y, 0, out=y)  # NaN stays NaN, as in PyTorch
    return y


def relu_backward(epilogue: Any, grad_out: Any, out: Any) -> tuple[Any, Any]:
    """``(grad_z, grad_bias)``: the gradient through the ReLU, ``grad_out · (out > 0)`` (``out``
    is the ReLU's output), and its sum per channel, the bias gradient."""
    if epilogue is not None:
        return epilogue.relu_backward(grad_out, out)
    grad_z = grad_out * (out > 0)
    return grad_z, grad_z.sum(axis=(0,) + tuple(range(2, grad_z.ndim)))
