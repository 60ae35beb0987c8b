# tinyconv assignment: lenet5-training
"""Assignment 7: train LeNet-5 with your own kernels (see README.md next to this file).

This module is a kernel set: the seven contract functions below must be *yours* (import them
from your assignments 1-4, e.g. ``from pooling import max_pool2d_forward``; the grader adds this
folder to the import path). ``train`` is your training loop. The grader registers this module
with ``tc.register_kernels``, builds ``tc.models.lenet5()`` with a fixed seed, calls
``train(model, train_set)`` with your kernels active, and measures the accuracy on the 359 test
digits with tinyconv's own kernels. Grade with ``tinyconv grade .``.
"""

import tinyconv as tc


def conv2d_forward(x, w, stride, padding, dilation, groups):
    raise NotImplementedError("import your conv2d_forward")


def conv2d_backward_input(grad_y, w, x_shape, stride, padding, dilation, groups):
    raise NotImplementedError("import your conv2d_backward_input")


def conv2d_backward_weight(x, grad_y, w_shape, stride, padding, dilation, groups):
    raise NotImplementedError("import your conv2d_backward_weight")


def max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode):
    raise NotImplementedError("import your max_pool2d_forward")


def max_pool2d_backward(grad_y, indices, x_shape):
    raise NotImplementedError("import your max_pool2d_backward")


def avg_pool2d_forward(x, kernel, stride, padding, ceil_mode, count_include_pad):
    raise NotImplementedError("import your avg_pool2d_forward")


def avg_pool2d_backward(grad_y, x_shape, kernel, stride, padding, ceil_mode, count_include_pad):
    raise NotImplementedError("import your avg_pool2d_backward")


def train(model: tc.nn.Module, train_set: tc.data.ImageDataset) -> None:
    """Train ``model`` (LeNet-5, 32×32 inputs) in place on ``train_set`` (1,438 digits,
    ``train_set.tensors -> (images, labels)``): choose the optimizer, the learning rate, the batch
    size and the number of epochs (tutorial 05 §3). The grade needs 90 % test accuracy; keep it
    under a minute or two with your kernels."""
    raise NotImplementedError("train: write the training loop")
