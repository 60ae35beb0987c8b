# tinyconv assignment: numba-speedup
"""A correct solution of assignment 4 (the grader's test): the loops are tinyconv's reference
kernels, the fast versions thin functions of this module over tinyconv's Numba kernels."""

from tinyconv.kernels import cpu, reference


def conv2d_forward_loops(x, w, stride, padding, dilation, groups):
    return reference.conv2d_forward(x, w, stride, padding, dilation, groups)


def conv2d_backward_input_loops(grad_y, w, x_shape, stride, padding, dilation, groups):
    return reference.conv2d_backward_input(grad_y, w, x_shape, stride, padding, dilation, groups)


def conv2d_backward_weight_loops(x, grad_y, w_shape, stride, padding, dilation, groups):
    return reference.conv2d_backward_weight(x, grad_y, w_shape, stride, padding, dilation, groups)


def conv2d_forward(x, w, stride, padding, dilation, groups):
    return cpu.conv2d_forward(x, w, stride, padding, dilation, groups)


def conv2d_backward_input(grad_y, w, x_shape, stride, padding, dilation, groups):
    return cpu.conv2d_backward_input(grad_y, w, x_shape, stride, padding, dilation, groups)


def conv2d_backward_weight(x, grad_y, w_shape, stride, padding, dilation, groups):
    return cpu.conv2d_backward_weight(x, grad_y, w_shape, stride, padding, dilation, groups)
