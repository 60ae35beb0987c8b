"""The layers of a CNN as Modules: each holds its parameters and calls ``tc.nn.functional``.

Default initialisations are PyTorch's: conv and linear weights ``kaiming_uniform_(a=sqrt(5))``,
i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import tinyconv.nn.functional as F
from tinyconv.creation import empty, ones, tensor, zeros
from tinyconv.dtypes import as_dtype, int64, is_floating_dtype
from tinyconv.nn import init
from tinyconv.nn.functional._args import (
    check_int,
    check_non_negative,
    check_number,
    check_positive,
    check_result_size,
    conv_padding,
    pool_args,
    to_tuple,
)
from tinyconv.nn.module import Module
from tinyconv.nn.parameter import Parameter
from tinyconv.tensor import Tensor

IntOrPair = int | tuple


def _parameter_dtype(layer: str, dtype: Any) -> Any:
    """A layer's ``dtype`` argument: None (float32) or a floating point dtype."""
    resolved = as_dtype(dtype) or as_dtype("float32")
    if not is_floating_dtype(resolved):
        raise TypeError(f"{layer}: dtype must be a floating point dtype (tc.float32 or "
                        f"tc.float64) for trainable parameters, got {resolved}")
    return resolved


def _new_parameter(layer: str, shape: tuple, dtype: Any, device: Any) -> Parameter:
    """An uninitialised parameter of ``shape``, refused up front if it could not fit in memory."""
    dtype = _parameter_dtype(layer, dtype)
    check_result_size(layer, "weight", shape, dtype)
    return Parameter(empty(shape, dtype=dtype, device=device))


def _check_flag(layer: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{layer}: {name} must be True or False, got {value!r}")
    return value


def _reset_linear_like(weight: Parameter, bias: Parameter | None) -> None:
    """PyTorch's default for Linear and Conv layers."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init.calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(bias, -bound, bound)


class Identity(Module):
    """Returns its input unchanged (a placeholder, e.g. to remove a model's head)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__()

    def forward(self, input: Any) -> Any:
        return input


class Linear(Module):
    """``y = x @ Wᵀ + b``: ``x: (*, in_features)`` -> ``(*, out_features)``;
    ``weight: (out_features, in_features)``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device: Any = None, dtype: Any = None):
        super().__init__()
        check_int("Linear", "in_features", in_features, minimum=1)
        check_int("Linear", "out_features", out_features, minimum=1)
        _check_flag("Linear", "bias", bias)
        self.in_features, self.out_features = in_features, out_features
        self.weight = _new_parameter("Linear", (out_features, in_features), dtype, device)
        self.bias = _new_parameter("Linear", (out_features,), dtype, device) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset_linear_like(self.weight, self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class _ConvNd(Module):
    """Shared by Conv1d, Conv2d and ConvTranspose2d: holds the hyper-parameters and weights."""

    transposed = False
    dims = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrPair,
                 stride: IntOrPair = 1, padding: IntOrPair | str = 0,
                 dilation: IntOrPair = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None,
                 output_padding: IntOrPair = 0):
        super().__init__()
        name = type(self).__name__
        check_int(name, "in_channels", in_channels, minimum=1)
        check_int(name, "out_channels", out_channels, minimum=1)
        check_int(name, "groups", groups, minimum=1)
        _check_flag(name, "bias", bias)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must both be divisible by groups ({groups})")
        if padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported, got "
                             f"{padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = to_tuple(name, "kernel_size", kernel_size, self.dims)
        self.stride = to_tuple(name, "stride", stride, self.dims)
        self.padding = padding if isinstance(padding, str) else \
            to_tuple(name, "padding", padding, self.dims)
        self.dilation = to_tuple(name, "dilation", dilation, self.dims)
        self.output_padding = to_tuple(name, "output_padding", output_padding, self.dims)
        check_positive(name, "kernel_size", self.kernel_size)
        check_positive(name, "stride", self.stride)
        check_positive(name, "dilation", self.dilation)
        check_non_negative(name, "output_padding", self.output_padding)
        if self.transposed and isinstance(padding, str):
            raise ValueError(f"{name}: padding must be an int or a tuple of {self.dims} ints, "
                             f"got {padding!r}")
        if isinstance(self.padding, str):  # the functional op's check, and its message
            conv_padding(name, self.padding, self.kernel_size, self.stride, self.dilation)
        else:
            check_non_negative(name, "padding", self.padding)
        if any(op >= s for op, s in zip(self.output_padding, self.stride, strict=True)):
            raise ValueError(f"{name}: output_padding {self.output_padding} must be smaller "
                             f"than stride {self.stride}")
        self.padding_mode = padding_mode
        if self.transposed:  # (C_in, C_out/groups, k...): the adjoint of a conv's weight
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:  # (C_out, C_in/groups, k...)
            shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = _new_parameter(name, shape, dtype, device)
        self.bias = _new_parameter(name, (out_channels,), dtype, device) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset_linear_like(self.weight, self.bias)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding not in ((0,) * self.dims, "valid"):
            text += f", padding={self.padding}"
        if self.dilation != (1,) * self.dims:
            text += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self.dims:
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text


class Conv2d(_ConvNd):
    """2-D convolution layer: ``(N, C_in, H, W) -> (N, C_out, H_out, W_out)``.

    Each of the ``out_channels`` filters has shape ``(C_in/groups, kH, kW)`` and slides over the
    whole image (weight sharing), looking at one small patch at a time (local connectivity).
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


class Conv1d(_ConvNd):
    """1-D convolution layer: ``(N, C_in, L) -> (N, C_out, L_out)``."""

    dims = 1

    def forward(self, input: Tensor) -> Tensor:
        return F.conv1d(input, self.weight, self.bias, self.stride[0],
                        self.padding if isinstance(self.padding, str) else self.padding[0],
                        self.dilation[0], self.groups)


class ConvTranspose2d(_ConvNd):
    """2-D transposed convolution: ``(N, C_in, H, W) -> (N, C_out, H_out, W_out)`` with
    ``H_out = (H-1)*stride - 2*padding + dilation*(k-1) + output_padding + 1``."""

    transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrPair,
                 stride: IntOrPair = 1, padding: IntOrPair = 0, output_padding: IntOrPair = 0,
                 groups: int = 1, bias: bool = True, dilation: IntOrPair = 1,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype, output_padding)

    def forward(self, input: Tensor) -> Tensor:
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding,
                                  self.output_padding, self.groups, self.dilation)


class MaxPool2d(Module):
    """Maximum over each window: keeps the strongest response, shrinks the map."""

    dims = 2

    def __init__(self, kernel_size: IntOrPair, stride: IntOrPair | None = None,
                 padding: IntOrPair = 0, dilation: IntOrPair = 1, return_indices: bool = False,
                 ceil_mode: bool = False):
        super().__init__()
        name = type(self).__name__
        pool_args(name, kernel_size, stride, padding, dilation, n=self.dims)
        _check_flag(name, "return_indices", return_indices)
        _check_flag(name, "ceil_mode", ceil_mode)
        self.kernel_size, self.stride, self.padding = kernel_size, stride or kernel_size, padding
        self.dilation, self.return_indices, self.ceil_mode = dilation, return_indices, ceil_mode

    def forward(self, input: Tensor):
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(MaxPool2d):
    dims = 1

    def forward(self, input: Tensor):
        return F.max_pool1d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)


class AvgPool2d(Module):
    """Mean over each window."""

    dims = 2

    def __init__(self, kernel_size: IntOrPair, stride: IntOrPair | None = None,
                 padding: IntOrPair = 0, ceil_mode: bool = False, count_include_pad: bool = True):
        super().__init__()
        name = type(self).__name__
        pool_args(name, kernel_size, stride, padding, 1, n=self.dims)
        _check_flag(name, "ceil_mode", ceil_mode)
        _check_flag(name, "count_include_pad", count_include_pad)
        self.kernel_size, self.stride, self.padding = kernel_size, stride or kernel_size, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(AvgPool2d):
    dims = 1

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)


def _adaptive_output_size(layer: str, output_size: Any) -> Any:
    """An int >= 1, or a pair of ints >= 1 or None (None keeps that input size); kept as given."""
    def valid_size(size: Any, none_ok: bool) -> bool:
        if size is None:
            return none_ok
        return isinstance(size, int) and not isinstance(size, bool) and size >= 1

    if isinstance(output_size, (tuple, list)):
        valid = len(output_size) == 2 and all(valid_size(size, True) for size in output_size)
    else:
        valid = valid_size(output_size, False)
    if not valid:
        raise ValueError(f"{layer}: output_size must be an int >= 1 or a pair of them (None keeps "
                         f"that input size), got {output_size!r}")
    return output_size


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size; ``AdaptiveAvgPool2d(1)`` is global average
    pooling."""

    def __init__(self, output_size: int | tuple):
        super().__init__()
        self.output_size = _adaptive_output_size(type(self).__name__, output_size)

    def forward(self, input: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(Module):
    """Max pooling to a fixed output size."""

    def __init__(self, output_size: int | tuple, return_indices: bool = False):
        super().__init__()
        _check_flag("AdaptiveMaxPool2d", "return_indices", return_indices)
        self.output_size = _adaptive_output_size(type(self).__name__, output_size)
        self.return_indices = return_indices

    def forward(self, input: Tensor):
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class _BatchNorm(Module):
    """Normalises each channel with batch statistics in training and running ones in eval."""

    expected_ranks: tuple = ()
    layout = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device: Any = None,
                 dtype: Any = None):
        super().__init__()
        name = type(self).__name__
        check_int(name, "num_features", num_features, minimum=1)
        check_number(name, "eps", eps, low=0)
        check_number(name, "momentum", momentum, low=0, high=1, allow_none=True)
        _check_flag(name, "affine", affine)
        _check_flag(name, "track_running_stats", track_running_stats)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dtype = _parameter_dtype(name, dtype)
        if affine:
            self.weight = Parameter(ones(num_features, dtype=dtype, device=device))
            self.bias = Parameter(zeros(num_features, dtype=dtype, device=device))
        else:
            self.weight = self.bias = None
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, dtype=dtype, device=device))
            self.register_buffer("running_var", ones(num_features, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked", tensor(0, dtype=int64, device=device))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def forward(self, input: Tensor) -> Tensor:
        return self.normalize(input, relu=False)

    def normalize(self, input: Tensor, relu: bool) -> Tensor:
        """This layer's forward; with ``relu=True`` followed by a ReLU in one operation
        (``F.batch_norm_relu``: ``nn.Sequential`` fuses ``BatchNorm2d, ReLU`` that way)."""
        name = type(self).__name__
        if input.ndim not in self.expected_ranks:
            raise ValueError(f"{name}: expected a {' or '.join(map(str, self.expected_ranks))}-D "
                             f"input {self.layout}, got shape {input.shape}")
        if input.shape[1] != self.num_features:
            raise ValueError(f"{name}: input has {input.shape[1]} channels but the layer was "
                             f"built for num_features={self.num_features}")
        momentum = 0.0 if self.momentum is None else self.momentum
        use_batch_stats = self.training or not self.track_running_stats
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:  # cumulative moving average
                momentum = 1.0 / int(self.num_batches_tracked.item())
        keeps_statistics = not self.training or self.track_running_stats
        return (F.batch_norm_relu if relu else F.batch_norm)(
            input, self.running_mean if keeps_statistics else None,
            self.running_var if keeps_statistics else None,
            self.weight, self.bias, use_batch_stats, momentum, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over ``(N, C)`` or ``(N, C, L)`` inputs."""

    expected_ranks = (2, 3)
    layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of each channel of ``(N, C, H, W)`` inputs."""

    expected_ranks = (4,)
    layout = "(N, C, H, W)"


class LocalResponseNorm(Module):
    """Local response normalisation across channels (AlexNet): see
    :func:`tinyconv.nn.functional.local_response_norm`. ``input: (N, C, *)``."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input: Tensor) -> Tensor:
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class Dropout(Module):
    """Zeroes each element with probability p in training (scaling the rest by 1/(1-p))."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not isinstance(p, numbers.Real) or isinstance(p, bool) or not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: dropout probability has to be between 0 "
                             f"and 1, but got {p!r}")
        self.p, self.inplace = p, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Dropout2d(Dropout):
    """Zeroes whole channels of ``(N, C, H, W)`` with probability p in training."""

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout2d(input, self.p, self.training)


class Flatten(Module):
    """Flattens dimensions ``start_dim..end_dim`` into one: ``(N, C, H, W) -> (N, C*H*W)``."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        check_int("Flatten", "start_dim", start_dim)
        check_int("Flatten", "end_dim", end_dim)
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: Tensor) -> Tensor:
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
