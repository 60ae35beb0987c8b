"""The CUDA kernel sets: the kernel contract in CUDA C, on a GPU (``"cuda"``) or emulated on the
CPU (``"cuda-emu"``).

Read it side by side with ``kernels/reference.py`` (NumPy loops) and ``kernels/cpu/`` (Numba):

- ``conv2d.cu``, ``pool2d.cu``: the seven contract kernels, one thread per output element,
  float32 and float64, every option (stride, per-side padding, dilation, groups, ceil_mode,
  count_include_pad); backward passes are gathers (no atomics, the same result every run);
- ``im2col.cu``: the copies that turn a convolution into a GEMM (cuBLAS through ``cupy.matmul``),
  the fast path for dense layers; ``conv2d_tiled.cu``: a forward pass with a shared-memory tile;
- ``launch.py``: the Python half of every kernel (checks, allocation, dtype dispatch, grid size,
  the plan heuristic), written once against a two-method runtime interface;
- ``runtime.py``: the two runtimes, CuPy (``cupy.RawModule``, NVRTC on first use) and the CPU
  emulation (``emulator.py`` + ``emulation.h``: g++ and ctypes, ``__syncthreads`` as fibers,
  AddressSanitizer and ThreadSanitizer builds);
- this module is the ``"cuda"`` kernel set (CuPy arrays in and out, on the GPU); ``emulated.py``
  is ``"cuda-emu"`` (NumPy arrays, on the CPU): ``tc.set_kernels("cuda-emu")`` trains a network
  with these very ``.cu`` files on a machine without a GPU.

Nothing is compiled, and CuPy is not imported, until a kernel is first called.
"""

from __future__ import annotations

from ..contract import Array, Padding4, Pair, Shape4
from . import launch
from .launch import PLANS, force_plan, plan_name
from .runtime import cupy_runtime

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
    """``y = x ⋆ w`` on the GPU (see ``launch.conv2d_forward``)."""
    return launch.conv2d_forward(cupy_runtime(), x, w, stride, padding, dilation, groups)


def conv2d_backward_input(grad_y: Array, w: Array, x_shape: Shape4, stride: Pair,
                          padding: Padding4, dilation: Pair, groups: int) -> Array:
    """``grad_x = full_corr(δ, rot180(w))`` cropped by the padding, on the GPU."""
    return launch.conv2d_backward_input(cupy_runtime(), grad_y, w, x_shape, stride, padding,
                                        dilation, groups)


def conv2d_backward_weight(x: Array, grad_y: Array, w_shape: Shape4, stride: Pair,
                           padding: Padding4, dilation: Pair, groups: int) -> Array:
    """``grad_w = x ⋆ δ`` summed over the batch, on the GPU."""
    return launch.conv2d_backward_weight(cupy_runtime(), x, grad_y, w_shape, stride, padding,
                                         dilation, groups)


def max_pool2d_forward(x: Array, kernel: Pair, stride: Pair, padding: Padding4, dilation: Pair,
                       ceil_mode: bool) -> tuple[Array, Array]:
    """Window maxima and their flat indices, on the GPU."""
    return launch.max_pool2d_forward(cupy_runtime(), x, kernel, stride, padding, dilation,
                                     ceil_mode)


def max_pool2d_backward(grad_y: Array, indices: Array, x_shape: Shape4) -> Array:
    """δ routed to each window's argmax, on the GPU."""
    return launch.max_pool2d_backward(cupy_runtime(), grad_y, indices, x_shape)


def avg_pool2d_forward(x: Array, kernel: Pair, stride: Pair, padding: Padding4, ceil_mode: bool,
                       count_include_pad: bool) -> Array:
    """Window means (PyTorch's divisor), on the GPU."""
    return launch.avg_pool2d_forward(cupy_runtime(), x, kernel, stride, padding, ceil_mode,
                                     count_include_pad)


def avg_pool2d_backward(grad_y: Array, x_shape: Shape4, kernel: Pair, stride: Pair,
                        padding: Padding4, ceil_mode: bool, count_include_pad: bool) -> Array:
    """δ / divisor spread over each window, on the GPU."""
    return launch.avg_pool2d_backward(cupy_runtime(), grad_y, x_shape, kernel, stride, padding,
                                      ceil_mode, count_include_pad)
