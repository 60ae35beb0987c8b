"""The ``"cuda-emu"`` kernel set: the CUDA kernels of this folder, run on the CPU.

The same ``.cu`` files and the same launchers (``launch.py``) as the ``"cuda"`` kernel set, on
NumPy arrays: ``emulation.h`` turns the CUDA C into C++, g++ compiles it once (cached in
``~/.cache/tinyconv/cuda-emu``) and ctypes runs it, every CUDA thread in turn. So a student
without an NVIDIA GPU can write a kernel, run it, grade it with ``tinyconv.testing`` and train
with it::

    import tinyconv as tc
    tc.set_kernels("cuda-emu")          # conv and pool on the CPU now run the .cu kernels

To try a kernel of your own, write a ``.cu`` file defining kernels of the same names (copy
``conv2d.cu``'s entry points) and bind the launchers to a runtime that includes it:
``launch.RuntimeKernelSet(EmulatedRuntime((*SOURCES, "mine.cu")))`` is a kernel set that
``tinyconv.testing.run_all`` grades and ``tc.register_kernels`` accepts.

What the emulation does not model (see ``emulation.h``): warps and warp intrinsics, the GPU's
weak memory ordering (races are found by the ThreadSanitizer build instead), fused multiply-add
rounding (compare results with a tolerance), dynamic shared memory, and speed: it is a
correctness tool, far slower than the Numba kernels.
"""

from __future__ import annotations

from ..contract import Array, Padding4, Pair, Shape4
from . import launch
from .launch import PLANS, force_plan, plan_name
from .runtime import emulated_runtime

__all__ = [
    "PLANS",
    "avg_pool2d_backward",
    "avg_pool2d_forward",
    "conv2d_backward_input",
    "conv2d_backward_weight",
    "conv2d_forward",
    "force_plan",
    "max_pool2d_backward",
    "max_pool2d_forward",
    "plan_name",
]


def conv2d_forward(x: Array, w: Array, stride: Pair, padding: Padding4, dilation: Pair,
                   groups: int) -> Array:
    """``y = x ⋆ w`` on the CPU emulation (see ``launch.conv2d_forward``)."""
    return launch.conv2d_forward(emulated_runtime(), x, w, stride, padding, dilation, groups)


def conv2d_backward_input(grad_y: Array, w: Array, x_shape: Shape4, stride: Pair,
                          padding: Padding4, dilation: Pair, groups: int) -> Array:
    """``grad_x = full_corr(δ, rot180(w))`` cropped by the padding, on the CPU emulation."""
    return launch.conv2d_backward_input(emulated_runtime(), grad_y, w, x_shape, stride, padding,
                                        dilation, groups)


def conv2d_backward_weight(x: Array, grad_y: Array, w_shape: Shape4, stride: Pair,
                           padding: Padding4, dilation: Pair, groups: int) -> Array:
    """``grad_w = x ⋆ δ`` summed over the batch, on the CPU emulation."""
    return launch.conv2d_backward_weight(emulated_runtime(), x, grad_y, w_shape, stride, padding,
                                         dilation, groups)


def max_pool2d_forward(x: Array, kernel: Pair, stride: Pair, padding: Padding4, dilation: Pair,
                       ceil_mode: bool) -> tuple[Array, Array]:
    """Window maxima and their flat indices, on the CPU emulation."""
    return launch.max_pool2d_forward(emulated_runtime(), x, kernel, stride, padding, dilation,
                                     ceil_mode)


def max_pool2d_backward(grad_y: Array, indices: Array, x_shape: Shape4) -> Array:
    """δ routed to each window's argmax, on the CPU emulation."""
    return launch.max_pool2d_backward(emulated_runtime(), grad_y, indices, x_shape)


def avg_pool2d_forward(x: Array, kernel: Pair, stride: Pair, padding: Padding4, ceil_mode: bool,
                       count_include_pad: bool) -> Array:
    """Window means (PyTorch's divisor), on the CPU emulation."""
    return launch.avg_pool2d_forward(emulated_runtime(), x, kernel, stride, padding, ceil_mode,
                                     count_include_pad)


def avg_pool2d_backward(grad_y: Array, x_shape: Shape4, kernel: Pair, stride: Pair,
                        padding: Padding4, ceil_mode: bool, count_include_pad: bool) -> Array:
    """δ / divisor spread over each window, on the CPU emulation."""
    return launch.avg_pool2d_backward(emulated_runtime(), grad_y, x_shape, kernel, stride, padding,
                                      ceil_mode, count_include_pad)
