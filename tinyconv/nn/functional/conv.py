"""Differentiable convolutions: each is one kernel call forward and two kernel calls backward.

For ``y = conv2d(x, w) + b`` with upstream gradient ``δ = dL/dy`` (see ``docs/identities.md``):

- ``dL/dx = conv2d_backward_input(δ, w)``: the full convolution of δ with w (δ dilated by the
  stride, the result cropped by the padding);
- ``dL/dw = conv2d_backward_weight(x, δ)``: the cross-correlation of x with δ;
- ``dL/db = Σ δ`` over batch and pixels: the bias is added at every position.

A transposed convolution is the adjoint of a convolution, so its forward is
``conv2d_backward_input`` and its backward uses ``conv2d_forward`` and ``conv2d_backward_weight``.
1-D versions are the 2-D ones with a height of 1.
"""

from __future__ import annotations

from tinyconv.autograd import Function
from tinyconv.backend import kernels_for
from tinyconv.kernels.contract import check_conv2d
from tinyconv.nn.functional._args import (
    check_float_tensors,
    check_int,
    check_non_negative,
    check_positive,
    check_rank,
    check_result_size,
    conv_padding,
    symmetric_padding,
    to_tuple,
)
from tinyconv.tensor import Tensor

IntOrPair = int | tuple


class Conv2dFunction(Function):
    """``y = x ⋆ w (+ b)``; inputs ``x: (N, C_in, H, W)``, ``w: (C_out, C_in/groups, kH, kW)``,
    optional ``b: (C_out,)``."""

    name = "conv2d"

    def forward(self, x, w, b=None, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1),
                groups=1, kernels=None):
        self.args = (stride, padding, dilation, groups)
        self.kernels = kernels
        self.save_for_backward(x, w)
        y = kernels.conv2d_forward(x, w, *self.args)
        if b is not None:
            y += b.reshape(1, -1, 1, 1)
        return y

    def backward(self, grad_y):
        x, w = self.saved
        grad_x = grad_w = grad_b = None
        if self.needs_input_grad[0]:  # full convolution of δ with w
            grad_x = self.kernels.conv2d_backward_input(grad_y, w, x.shape, *self.args)
        if self.needs_input_grad[1]:  # cross-correlation of x with δ
            grad_w = self.kernels.conv2d_backward_weight(x, grad_y, w.shape, *self.args)
        if len(self.needs_input_grad) > 2 and self.needs_input_grad[2]:
            grad_b = grad_y.sum(axis=(0, 2, 3))
        return grad_x, grad_w, grad_b


class ConvTranspose2dFunction(Function):
    """``y = conv_transpose2d(x, w) (+ b)``: the adjoint of ``conv2d`` with the same weight.

    ``x: (N, C_in, H, W)``, ``w: (C_in, C_out/groups, kH, kW)``; the output shape ``y_shape`` is
    computed by the caller (it depends on ``output_padding``).
    """

    name = "conv_transpose2d"

    def forward(self, x, w, b=None, y_shape=None, stride=(1, 1), padding=(0, 0, 0, 0),
                dilation=(1, 1), groups=1, kernels=None):
        self.args = (stride, padding, dilation, groups)
        self.kernels = kernels
        self.save_for_backward(x, w)
        # x plays the role of δ for a conv2d from y_shape back to x's shape.
        y = kernels.conv2d_backward_input(x, w, y_shape, *self.args)
        if b is not None:
            y += b.reshape(1, -1, 1, 1)
        return y

    def backward(self, grad_y):
        x, w = self.saved
        grad_x = grad_w = grad_b = None
        if self.needs_input_grad[0]:  # the adjoint of the adjoint is the convolution itself
            grad_x = self.kernels.conv2d_forward(grad_y, w, *self.args)
        if self.needs_input_grad[1]:  # <y, g> = <x, conv2d(g, w)>: g is the conv's input here
            grad_w = self.kernels.conv2d_backward_weight(grad_y, x, w.shape, *self.args)
        if len(self.needs_input_grad) > 2 and self.needs_input_grad[2]:
            grad_b = grad_y.sum(axis=(0, 2, 3))
        return grad_x, grad_w, grad_b


def _batched(op: str, input: Tensor, batched_rank: int) -> tuple[Tensor, bool]:
    """Add a batch dimension to an unbatched input (PyTorch accepts both); say if we did."""
    if input.ndim == batched_rank - 1:
        return input.unsqueeze(0), True
    return input, False


def _check_bias(op: str, bias: Tensor | None, channels: int) -> None:
    if bias is not None and bias.shape != (channels,):
        raise ValueError(f"{op}: bias must have shape ({channels},) (one value per output "
                         f"channel), got {bias.shape}")


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrPair = 1,
           padding: IntOrPair | str = 0, dilation: IntOrPair = 1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation, as in every deep-learning library).

    ``input: (N, C_in, H, W)`` or unbatched ``(C_in, H, W)``;
    ``weight: (C_out, C_in/groups, kH, kW)``; ``bias: (C_out,)``;
    returns ``(N, C_out, H_out, W_out)`` with
    ``H_out = floor((H + 2*padding - dilation*(kH-1) - 1) / stride) + 1``.
    ``padding`` may be an int, a pair, ``"valid"`` or ``"same"``.
    """
    return _conv2d("conv2d", input, weight, bias, stride, padding, dilation, groups)


def checked_conv2d_args(op: str, input: Tensor, weight: Tensor, bias: Tensor | None,
                        stride: IntOrPair, padding: IntOrPair | str, dilation: IntOrPair,
                        groups: int) -> tuple[Tensor, bool, dict, tuple]:
    """Check ``conv2d``'s arguments (errors name ``op``) before any kernel runs; returns
    ``(x, unbatched, options, y_shape)``: the input with a batch dimension, whether one was added,
    the kernel contract's ``stride, padding, dilation, groups`` as keywords, and the output
    shape ``(N, C_out, H_out, W_out)``. The fused functions (``fused.py``) check the same way."""
    check_float_tensors(op, required=("input", "weight"), input=input, weight=weight, bias=bias)
    check_rank(op, "input", input, (3, 4), "(N, C_in, H, W) or (C_in, H, W)")
    check_rank(op, "weight", weight, (4,), "(C_out, C_in/groups, kH, kW)")
    stride = to_tuple(op, "stride", stride, 2)
    dilation = to_tuple(op, "dilation", dilation, 2)
    check_positive(op, "stride", stride)
    check_positive(op, "dilation", dilation)
    padding = conv_padding(op, padding, weight.shape[2:], stride, dilation)
    x, unbatched = _batched(op, input, 4)
    y_shape = check_conv2d(op, x.shape, weight.shape, stride, padding, dilation, groups)
    _check_bias(op, bias, weight.shape[0])
    check_result_size(op, "output", y_shape, input.dtype)
    options = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    return x, unbatched, options, y_shape


def _conv2d(op: str, input: Tensor, weight: Tensor, bias: Tensor | None, stride: IntOrPair,
            padding: IntOrPair | str, dilation: IntOrPair, groups: int) -> Tensor:
    """``conv2d``, with errors reported under ``op`` (``conv1d`` delegates here)."""
    x, unbatched, options, _ = checked_conv2d_args(op, input, weight, bias, stride, padding,
                                                   dilation, groups)
    inputs = (x, weight) if bias is None else (x, weight, bias)
    y = Conv2dFunction.apply(*inputs, **options, kernels=kernels_for(input.device))
    return y.squeeze(0) if unbatched else y


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int = 1,
           padding: int | str = 0, dilation: int = 1, groups: int = 1) -> Tensor:
    """1-D convolution: ``input: (N, C_in, L)`` or ``(C_in, L)``, ``weight: (C_out, C_in/groups,
    k)``; computed as a 2-D convolution of height 1."""
    op = "conv1d"
    check_float_tensors(op, required=("input", "weight"), input=input, weight=weight, bias=bias)
    check_rank(op, "input", input, (2, 3), "(N, C_in, L) or (C_in, L)")
    check_rank(op, "weight", weight, (3,), "(C_out, C_in/groups, k)")
    (stride,) = to_tuple(op, "stride", stride, 1)
    (dilation,) = to_tuple(op, "dilation", dilation, 1)
    if not isinstance(padding, str):
        (padding,) = to_tuple(op, "padding", padding, 1)
        padding = (0, padding)
    x, unbatched = _batched(op, input, 3)
    # errors are reported under this op's name by the shared 2-D implementation
    y = _conv2d(op, x.unsqueeze(2), weight.unsqueeze(2), bias, stride=(1, stride),
                padding=padding, dilation=(1, dilation), groups=groups).squeeze(2)
    return y.squeeze(0) if unbatched else y


def conv_transpose_output_size(n: int, k: int, stride: int, padding: int, output_padding: int,
                               dilation: int) -> int:
    """``(n - 1)*stride - 2*padding + dilation*(k - 1) + output_padding + 1``: the size of the
    input a conv2d would need to produce ``n`` outputs (``output_padding`` picks among the sizes
    that the floor in the conv formula maps to the same ``n``)."""
    op = "conv_transpose_output_size"
    check_int(op, "n", n, minimum=1)
    check_int(op, "k", k, minimum=1)
    check_int(op, "stride", stride, minimum=1)
    check_int(op, "padding", padding, minimum=0)
    check_int(op, "output_padding", output_padding, minimum=0)
    check_int(op, "dilation", dilation, minimum=1)
    return _transposed_size(n, k, stride, padding, output_padding, dilation)


def _transposed_size(n: int, k: int, stride: int, padding: int, output_padding: int,
                     dilation: int) -> int:
    """:func:`conv_transpose_output_size` without its checks (the caller made them)."""
    return (n - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
                     stride: IntOrPair = 1, padding: IntOrPair = 0,
                     output_padding: IntOrPair = 0, groups: int = 1,
                     dilation: IntOrPair = 1) -> Tensor:
    """2-D transposed convolution ("deconvolution"): the adjoint of ``conv2d``.

    ``input: (N, C_in, H, W)`` or ``(C_in, H, W)``; ``weight: (C_in, C_out/groups, kH, kW)``
    (note: the first axis is the *input* channels, as in PyTorch); returns
    ``(N, C_out, H_out, W_out)`` with ``H_out = (H-1)*stride - 2*padding + dilation*(kH-1) +
    output_padding + 1``.
    """
    return _conv_transpose2d("conv_transpose2d", input, weight, bias, stride, padding,
                             output_padding, groups, dilation)


def _conv_transpose2d(op: str, input: Tensor, weight: Tensor, bias: Tensor | None,
                      stride: IntOrPair, padding: IntOrPair, output_padding: IntOrPair,
                      groups: int, dilation: IntOrPair) -> Tensor:
    """``conv_transpose2d``, with errors reported under ``op`` (``conv_transpose1d`` delegates
    here)."""
    check_float_tensors(op, required=("input", "weight"), input=input, weight=weight, bias=bias)
    check_rank(op, "input", input, (3, 4), "(N, C_in, H, W) or (C_in, H, W)")
    check_rank(op, "weight", weight, (4,), "(C_in, C_out/groups, kH, kW)")
    stride = to_tuple(op, "stride", stride, 2)
    dilation = to_tuple(op, "dilation", dilation, 2)
    pads = to_tuple(op, "padding", padding, 2)
    output_padding = to_tuple(op, "output_padding", output_padding, 2)
    check_positive(op, "stride", stride)
    check_positive(op, "dilation", dilation)
    check_non_negative(op, "padding", pads)
    check_non_negative(op, "output_padding", output_padding)
    # output_padding picks one of the `stride` input sizes that a conv2d maps to the same output
    # size, so it must be smaller than the stride. (PyTorch also accepts stride <= output_padding
    # < dilation, but then no conv2d with these settings maps the output back to the input's size,
    # so the kernel contract cannot compute it: refused here rather than failing in a kernel.)
    for axis in range(2):
        if output_padding[axis] >= stride[axis]:
            raise ValueError(f"{op}: output_padding {output_padding} must be smaller than "
                             f"stride {stride}")
    groups = check_int(op, "groups", groups, minimum=1)
    x, unbatched = _batched(op, input, 4)
    n, c_in, h, w = x.shape
    if weight.shape[0] != c_in:
        raise ValueError(f"{op}: input has {c_in} channels but weight expects {weight.shape[0]} "
                         f"(weight shape {weight.shape} is (C_in, C_out/groups, kH, kW))")
    if c_in % groups:
        raise ValueError(f"{op}: input channels ({c_in}) must be divisible by groups ({groups})")
    c_out = weight.shape[1] * groups
    y_shape = (n, c_out) + tuple(
        _transposed_size(size, k, s, p, op_, d)
        for size, k, s, p, op_, d in zip((h, w), weight.shape[2:], stride, pads, output_padding,
                                         dilation, strict=True))
    if min(y_shape[2:]) < 1:
        raise ValueError(f"{op}: the output would be empty ({y_shape[2]}x{y_shape[3]}); reduce "
                         f"padding {pads}")
    padding4 = symmetric_padding(pads)
    # the conv2d this is the adjoint of must map y_shape back to x's shape
    check_conv2d(op, y_shape, weight.shape, stride, padding4, dilation, groups)
    _check_bias(op, bias, c_out)
    check_result_size(op, "output", y_shape, input.dtype)
    inputs = (x, weight) if bias is None else (x, weight, bias)
    y = ConvTranspose2dFunction.apply(*inputs, y_shape=y_shape, stride=stride, padding=padding4,
                                      dilation=dilation, groups=groups,
                                      kernels=kernels_for(input.device))
    return y.squeeze(0) if unbatched else y


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
                     stride: int = 1, padding: int = 0, output_padding: int = 0, groups: int = 1,
                     dilation: int = 1) -> Tensor:
    """1-D transposed convolution: ``input: (N, C_in, L)``, ``weight: (C_in, C_out/groups, k)``."""
    op = "conv_transpose1d"
    check_float_tensors(op, required=("input", "weight"), input=input, weight=weight, bias=bias)
    check_rank(op, "input", input, (2, 3), "(N, C_in, L) or (C_in, L)")
    check_rank(op, "weight", weight, (3,), "(C_in, C_out/groups, k)")
    (stride,) = to_tuple(op, "stride", stride, 1)
    (padding,) = to_tuple(op, "padding", padding, 1)
    (output_padding,) = to_tuple(op, "output_padding", output_padding, 1)
    (dilation,) = to_tuple(op, "dilation", dilation, 1)
    x, unbatched = _batched(op, input, 3)
    # height 1: no stride, padding or dilation along it
    y = _conv_transpose2d(op, x.unsqueeze(2), weight.unsqueeze(2), bias, stride=(1, stride),
                          padding=(0, padding), output_padding=(0, output_padding),
                          groups=groups, dilation=(1, dilation))
    y = y.squeeze(2)
    return y.squeeze(0) if unbatched else y

