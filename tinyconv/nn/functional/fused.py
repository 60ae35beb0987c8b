"""Fused operations: a convolution with the bias, ReLU (and 2×2 max pooling) that follow it in
almost every CNN of the zoo, as one differentiable operation.

``conv2d_relu(x, w, b)`` is ``relu(conv2d(x, w, b))`` and ``conv2d_relu_max_pool2d(x, w, b)`` is
``max_pool2d(relu(conv2d(x, w, b)), 2)``: the same forward values to the last bit, the same
input and weight gradients, and the same bias gradient up to rounding (its sum runs in another
order); ``tests/nn/test_fusion.py`` checks them against the unfused composition. What fusion
changes is the work done around the convolution:

- one autograd node instead of three, so one saved activation instead of three;
- the bias and the ReLU in one in-place pass over the convolution's output (the kernel set's
  optional ``conv_epilogue``, ``kernels/cpu/fused.py``, threaded), and in backward the ReLU's
  mask and the bias gradient in one pass;
- with pooling, the ReLU moves *after* the pooling: ``relu`` is increasing, so
  ``max(relu(z)) = relu(max(z))``, and the bias is the same for the four values of a window, so
  ``max(z + b) = max(z) + b``. The bias and the ReLU then touch a quarter of the values, and the
  backward pass needs no full-size ReLU mask: a gradient reaches the convolution only at the
  window's winner, and only where the pooled output is positive.

``batch_norm_relu`` does the same for the other pattern every modern network repeats, batch norm
then ReLU. ``nn.Sequential`` calls these when it meets ``Conv2d, ReLU`` (``, MaxPool2d(2)``) or
``BatchNorm2d, ReLU`` among its children (see ``container.py``). Tutorial 17 measures what
fusion gains.
"""

from __future__ import annotations

from tinyconv.autograd import Function
from tinyconv.backend import kernels_for
from tinyconv.kernels.contract import check_pool2d, optional_conv_epilogue
from tinyconv.nn.functional._epilogue import bias_relu, relu_backward
from tinyconv.nn.functional.conv import IntOrPair, checked_conv2d_args
from tinyconv.nn.functional.normalization import normalized
from tinyconv.tensor import Tensor

#: The pooling that conv2d_relu_max_pool2d fuses: 2×2 windows, stride 2, no padding, dilation 1,
#: floor mode, as the kernel contract's max_pool2d_forward takes them.
POOL_2X2 = ((2, 2), (2, 2), (0, 0, 0, 0), (1, 1), False)


class Conv2dReLUFunction(Function):
    """``out = relu(x ⋆ w + b)``, or with ``pool=True`` ``out = relu(max_pool_2x2(x ⋆ w) + b)``
    (the same values as pooling after the ReLU; see the module docstring).

    ``x: (N, C_in, H, W)``, ``w: (C_out, C_in/groups, kH, kW)``, optional ``b: (C_out,)``.
    Backward, with ``δ = dL/dout``: ``g = δ · (out > 0)`` (the ReLU), ``dL/db = Σ g``, then with
    pooling ``g`` goes back to each window's winner (``max_pool2d_backward``), and the two
    convolution gradients follow as in ``Conv2dFunction``.
    """

    name = "conv2d_relu"

    def forward(self, x, w, b=None, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1),
                groups=1, kernels=None, pool=False):
        self.args = (stride, padding, dilation, groups)
        self.kernels = kernels
        z = kernels.conv2d_forward(x, w, *self.args)
        self.z_shape, self.indices = z.shape, None
        out = z
        if pool:
            out, self.indices = kernels.max_pool2d_forward(z, *POOL_2X2)
        out = bias_relu(optional_conv_epilogue(kernels), self.xp, out, b)
        self.save_for_backward(x, w, out)
        return out

    def backward(self, grad_out):
        x, w, out = self.saved
        grad, grad_b = relu_backward(optional_conv_epilogue(self.kernels), grad_out, out)
        if self.indices is not None:  # each window's gradient goes to its winner
            grad = self.kernels.max_pool2d_backward(grad, self.indices, self.z_shape)
        grad_x = grad_w = None
        if self.needs_input_grad[0]:  # full convolution of g with w
            grad_x = self.kernels.conv2d_backward_input(grad, w, x.shape, *self.args)
        if self.needs_input_grad[1]:  # cross-correlation of x with g
            grad_w = self.kernels.conv2d_backward_weight(x, grad, w.shape, *self.args)
        need_b = len(self.needs_input_grad) > 2 and self.needs_input_grad[2]
        return grad_x, grad_w, grad_b if need_b else None


def _conv2d_relu(op: str, input: Tensor, weight: Tensor, bias: Tensor | None,
                 stride: IntOrPair, padding: IntOrPair | str, dilation: IntOrPair, groups: int,
                 pool: bool) -> Tensor:
    x, unbatched, options, y_shape = checked_conv2d_args(op, input, weight, bias, stride,
                                                         padding, dilation, groups)
    if pool:
        check_pool2d(op, y_shape, *POOL_2X2)
    inputs = (x, weight) if bias is None else (x, weight, bias)
    out = Conv2dReLUFunction.apply(*inputs, **options, kernels=kernels_for(input.device),
                                   pool=pool)
    return out.squeeze(0) if unbatched else out


def conv2d_relu(input: Tensor, weight: Tensor, bias: Tensor | None = None,
                stride: IntOrPair = 1, padding: IntOrPair | str = 0, dilation: IntOrPair = 1,
                groups: int = 1) -> Tensor:
    """``relu(conv2d(input, weight, bias, ...))`` as one fused operation (arguments and shapes
    as :func:`~tinyconv.nn.functional.conv2d`): ``(N, C_in, H, W) -> (N, C_out, H_out,
    W_out)``."""
    return _conv2d_relu("conv2d_relu", input, weight, bias, stride, padding, dilation, groups,
                        pool=False)


def conv2d_relu_max_pool2d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
                           stride: IntOrPair = 1, padding: IntOrPair | str = 0,
                           dilation: IntOrPair = 1, groups: int = 1) -> Tensor:
    """``max_pool2d(relu(conv2d(input, weight, bias, ...)), 2)`` (2×2 windows, stride 2) as one
    fused operation: ``(N, C_in, H, W) -> (N, C_out, H_out // 2, W_out // 2)``, where
    ``H_out, W_out`` are the convolution's output size."""
    return _conv2d_relu("conv2d_relu_max_pool2d", input, weight, bias, stride, padding,
                        dilation, groups, pool=True)


def batch_norm_relu(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
                    weight: Tensor | None = None, bias: Tensor | None = None,
                    training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """``relu(batch_norm(input, ...))`` as one operation (arguments, shapes and the update of the
    running statistics as :func:`~tinyconv.nn.functional.batch_norm`): the ReLU runs in place
    on the normalised values and, in backward, masks the gradient before the batch norm's own
    backward, with no array and no graph node of its own. The pattern of ResNets, MobileNets
    and VGG with batch norm (``Conv2d, BatchNorm2d, ReLU``)."""
    return normalized("batch_norm_relu", input, running_mean, running_var, weight, bias,
                      training, momentum, eps, relu=True)
