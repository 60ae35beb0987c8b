"""The CPU kernel set: Numba kernels (``njit(parallel=True, cache=True)``) for the seven contract
functions, float32 and float64, every option supported natively.

Each function validates its arguments with ``tinyconv.kernels.contract`` and mirrors the loops of
``tinyconv.kernels.reference``, which is the specification these kernels are tested against.
"""

from .conv import conv2d_backward_input, conv2d_backward_weight, conv2d_forward
from .pool import avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward

__all__ = [
    "avg_pool2d_backward",
    "avg_pool2d_forward",
    "conv2d_backward_input",
    "conv2d_backward_weight",
    "conv2d_forward",
    "max_pool2d_backward",
    "max_pool2d_forward",
]
