"""Devices and backends: which array module and which kernel set a tensor uses.

A :class:`Device` names where a tensor's data lives (``"cpu"`` or ``"cuda"``). Its :class:`Backend`
gives the two things the rest of tinyconv needs from a device:

- ``xp``: the array module (``numpy`` on the CPU, ``cupy`` on the GPU). Elementwise math,
  reductions, reshapes and matmul call it directly, so no layer above hard-codes numpy.
- ``kernels``: the module implementing the kernel contract (``tinyconv.kernels.contract``) for
  convolution and pooling. On the CPU this is the Numba set by default; ``set_kernels("reference")``
  switches to the readable NumPy loops, and ``register_kernels`` adds a student's own module.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from types import ModuleType

import numpy as np

from tinyconv.kernels.contract import check_kernel_set


class Device:
    """Where a tensor lives: ``Device("cpu")`` or ``Device("cuda")`` (``"cuda:0"`` is accepted).

    Compares equal to its name, so ``t.device == "cpu"`` works as in PyTorch.
    """

    __slots__ = ("type", "index")

    def __init__(self, spec: str | Device):
        if isinstance(spec, Device):
            self.type, self.index = spec.type, spec.index
            return
        if not isinstance(spec, str):
            raise TypeError(f"device must be a string such as 'cpu' or 'cuda', got {spec!r}")
        name, _, index = spec.partition(":")
        if name not in ("cpu", "cuda"):
            raise ValueError(f"unknown device {spec!r}: expected 'cpu' or 'cuda'")
        if index and (not index.isdigit() or (name == "cpu" and index != "0")):
            raise ValueError(f"bad device index in {spec!r}")
        self.type = name
        self.index = int(index) if index else None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = Device(other)
            except (TypeError, ValueError):
                return False
        return isinstance(other, Device) and self.type == other.type

    def __hash__(self) -> int:
        return hash(self.type)

    def __str__(self) -> str:
        return self.type

    def __repr__(self) -> str:
        return f"device(type='{self.type}')"


# Kernel sets by name. Values are module paths (imported on first use, so `import tinyconv`
# never compiles a kernel) or modules registered by a user.
_KERNEL_SETS: dict[str, str | ModuleType] = {
    "cpu": "tinyconv.kernels.cpu",
    "numba": "tinyconv.kernels.cpu",
    "reference": "tinyconv.kernels.reference",
    "cuda": "tinyconv.kernels.cuda",
    # the same CUDA C kernels run on the CPU by an emulation (for machines without a GPU)
    "cuda-emu": "tinyconv.kernels.cuda.emulated",
}
# Which kernel set each device uses now.
_ACTIVE: dict[str, str] = {"cpu": "cpu", "cuda": "cuda"}


def register_kernels(name: str, module: str | ModuleType) -> None:
    """Make a kernel set available under ``name``.

    ``module`` is a module (or an importable module path) with the seven functions of the kernel
    contract. A student registers their own kernels, then ``set_kernels(name)`` runs every op with
    them::

        import my_kernels
        tc.register_kernels("mine", my_kernels)
        tc.set_kernels("mine")
    """
    if isinstance(module, ModuleType):
        _check_contract(name, module)
    _KERNEL_SETS[name] = module


def set_kernels(name: str, device: str = "cpu") -> None:
    """Use the kernel set ``name`` for every conv/pool op on ``device`` from now on."""
    if name not in _KERNEL_SETS:
        raise ValueError(f"set_kernels: unknown kernel set {name!r}; known: {sorted(_KERNEL_SETS)}"
                         " (add one with tc.register_kernels)")
    _ACTIVE[Device(device).type] = name


def get_kernels_name(device: str = "cpu") -> str:
    """The name of the kernel set ``device`` uses now."""
    return _ACTIVE[Device(device).type]


@contextlib.contextmanager
def use_kernels(name: str, device: str = "cpu") -> Iterator[None]:
    """Context manager: use kernel set ``name`` inside the block, then restore the previous one."""
    previous = get_kernels_name(device)
    set_kernels(name, device)
    try:
        yield
    finally:
        set_kernels(previous, device)


def _check_contract(name: str, module: ModuleType) -> None:
    """``module`` must satisfy the kernel-set protocol (``tinyconv.kernels.contract.KernelSet``):
    the seven functions present, callable, with the contract's parameters; a ``batch_norm``
    attribute, if any, must be the documented ``FusedBatchNorm``. Raises ``TypeError`` naming the
    kernel set, the function and what is expected."""
    check_kernel_set(name, module)


def kernels_for(device: str | Device) -> ModuleType:
    """The kernel module the given device uses now (imported on first use)."""
    name = _ACTIVE[Device(device).type]
    module = _KERNEL_SETS[name]
    if isinstance(module, str):
        module = importlib.import_module(module)
        _check_contract(name, module)
        _KERNEL_SETS[name] = module
    return module


def cuda_available() -> bool:
    """True when CuPy is installed and can see a CUDA GPU."""
    try:
        import cupy
    except ImportError:
        return False
    try:
        return bool(cupy.is_available())
    except Exception:  # a broken driver install reports through many exception types
        return False


_cupy: ModuleType | None = None  # CuPy, once it has been found usable (checked only once)


def array_module(device: str | Device) -> ModuleType:
    """``numpy`` for the CPU, ``cupy`` for CUDA.

    Without CuPy, or without a GPU CuPy can see, ``"cuda"`` raises one RuntimeError that says
    which of the two is missing and what to do.
    """
    global _cupy
    if Device(device).type == "cpu":
        return np
    if _cupy is not None:
        return _cupy
    try:
        import cupy
    except ImportError:
        raise RuntimeError("device 'cuda' needs CuPy, which is not installed: "
                           'pip install "tinyconv[gpu]" (CUDA 13) or "tinyconv[gpu-cuda12]" '
                           "(CUDA 12)") from None
    if not cuda_available():
        raise RuntimeError("device 'cuda' was requested but no CUDA GPU is visible "
                           "(cupy.is_available() is False): check the driver with nvidia-smi "
                           "and CUDA_VISIBLE_DEVICES, or use device='cpu'")
    _cupy = cupy
    return cupy


def device_of_array(array) -> Device:
    """The device an ndarray lives on: NumPy arrays are on the CPU, anything else is CuPy's."""
    return Device("cpu") if isinstance(array, (np.ndarray, np.generic)) else Device("cuda")


def to_host(array) -> np.ndarray:
    """A NumPy copy (or the same array) of ``array`` on the CPU."""
    if isinstance(array, (np.ndarray, np.generic)):
        return np.asarray(array)
    return array.get()
