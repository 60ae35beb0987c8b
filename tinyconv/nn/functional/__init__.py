"""``tc.nn.functional``: the differentiable operations layers are made of (PyTorch names).

Convolution and pooling call the kernel contract (``tinyconv.kernels``). The other ops are
written with tensor operations (backward rules in ``tinyconv.ops``), except where a dedicated
``Function`` with a hand-written backward is clearer or much cheaper (linear, batch_norm,
softmax, the binary cross-entropies). ``conv2d_relu``, ``conv2d_relu_max_pool2d`` and
``batch_norm_relu`` are fused operations (``fused.py``), which ``nn.Sequential`` uses for
``Conv2d, ReLU(, MaxPool2d(2))`` and ``BatchNorm2d, ReLU``.
"""

from tinyconv.functions import pad
from tinyconv.nn.functional.activation import (
                                               gelu,
                                               hardtanh,
                                               leaky_relu,
                                               log_softmax,
                                               relu,
                                               relu6,
                                               sigmoid,
                                               softmax,
                                               tanh,
)
from tinyconv.nn.functional.conv import (
                                               conv1d,
                                               conv2d,
                                               conv_transpose1d,
                                               conv_transpose2d,
                                               conv_transpose_output_size,
)
from tinyconv.nn.functional.dropout import dropout, dropout2d
from tinyconv.nn.functional.fused import batch_norm_relu, conv2d_relu, conv2d_relu_max_pool2d
from tinyconv.nn.functional.linear import linear
from tinyconv.nn.functional.loss import (
                                               binary_cross_entropy,
                                               binary_cross_entropy_with_logits,
                                               cross_entropy,
                                               mse_loss,
                                               nll_loss,
)
from tinyconv.nn.functional.normalization import batch_norm, layer_norm, local_response_norm
from tinyconv.nn.functional.pooling import (
                                               adaptive_avg_pool2d,
                                               adaptive_max_pool2d,
                                               adaptive_windows,
                                               avg_pool1d,
                                               avg_pool2d,
                                               global_avg_pool2d,
                                               max_pool1d,
                                               max_pool2d,
)

# the public ops: tests/fuzz checks that each has a table of bad inputs
__all__ = [
    "adaptive_avg_pool2d",
    "adaptive_max_pool2d",
    "adaptive_windows",
    "avg_pool1d",
    "avg_pool2d",
    "batch_norm",
    "batch_norm_relu",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "conv1d",
    "conv2d",
    "conv2d_relu",
    "conv2d_relu_max_pool2d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose_output_size",
    "cross_entropy",
    "dropout",
    "dropout2d",
    "gelu",
    "global_avg_pool2d",
    "hardtanh",
    "layer_norm",
    "leaky_relu",
    "linear",
    "local_response_norm",
    "log_softmax",
    "max_pool1d",
    "max_pool2d",
    "mse_loss",
    "nll_loss",
    "pad",
    "relu",
    "relu6",
    "sigmoid",
    "softmax",
    "tanh",
]
