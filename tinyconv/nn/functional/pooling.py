"""Differentiable pooling. The backward of pooling is upsampling:

- max pooling sends each output gradient back to the one input that won its window (the argmax);
- average pooling spreads each output gradient evenly, ``δ / (window size)``, over its window.

Fixed windows go through the kernel contract; adaptive pooling (windows chosen to hit an output
size) is built from tensor ops, because its windows differ in size.
"""

from __future__ import annotations

import numpy as np

from tinyconv.autograd import Function
from tinyconv.backend import kernels_for
from tinyconv.functions import stack
from tinyconv.kernels.contract import check_pool2d
from tinyconv.nn.functional._args import (
    check_float_tensors,
    check_int,
    check_rank,
    check_result_size,
    pool_args,
    symmetric_padding,
)
from tinyconv.tensor import Tensor

IntOrPair = int | tuple


class MaxPool2dFunction(Function):
    name = "max_pool2d"

    def forward(self, x, kernel=None, stride=None, padding=None, dilation=None, ceil_mode=False,
                kernels=None):
        y, indices = kernels.max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode)
        self.kernels, self.x_shape, self.indices = kernels, x.shape, indices
        self.save_for_backward(indices)
        return y

    def backward(self, grad_y):  # route each δ to the argmax of its window
        (indices,) = self.saved
        return self.kernels.max_pool2d_backward(grad_y, indices, self.x_shape)


class AvgPool2dFunction(Function):
    name = "avg_pool2d"

    def forward(self, x, kernel=None, stride=None, padding=None, ceil_mode=False,
                count_include_pad=True, kernels=None):
        self.kernels, self.x_shape = kernels, x.shape
        self.args = (kernel, stride, padding, ceil_mode, count_include_pad)
        return kernels.avg_pool2d_forward(x, *self.args)

    def backward(self, grad_y):  # spread each δ evenly over its window
        return self.kernels.avg_pool2d_backward(grad_y, self.x_shape, *self.args)


def _as_batched(input: Tensor) -> tuple[Tensor, bool]:
    return (input.unsqueeze(0), True) if input.ndim == 3 else (input, False)


def max_pool2d(input: Tensor, kernel_size: IntOrPair, stride: IntOrPair | None = None,
               padding: IntOrPair = 0, dilation: IntOrPair = 1, ceil_mode: bool = False,
               return_indices: bool = False):
    """Maximum over ``kernel_size`` windows. ``input: (N, C, H, W)`` or ``(C, H, W)``.

    Padding counts as -inf (it never wins). With ``return_indices=True`` also returns the argmax
    of each window as a flat index ``h * W + w`` into the input plane (int64), as PyTorch does.
    """
    return _max_pool2d("max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode,
                       return_indices)


def _max_pool2d(op: str, input: Tensor, kernel_size: IntOrPair, stride: IntOrPair | None,
                padding: IntOrPair, dilation: IntOrPair, ceil_mode: bool, return_indices: bool):
    """``max_pool2d``, with errors reported under ``op`` (``max_pool1d`` delegates here)."""
    check_float_tensors(op, input=input)
    check_rank(op, "input", input, (3, 4), "(N, C, H, W) or (C, H, W)")
    kernel, stride, padding, dilation = pool_args(op, kernel_size, stride, padding, dilation)
    padding = symmetric_padding(padding)
    x, unbatched = _as_batched(input)
    check_pool2d(op, x.shape, kernel, stride, padding, dilation, ceil_mode)
    y, ctx = MaxPool2dFunction.apply_with_ctx(x, kernel=kernel, stride=stride, padding=padding,
                                              dilation=dilation, ceil_mode=bool(ceil_mode),
                                              kernels=kernels_for(input.device))
    indices = Tensor._from_array(ctx.indices, input.device)
    if unbatched:
        y, indices = y.squeeze(0), indices.squeeze(0)
    return (y, indices) if return_indices else y


def avg_pool2d(input: Tensor, kernel_size: IntOrPair, stride: IntOrPair | None = None,
               padding: IntOrPair = 0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """Mean over ``kernel_size`` windows. ``input: (N, C, H, W)`` or ``(C, H, W)``.

    ``count_include_pad=True`` divides by the whole window (padding counted as zeros);
    ``False`` divides by the number of real input elements in the window.
    """
    return _avg_pool2d("avg_pool2d", input, kernel_size, stride, padding, ceil_mode,
                       count_include_pad)


def _avg_pool2d(op: str, input: Tensor, kernel_size: IntOrPair, stride: IntOrPair | None,
                padding: IntOrPair, ceil_mode: bool, count_include_pad: bool) -> Tensor:
    """``avg_pool2d``, with errors reported under ``op`` (``avg_pool1d`` delegates here)."""
    check_float_tensors(op, input=input)
    check_rank(op, "input", input, (3, 4), "(N, C, H, W) or (C, H, W)")
    kernel, stride, padding, _ = pool_args(op, kernel_size, stride, padding, 1)
    padding = symmetric_padding(padding)
    x, unbatched = _as_batched(input)
    check_pool2d(op, x.shape, kernel, stride, padding, (1, 1), ceil_mode)
    y = AvgPool2dFunction.apply(x, kernel=kernel, stride=stride, padding=padding,
                                ceil_mode=bool(ceil_mode),
                                count_include_pad=bool(count_include_pad),
                                kernels=kernels_for(input.device))
    return y.squeeze(0) if unbatched else y


def _pool1d_as_2d(op: str, input: Tensor) -> tuple[Tensor, bool]:
    check_float_tensors(op, input=input)
    check_rank(op, "input", input, (2, 3), "(N, C, L) or (C, L)")
    unbatched = input.ndim == 2
    x = input.unsqueeze(0) if unbatched else input
    return x.unsqueeze(2), unbatched


def max_pool1d(input: Tensor, kernel_size: int, stride: int | None = None, padding: int = 0,
               dilation: int = 1, ceil_mode: bool = False, return_indices: bool = False):
    """1-D max pooling over ``input: (N, C, L)`` or ``(C, L)`` (2-D pooling with height 1)."""
    op = "max_pool1d"
    x, unbatched = _pool1d_as_2d(op, input)
    kernel, stride, padding, dilation = pool_args(op, kernel_size, stride, padding, dilation, 1)
    y, indices = _max_pool2d(op, x, (1,) + kernel, (1,) + stride, (0,) + padding,
                             (1,) + dilation, ceil_mode, return_indices=True)
    y, indices = y.squeeze(2), indices.squeeze(2)  # with height 1, h*W + w is just w
    if unbatched:
        y, indices = y.squeeze(0), indices.squeeze(0)
    return (y, indices) if return_indices else y


def avg_pool1d(input: Tensor, kernel_size: int, stride: int | None = None, padding: int = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    """1-D average pooling over ``input: (N, C, L)`` or ``(C, L)``."""
    op = "avg_pool1d"
    x, unbatched = _pool1d_as_2d(op, input)
    kernel, stride, padding, _ = pool_args(op, kernel_size, stride, padding, 1, 1)
    y = _avg_pool2d(op, x, (1,) + kernel, (1,) + stride, (0,) + padding, ceil_mode,
                    count_include_pad).squeeze(2)
    return y.squeeze(0) if unbatched else y


# ---------------------------------------------------------------------------------------------
# Adaptive pooling: the caller names the output size; the windows follow from it.
# ---------------------------------------------------------------------------------------------


def adaptive_windows(in_size: int, out_size: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive windows: output ``i`` pools input ``[floor(i*n/m), ceil((i+1)*n/m))``.

    Neighbouring windows may overlap by one element when ``n`` is not a multiple of ``m``.
    """
    check_int("adaptive_windows", "in_size", in_size, minimum=1)
    check_int("adaptive_windows", "out_size", out_size, minimum=1)
    return [((i * in_size) // out_size, -(-((i + 1) * in_size) // out_size))
            for i in range(out_size)]


def _adaptive_output_size(op: str, input: Tensor, output_size) -> tuple[int, int]:
    """The checked ``(out_h, out_w)`` of an adaptive pooling of ``input`` (already checked to be
    a 3-D or 4-D float tensor)."""
    if 0 in input.shape[-2:]:  # every window would be empty: nothing to average or maximise
        raise ValueError(f"{op}: input of shape {input.shape} has an empty spatial dimension; "
                         f"adaptive pooling needs H >= 1 and W >= 1")
    if isinstance(output_size, int) or output_size is None:
        output_size = (output_size, output_size)
    if not isinstance(output_size, (tuple, list)) or len(output_size) != 2:
        raise ValueError(f"{op}: output_size must be an int or a pair, got {output_size!r}")
    sizes = tuple(input.shape[-2 + i] if s is None else s for i, s in enumerate(output_size))
    if any(not isinstance(s, int) or s < 1 for s in sizes):
        raise ValueError(f"{op}: output_size must be positive ints (or None to keep a size), "
                         f"got {tuple(output_size)}")
    check_result_size(op, "output", input.shape[:-2] + sizes, input.dtype)
    return sizes


def _averaging_matrix(in_size: int, out_size: int, like: Tensor) -> Tensor:
    """``(out_size, in_size)`` matrix whose row i averages adaptive window i."""
    matrix = np.zeros((out_size, in_size), dtype=like.dtype)
    for i, (start, end) in enumerate(adaptive_windows(in_size, out_size)):
        matrix[i, start:end] = 1.0 / (end - start)
    return Tensor(matrix, device=like.device)


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Average pooling to a given output size. ``input: (N, C, H, W)`` or ``(C, H, W)``.

    Averaging over windows is linear and separable: with ``A_h: (out_h, H)`` averaging the rows
    and ``A_w: (out_w, W)`` the columns, ``y = A_h @ x @ A_wᵀ`` for every (n, c) plane. Autograd
    differentiates the two matmuls, so the backward pass spreads δ back over each window.
    """
    op = "adaptive_avg_pool2d"
    check_float_tensors(op, input=input)
    check_rank(op, "input", input, (3, 4), "(N, C, H, W) or (C, H, W)")
    out_h, out_w = _adaptive_output_size(op, input, output_size)
    h, w = input.shape[-2:]
    if (out_h, out_w) == (1, 1):  # global average pooling
        return input.mean(dim=(-2, -1), keepdim=True)
    return _averaging_matrix(h, out_h, input) @ input @ _averaging_matrix(w, out_w, input).T


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """Max pooling to a given output size. ``input: (N, C, H, W)`` or ``(C, H, W)``.

    When the input size is a multiple of the output size the windows are equal and tile the input,
    so this is ``max_pool2d`` with ``kernel = stride = H/out_h``. Otherwise each window is pooled
    on its own; ties go to the first element, as in max_pool2d.
    """
    op = "adaptive_max_pool2d"
    check_float_tensors(op, input=input)
    check_rank(op, "input", input, (3, 4), "(N, C, H, W) or (C, H, W)")
    out_h, out_w = _adaptive_output_size(op, input, output_size)
    x, unbatched = _as_batched(input)
    h, w = x.shape[-2:]
    if h % out_h == 0 and w % out_w == 0:
        kernel = (h // out_h, w // out_w)
        y, indices = max_pool2d(x, kernel, kernel, return_indices=True)
    else:
        rows = []
        index_rows = []
        for top, bottom in adaptive_windows(h, out_h):
            values, indices = [], []
            for left, right in adaptive_windows(w, out_w):
                window = x[:, :, top:bottom, left:right].flatten(2)
                best = window.max(dim=2)  # routes the gradient to the first maximum
                local = best.indices.data
                # window-local flat index -> flat index into the whole H x W plane
                width = right - left
                indices.append((top + local // width) * w + left + local % width)
                values.append(best.values)
            rows.append(stack(values, dim=-1))
            index_rows.append(x.xp.stack(indices, axis=-1))
        y = stack(rows, dim=-2)
        indices = Tensor._from_array(x.xp.stack(index_rows, axis=-2), x.device)
    if unbatched:
        y, indices = y.squeeze(0), indices.squeeze(0)
    return (y, indices) if return_indices else y


def global_avg_pool2d(input: Tensor) -> Tensor:
    """Average of each channel over all pixels: ``(N, C, H, W) -> (N, C, 1, 1)``.

    GoogLeNet, ResNet and MobileNet replace large fully connected layers with this.
    """
    return adaptive_avg_pool2d(input, 1)

