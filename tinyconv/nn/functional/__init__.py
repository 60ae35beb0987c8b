"""``tc.nn.functional``: the differentiable operations layers are made of (PyTorch names).

Convolution and pooling call the kernel contract (``tinyconv.kernels``); everything else is
written with tensor operations, whose backward rules live in ``tinyconv.ops``.
"""

from tinyconv.nn.functional.conv import (conv1d, conv2d, conv_transpose1d, conv_transpose2d,
                                         conv_transpose_output_size)
from tinyconv.nn.functional.pooling import (adaptive_avg_pool2d, adaptive_max_pool2d,
                                            adaptive_windows, avg_pool1d, avg_pool2d,
                                            global_avg_pool2d, max_pool1d, max_pool2d)
from tinyconv.tensor import pad
