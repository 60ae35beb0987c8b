# tinyconv assignment: conv-forward
"""Assignment 1: the forward pass of a 2-D convolution (see README.md next to this file).

Write ``conv2d_forward`` below with NumPy (loops are fine: correct first, fast in assignment 4).
Grade it, as often as you like, with::

    tinyconv grade .

Conventions (those of every kernel in tinyconv, and of PyTorch): arrays are NCHW, the padding is
per side ``(top, bottom, left, right)``, ``stride`` and ``dilation`` are ``(along H, along W)``.
"""

import numpy as np


def conv2d_forward(x: np.ndarray, w: np.ndarray, stride: tuple[int, int],
                   padding: tuple[int, int, int, int], dilation: tuple[int, int],
                   groups: int) -> np.ndarray:
    """2-D cross-correlation ``y = x ⋆ w`` (what deep learning calls "convolution").

    ``x: (N, C_in, H, W)``, ``w: (C_out, C_in // groups, kH, kW)`` ->
    ``y: (N, C_out, H_out, W_out)``, a new array with ``x``'s dtype, where
    ``H_out = floor((H + top + bottom - dH·(kH - 1) - 1) / sH) + 1`` (and the same along W)::

        y[n, o, i, j] = Σ_{c, p, q} x_padded[n, g·C_in_g + c, i·sH + p·dH, j·sW + q·dW]
                                    · w[o, c, p, q]

    with ``x_padded`` the input with zeros added around it, ``g = o // (C_out // groups)`` the
    group of output channel ``o`` and ``c`` running over that group's ``C_in_g = C_in // groups``
    input channels. Inputs may be non-contiguous; do not modify them.

    Identities the grader checks: ``Y = X ⋆ W``; linear in X and in W; shifting X shifts Y;
    a 1×1 convolution is a matrix product over channels; NaN and ±inf propagate as in PyTorch.
    """
    raise NotImplementedError("conv2d_forward: write the forward pass")
