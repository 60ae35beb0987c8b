# tinyconv assignment: lenet5-training
"""A correct solution of assignment 7 (the grader's test): kernels of its own (thin functions of
this module over tinyconv's CPU kernels, so that the test is fast) and a training loop."""

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv.kernels import cpu


def conv2d_forward(x, w, stride, padding, dilation, groups):
    return cpu.conv2d_forward(x, w, stride, padding, dilation, groups)


def conv2d_backward_input(grad_y, w, x_shape, stride, padding, dilation, groups):
    return cpu.conv2d_backward_input(grad_y, w, x_shape, stride, padding, dilation, groups)


def conv2d_backward_weight(x, grad_y, w_shape, stride, padding, dilation, groups):
    return cpu.conv2d_backward_weight(x, grad_y, w_shape, stride, padding, dilation, groups)


def max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode):
    return cpu.max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode)


def max_pool2d_backward(grad_y, indices, x_shape):
    return cpu.max_pool2d_backward(grad_y, indices, x_shape)


def avg_pool2d_forward(x, kernel, stride, padding, ceil_mode, count_include_pad):
    return cpu.avg_pool2d_forward(x, kernel, stride, padding, ceil_mode, count_include_pad)


def avg_pool2d_backward(grad_y, x_shape, kernel, stride, padding, ceil_mode, count_include_pad):
    return cpu.avg_pool2d_backward(grad_y, x_shape, kernel, stride, padding, ceil_mode,
                                   count_include_pad)


def train(model, train_set):
    images, labels = train_set.tensors
    optimizer = tc.optim.Adam(model.parameters(), lr=0.003)
    for _epoch in range(4):
        order = tc.randperm(len(labels)).numpy()
        for start in range(0, len(order), 64):
            batch = tc.tensor(order[start:start + 64])
            loss = F.cross_entropy(model(images[batch]), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
