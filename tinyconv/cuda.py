"""``tc.cuda``: is a GPU usable, how many, wait for it (PyTorch's ``torch.cuda`` basics).

Tensors go to the GPU with ``t.to("cuda")`` or ``device="cuda"``; this module only answers
questions about the GPU. The CUDA kernels themselves are in ``tinyconv.kernels.cuda``.
"""

from __future__ import annotations

from tinyconv.backend import array_module, cuda_available

__all__ = ["is_available", "device_count", "synchronize"]


def is_available() -> bool:
    """True when CuPy is installed and sees a CUDA GPU (never raises)."""
    return cuda_available()


def device_count() -> int:
    """The number of visible CUDA GPUs (0 without CuPy or without a GPU)."""
    if not cuda_available():
        return 0
    return int(array_module("cuda").cuda.runtime.getDeviceCount())


def synchronize() -> None:
    """Wait until every kernel queued on the GPU has finished (to time GPU work honestly).

    Raises the error of ``device="cuda"`` (what to install, or that no GPU is visible) when no
    GPU is usable.
    """
    array_module("cuda").cuda.Device().synchronize()
