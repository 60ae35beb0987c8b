"""Two runtimes behind one small interface, so the launchers are written once.

A runtime is what ``launch.py`` needs from "a GPU"::

    runtime.xp                  the array module of the kernels' arrays (cupy, or numpy)
    runtime.array_type          cupy.ndarray, or numpy.ndarray
    runtime.get_function(name)  a kernel, called as kernel(grid, block, args) (cupy.RawKernel's)
    runtime.name                for messages ("cuda" or "cuda-emu")

- :class:`CupyRuntime` compiles the ``.cu`` files with NVRTC through ``cupy.RawModule``, lazily:
  a file is compiled the first time one of its kernels is asked for (never at import), then
  CuPy caches the binary on disk (``~/.cupy/kernel_cache``).
- :class:`EmulatedRuntime` compiles the same files with g++ through ``emulation.h`` and runs them
  on the CPU (:mod:`tinyconv.kernels.cuda.emulator`), also on first use.

``sources`` lets a test swap a file for another that defines kernels of the same names (the
planted-bug kernels of ``tests/cuda/planted/``): later files win.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType

import numpy as np

from .emulator import EmulatedModule, kernel_names

__all__ = ["SOURCES", "CupyRuntime", "EmulatedRuntime", "cupy_runtime", "emulated_runtime"]

KERNEL_DIR = Path(__file__).resolve().parent

#: The CUDA C files of the kernel sets.
SOURCES = tuple(KERNEL_DIR / name for name in
                ("conv2d.cu", "im2col.cu", "conv2d_tiled.cu", "pool2d.cu"))


def _kernel_index(sources: Iterable[str | Path]) -> dict[str, Path]:
    """Which file defines each kernel (a later file overrides an earlier one)."""
    index = {}
    for path in map(Path, sources):
        for name in kernel_names(path.read_text()):
            index[name] = path
    return index


class CupyRuntime:
    """The kernels on a CUDA GPU, through ``cupy.RawModule`` (compiled by NVRTC on first use)."""

    name = "cuda"

    def __init__(self, sources: Iterable[str | Path] = SOURCES,
                 options: tuple[str, ...] = ("-std=c++17",)):
        import cupy

        self.xp: ModuleType = cupy
        self.array_type = cupy.ndarray
        self._files = _kernel_index(sources)
        self._options = options
        self._modules: dict[Path, object] = {}
        self._functions: dict[str, Callable] = {}

    def get_function(self, name: str) -> Callable:
        if name not in self._functions:
            path = self._files[name]
            if path not in self._modules:
                # Creating a RawModule compiles nothing: NVRTC runs at the first get_function.
                self._modules[path] = self.xp.RawModule(code=path.read_text(),
                                                        options=self._options)
            self._functions[name] = self._modules[path].get_function(name)
        return self._functions[name]


class EmulatedRuntime:
    """The same kernels on the CPU, through the emulation (NumPy arrays are "device" arrays).

    ``sanitize`` (``"address"`` or ``"thread"``) and ``defines`` go to
    :func:`tinyconv.kernels.cuda.emulator.build`.
    """

    name = "cuda-emu"

    def __init__(self, sources: Iterable[str | Path] = SOURCES, *, sanitize: str | None = None,
                 defines: dict[str, str] | None = None):
        self.xp: ModuleType = np
        self.array_type = np.ndarray
        self._files = _kernel_index(sources)
        self._build_options = {"sanitize": sanitize, "defines": defines}
        self._modules: dict[Path, EmulatedModule] = {}

    def get_function(self, name: str) -> Callable:
        path = self._files[name]
        if path not in self._modules:  # g++ runs here, once per file (and then from the cache)
            self._modules[path] = EmulatedModule(path, **self._build_options)
        return self._modules[path].get_function(name)


_runtimes: dict[str, object] = {}


def cupy_runtime() -> CupyRuntime:
    """The shared :class:`CupyRuntime` of the ``"cuda"`` kernel set (a clear error without CuPy
    or without a GPU)."""
    if "cuda" not in _runtimes:
        try:
            import cupy
        except ImportError as error:
            raise RuntimeError("the 'cuda' kernel set needs CuPy: pip install tinyconv[gpu] (CUDA "
                               "13) or tinyconv[gpu-cuda12]; without a GPU, "
                               "tc.set_kernels('cuda-emu') runs the same kernels on the CPU"
                               ) from error
        if not cupy.is_available():
            raise RuntimeError("the 'cuda' kernel set needs a CUDA GPU, and CuPy sees none "
                               "(cupy.is_available() is False); tc.set_kernels('cuda-emu') runs "
                               "the same kernels on the CPU")
        _runtimes["cuda"] = CupyRuntime()
    return _runtimes["cuda"]


def emulated_runtime() -> EmulatedRuntime:
    """The shared :class:`EmulatedRuntime` of the ``"cuda-emu"`` kernel set."""
    if "cuda-emu" not in _runtimes:
        _runtimes["cuda-emu"] = EmulatedRuntime()
    return _runtimes["cuda-emu"]
