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

from . import launch
from .launch import PLANS, force_plan, plan_name
from .runtime import emulated_runtime

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


#: The kernel set object behind this module's functions: the launchers bound to the emulation
#: (the runtime is created on the first kernel call).
KERNELS = launch.RuntimeKernelSet(emulated_runtime, name="cuda-emu")

conv2d_forward = KERNELS.conv2d_forward
conv2d_backward_input = KERNELS.conv2d_backward_input
conv2d_backward_weight = KERNELS.conv2d_backward_weight
max_pool2d_forward = KERNELS.max_pool2d_forward
max_pool2d_backward = KERNELS.max_pool2d_backward
avg_pool2d_forward = KERNELS.avg_pool2d_forward
avg_pool2d_backward = KERNELS.avg_pool2d_backward
