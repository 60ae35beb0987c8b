# tinyconv assignment: conv-backward
"""Assignment 2: the two backward passes of a 2-D convolution (see README.md next to this file).

Write ``conv2d_backward_input`` and ``conv2d_backward_weight`` with NumPy. The forward pass is
tinyconv's reference; grade your two functions with::

    tinyconv grade .

Conventions: NCHW arrays, padding ``(top, bottom, left, right)``, stride and dilation
``(along H, along W)``; δ (``grad_y``) is the gradient of the loss with respect to the output.
"""

import numpy as np


def conv2d_backward_input(grad_y: np.ndarray, w: np.ndarray, x_shape: tuple[int, int, int, int],
                          stride: tuple[int, int], padding: tuple[int, int, int, int],
                          dilation: tuple[int, int], groups: int) -> np.ndarray:
    """``∂L/∂X = full_conv(δ, W) = full_corr(δ, rot180(W))``, cropped by the padding.

    ``grad_y: (N, C_out, H_out, W_out)``, ``w: (C_out, C_in // groups, kH, kW)`` -> ``grad_x`` of
    shape ``x_shape = (N, C_in, H, W)``, a new array with ``grad_y``'s dtype. With a stride, δ is
    dilated first (``s - 1`` zeros between entries); input rows or columns no window read get 0.

    Identities the grader checks: the formula above; adjointness
    ``<X ⋆ W, Y> = <X, conv2d_backward_input(Y, W)>``; full convolution commutes; convolution is
    correlation with the rotated kernel; two stacked 3×3 convolutions see a 5×5 field.
    """
    raise NotImplementedError("conv2d_backward_input: write the input gradient")


def conv2d_backward_weight(x: np.ndarray, grad_y: np.ndarray, w_shape: tuple[int, int, int, int],
                           stride: tuple[int, int], padding: tuple[int, int, int, int],
                           dilation: tuple[int, int], groups: int) -> np.ndarray:
    """``∂L/∂W = X ⋆ δ``: the padded input correlated with δ (dilated by the stride), summed
    over the batch, per group.

    ``x: (N, C_in, H, W)``, ``grad_y: (N, C_out, H_out, W_out)`` -> ``grad_w`` of shape
    ``w_shape = (C_out, C_in // groups, kH, kW)``, a new array with ``x``'s dtype.

    Identities the grader checks: the formula above; adjointness
    ``<X ⋆ W, Y> = <W, conv2d_backward_weight(X, Y)>``.
    """
    raise NotImplementedError("conv2d_backward_weight: write the weight gradient")
