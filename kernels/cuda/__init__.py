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

from . import launch
from .launch import PLANS, force_plan, plan_name
from .runtime import cupy_runtime

__all__ = [
    "KERNELS",
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


#: The kernel set object behind this module's functions: the launchers bound to CuPy
#: (the runtime is created on the first kernel call).
KERNELS = launch.RuntimeKernelSet(cupy_runtime, name="cuda")

conv2d_forward = KERNELS.conv2d_forward
conv2d_backward_input = KERNELS.conv2d_backward_input
conv2d_backward_weight = KERNELS.conv2d_backward_weight
max_pool2d_forward = KERNELS.max_pool2d_forward
max_pool2d_backward = KERNELS.max_pool2d_backward
avg_pool2d_forward = KERNELS.avg_pool2d_forward
avg_pool2d_backward = KERNELS.avg_pool2d_backward
