# tinyconv assignment: numba-speedup
"""Assignment 4: make your convolution fast with Numba (see README.md next to this file).

Paste your loop versions from assignments 1 and 2 as the ``*_loops`` functions (they are the
baseline the speed-up is measured against), then write the three contract functions with
``numba.njit`` kernels. Grade with ``tinyconv grade .``: correctness by the identities, and the
speed-up over your own loops measured on LeNet-5's second layer (8 images, 6 -> 16 channels,
14×14, 5×5 kernels), reported and scored against a target of 10×.

Tip: call your njit kernels on ``np.ascontiguousarray`` copies, so that Numba compiles one
version per dtype instead of one per memory layout.
"""

import numpy as np


def conv2d_forward_loops(x, w, stride, padding, dilation, groups):
    """Your assignment-1 ``conv2d_forward`` (NumPy loops): the baseline."""
    raise NotImplementedError("paste your loop version of conv2d_forward")


def conv2d_backward_input_loops(grad_y, w, x_shape, stride, padding, dilation, groups):
    """Your assignment-2 ``conv2d_backward_input``: the baseline."""
    raise NotImplementedError("paste your loop version of conv2d_backward_input")


def conv2d_backward_weight_loops(x, grad_y, w_shape, stride, padding, dilation, groups):
    """Your assignment-2 ``conv2d_backward_weight``: the baseline."""
    raise NotImplementedError("paste your loop version of conv2d_backward_weight")


def conv2d_forward(x: np.ndarray, w: np.ndarray, stride: tuple[int, int],
                   padding: tuple[int, int, int, int], dilation: tuple[int, int],
                   groups: int) -> np.ndarray:
    """``y = x ⋆ w``, as in assignment 1, with a ``numba.njit`` kernel doing the loops."""
    raise NotImplementedError("conv2d_forward: call your njit kernel")


def conv2d_backward_input(grad_y: np.ndarray, w: np.ndarray, x_shape: tuple[int, int, int, int],
                          stride: tuple[int, int], padding: tuple[int, int, int, int],
                          dilation: tuple[int, int], groups: int) -> np.ndarray:
    """``∂L/∂X = full_corr(δ, rot180(W))`` cropped, as in assignment 2, with Numba."""
    raise NotImplementedError("conv2d_backward_input: call your njit kernel")


def conv2d_backward_weight(x: np.ndarray, grad_y: np.ndarray, w_shape: tuple[int, int, int, int],
                           stride: tuple[int, int], padding: tuple[int, int, int, int],
                           dilation: tuple[int, int], groups: int) -> np.ndarray:
    """``∂L/∂W = X ⋆ δ``, as in assignment 2, with Numba."""
    raise NotImplementedError("conv2d_backward_weight: call your njit kernel")
