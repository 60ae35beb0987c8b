# tinyconv assignment: pooling
"""Assignment 3: max and average pooling, forward and backward (see README.md next to this file).

Grade with ``tinyconv grade .``. Conventions: NCHW arrays, padding ``(top, bottom, left, right)``,
``kernel``, ``stride``, ``dilation`` as ``(along H, along W)``; the output size follows PyTorch:
``floor`` (or ``ceil`` with ``ceil_mode``, dropping a last window that would start in the
padding) of ``(H + top + bottom - d·(k - 1) - 1) / s``, plus 1.
"""

import numpy as np


def max_pool2d_forward(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
                       padding: tuple[int, int, int, int], dilation: tuple[int, int],
                       ceil_mode: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(y, indices)``: each window's maximum over its real elements (padding never wins) and
    the flat index ``row · W + col`` of that maximum in its input plane, int64.

    ``x: (N, C, H, W)`` -> both ``(N, C, H_out, W_out)``. On ties the *first* maximum in
    row-major order wins; a window holding NaN gives NaN (PyTorch's rule: its last NaN).
    """
    raise NotImplementedError("max_pool2d_forward: write max pooling")


def max_pool2d_backward(grad_y: np.ndarray, indices: np.ndarray,
                        x_shape: tuple[int, int, int, int]) -> np.ndarray:
    """δ routed to each window's argmax: ``grad_x.flat[index] += δ`` per plane (summed where one
    element wins several overlapping windows). ``grad_y, indices: (N, C, H_out, W_out)`` ->
    ``grad_x`` of ``x_shape``, ``grad_y``'s dtype."""
    raise NotImplementedError("max_pool2d_backward: route δ to the argmax")


def avg_pool2d_forward(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
                       padding: tuple[int, int, int, int], ceil_mode: bool,
                       count_include_pad: bool) -> np.ndarray:
    """Each window's sum of real elements divided by the divisor: the window's area clipped to
    the padded input with ``count_include_pad``, else the number of real elements.
    ``x: (N, C, H, W)`` -> ``(N, C, H_out, W_out)``."""
    raise NotImplementedError("avg_pool2d_forward: write average pooling")


def avg_pool2d_backward(grad_y: np.ndarray, x_shape: tuple[int, int, int, int],
                        kernel: tuple[int, int], stride: tuple[int, int],
                        padding: tuple[int, int, int, int], ceil_mode: bool,
                        count_include_pad: bool) -> np.ndarray:
    """``δ / divisor`` spread over every real element of each window (pooling backward is
    upsampling), summed where windows overlap. -> ``grad_x`` of ``x_shape``."""
    raise NotImplementedError("avg_pool2d_backward: spread δ over each window")
