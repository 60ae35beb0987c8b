"""Run the CUDA C kernels on the CPU (g++, ``emulation.h``, ctypes) with CuPy's calling convention.

::

    module = EmulatedModule("conv2d.cu")                  # g++ -shared once, cached by content hash
    kernel = module.get_function("conv2d_forward_f32")
    kernel((blocks,), (threads,), (x, w, y, shape))       # exactly like cupy.RawKernel

The ``.cu`` file is compiled unchanged, after ``emulation.h`` (which turns CUDA's keywords into
C++ and runs a grid as loops, or as fibers when the kernel uses ``__syncthreads``; read its header
comment for what it does *not* model: warps, the GPU's memory ordering, fused multiply-add
rounding). "Device arrays" are NumPy arrays.

Every argument is checked against the kernel's C signature, which the library exports: CuPy and
the CUDA driver do not check anything, they copy ``sizeof(parameter)`` bytes from whatever they
were given. So here a pointer parameter needs a C-contiguous NumPy array of the pointee's dtype
(writeable unless ``const``), a scalar parameter needs a NumPy scalar of exactly its C type (CuPy
turns a Python ``int`` into ``long long`` and a ``float`` into ``double``: handed to a ``float``
parameter, the kernel would read half of a double's bytes), a struct needs a size-1 structured
array of the struct's size. ``strict=False`` skips the dtype and layout checks and reinterprets
scalars' bytes the way CuPy does, to *show* those bugs (``tests/cuda/test_launcher.py``).

Launch configurations are checked as the driver does (at most 1024 threads per block, grid limits,
no empty grid), and so is undefined behaviour the emulator can see, such as a ``__syncthreads()``
that not every thread of a block reaches.

Builds are cached in ``$XDG_CACHE_HOME/tinyconv/cuda-emu`` (``~/.cache/...``), named by a hash of
the source, the header, the flags and the compiler, so each file is compiled once per change.
``sanitize="address"`` / ``"thread"`` builds with AddressSanitizer / ThreadSanitizer; such a
library only loads into a process started with the sanitizer's runtime preloaded
(``LD_PRELOAD=$(g++ -print-file-name=libasan.so)``), which is how ``tests/cuda/test_sanitizers.py``
runs them.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

__all__ = [
    "KERNEL_PATTERN",
    "EmulatedKernel",
    "EmulatedModule",
    "KernelError",
    "LaunchError",
    "build",
    "cache_dir",
    "kernel_names",
]

HEADER = Path(__file__).resolve().parent / "emulation.h"

#: The kernels a launcher can call: ``extern "C" __global__ void name(``.
KERNEL_PATTERN = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(')

#: Scalar codes of the signature strings ``emulation.h`` exports -> NumPy dtypes.
SCALAR_DTYPES = {"f": np.float32, "d": np.float64, "?": np.bool_, "i1": np.int8, "i2": np.int16,
                 "i4": np.int32, "i8": np.int64, "u1": np.uint8, "u2": np.uint16,
                 "u4": np.uint32, "u8": np.uint64}

SANITIZER_FLAGS = {
    None: ["-O2"],
    "address": ["-O1", "-fsanitize=address,undefined", "-fno-omit-frame-pointer"],
    "thread": ["-O1", "-fsanitize=thread", "-pthread"],
}

#: emulation.h's launch error codes.
LAUNCH_ERRORS = {
    1: "a grid or block dimension is 0",
    2: "a block dimension is too large (x, y <= 1024, z <= 64)",
    3: "more than 1024 threads per block",
    4: "a grid dimension is too large (x < 2**31, y, z <= 65535)",
    5: "more than 64 blocks: too many for the race checker (use a smaller problem)",
}
KERNEL_ERROR = 6


class LaunchError(RuntimeError):
    """A launch the GPU would refuse (``cudaErrorInvalidConfiguration``)."""


class KernelError(RuntimeError):
    """Undefined behaviour the emulator saw while running a kernel (e.g. a divergent barrier)."""


def kernel_names(source: str) -> list[str]:
    """The ``extern "C" __global__`` kernels defined in CUDA C ``source``."""
    return KERNEL_PATTERN.findall(source)


def cache_dir() -> Path:
    """Where compiled emulation libraries go: ``$XDG_CACHE_HOME/tinyconv/cuda-emu`` (by default
    ``~/.cache/tinyconv/cuda-emu``), or a folder in the temporary directory if that is not
    writable. Never the source tree."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = Path(base) / "tinyconv" / "cuda-emu"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK | os.X_OK):
            return folder
    except OSError:
        pass
    folder = Path(tempfile.gettempdir()) / f"tinyconv-cuda-emu-{os.getuid()}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@functools.lru_cache(maxsize=1)
def _compiler() -> tuple[str, str]:
    """The C++ compiler and its version line (part of the cache key)."""
    compiler = os.environ.get("CXX") or shutil.which("g++")
    if compiler is None:
        raise RuntimeError("the CUDA emulation compiles the .cu files with a C++17 compiler, and "
                           "none was found: install g++ (e.g. apt-get install g++) or set CXX")
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True,
                             check=True).stdout.splitlines()[0]
    return compiler, version


def build(source_path: str | Path, *, sanitize: str | None = None,
          defines: dict[str, str] | None = None) -> Path:
    """Compile one ``.cu`` file, after ``emulation.h``, into a shared library; return its path.

    The library is cached by a hash of everything that goes into it; a build writes to a
    temporary name first and then renames, so concurrent processes never load half a file.
    """
    if sanitize not in SANITIZER_FLAGS:
        raise ValueError(f"sanitize must be one of {sorted(map(str, SANITIZER_FLAGS))}, "
                         f"got {sanitize!r}")
    source_path = Path(source_path).resolve()
    source = source_path.read_text()
    kernels = kernel_names(source)
    if not kernels:
        raise ValueError(f'{source_path.name}: no extern "C" __global__ kernels found')
    compiler, version = _compiler()
    flags = ["-std=c++17", "-g", "-fPIC", "-shared", "-Wall", "-Wno-unknown-pragmas",
             *SANITIZER_FLAGS[sanitize]]
    if "__syncthreads" in source or sanitize == "thread":
        flags.append("-DEMU_FIBERS")  # threads of a block become fibers that can wait
    flags += [f"-D{name}={value}" for name, value in (defines or {}).items()]
    wrapper = (f'#include "{HEADER}"\n#include "{source_path}"\n'
               + "".join(f"EMU_EXPORT({name})\n" for name in kernels))
    key = hashlib.sha256("\0".join([source, HEADER.read_text(), wrapper, version, *flags])
                         .encode()).hexdigest()[:16]
    folder = cache_dir()
    library = folder / f"{source_path.stem}-{key}.so"
    if not library.exists():
        unique = f"{os.getpid()}-{os.urandom(4).hex()}"
        wrapper_path = folder / f"{source_path.stem}-{key}-{unique}.cpp"
        partial = folder / f"{source_path.stem}-{key}-{unique}.so.partial"
        wrapper_path.write_text(wrapper)
        try:
            result = subprocess.run([compiler, *flags, str(wrapper_path), "-o", str(partial)],
                                    capture_output=True, text=True)
            if result.returncode != 0:
                raise RuntimeError(f"compiling {source_path.name} for the CPU emulation failed:\n"
                                   f"{result.stderr}")
            os.replace(partial, library)
        finally:
            wrapper_path.unlink(missing_ok=True)
            partial.unlink(missing_ok=True)
    return library


class EmulatedModule:
    """The kernels of one ``.cu`` file, compiled for the CPU (the counterpart of
    ``cupy.RawModule``)."""

    def __init__(self, source_path: str | Path, *, sanitize: str | None = None,
                 defines: dict[str, str] | None = None, strict: bool = True):
        self.path = Path(source_path)
        self.names = kernel_names(self.path.read_text())
        self.library = ctypes.CDLL(str(build(self.path, sanitize=sanitize, defines=defines)))
        self.strict = strict
        self._kernels: dict[str, EmulatedKernel] = {}

    def get_function(self, name: str) -> EmulatedKernel:
        """The kernel ``name`` (as ``cupy.RawModule.get_function``)."""
        if name not in self.names:
            raise AttributeError(f"{self.path.name} has no kernel {name!r}; it has {self.names}")
        if name not in self._kernels:
            self._kernels[name] = EmulatedKernel(self, name)
        return self._kernels[name]


class EmulatedKernel:
    """One kernel; call it like ``cupy.RawKernel``: ``kernel(grid, block, args)``.

    ``last_launch`` is the ``(grid, block)`` of the latest launch, both as 3-tuples (for tests of
    the launchers' grid sizes).
    """

    def __init__(self, module: EmulatedModule, name: str):
        self.name = name
        self.strict = module.strict
        library = module.library
        self._launch = getattr(library, f"emu_launch_{name}")
        self._launch.restype = ctypes.c_int
        self._launch.argtypes = [ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.c_uint),
                                 ctypes.POINTER(ctypes.c_void_p)]
        self._last_error = getattr(library, f"emu_last_error_{name}")
        self._last_error.restype = ctypes.c_char_p
        signature = getattr(library, f"emu_signature_{name}")
        signature.restype = ctypes.c_char_p
        #: The C parameter types, e.g. ``["P:f:const", "P:f", "S64"]`` (see emulation.h).
        self.signature = signature().decode().split(",")
        self.last_launch: tuple[tuple[int, int, int], tuple[int, int, int]] | None = None

    def __call__(self, grid, block, args, *, shared_mem: int = 0, stream=None) -> None:
        grid, block = _dim3(grid, "grid"), _dim3(block, "block")
        if shared_mem:
            raise NotImplementedError("the CPU emulation has no dynamic shared memory "
                                      "(extern __shared__); use a fixed-size __shared__ array")
        if len(args) != len(self.signature):
            raise TypeError(f"{self.name} takes {len(self.signature)} arguments "
                            f"({', '.join(self.signature)}), got {len(args)}")
        values = [self._argument(i, code, a) for i, (code, a) in
                  enumerate(zip(self.signature, args, strict=True))]
        # params[i] points at argument i's value (for a pointer: at the pointer itself)
        addresses = [ctypes.addressof(v) if isinstance(v, ctypes.c_void_p) else v.ctypes.data
                     for v in values]
        params = (ctypes.c_void_p * len(values))(*addresses)
        self.last_launch = (grid, block)
        code = self._launch((ctypes.c_uint * 3)(*grid), (ctypes.c_uint * 3)(*block), params)
        if code == KERNEL_ERROR:
            raise KernelError(f"{self.name}: {self._last_error().decode()}")
        if code:
            raise LaunchError(f"{self.name}: invalid launch, grid {grid} block {block}: "
                              f"{LAUNCH_ERRORS.get(code, code)}")

    def _argument(self, i: int, code: str, value):
        """Argument ``i`` as something whose address ctypes can take, checked against ``code``."""
        where = f"{self.name}: argument {i} ({code})"
        if code.startswith("P:"):
            _, pointee, *const = code.split(":")
            if value is None:
                return ctypes.c_void_p(0)
            if not isinstance(value, np.ndarray):
                raise TypeError(f"{where} is a pointer: pass a NumPy array, got "
                                f"{type(value).__name__}")
            if self.strict:
                wanted = np.dtype(SCALAR_DTYPES[pointee]) if pointee in SCALAR_DTYPES else None
                if wanted is not None and value.dtype != wanted:
                    raise TypeError(f"{where} points to {wanted}, got a {value.dtype} array")
                if not value.flags.c_contiguous:
                    raise TypeError(f"{where}: the array is not C-contiguous (strides "
                                    f"{value.strides}); a kernel gets only the base pointer, so "
                                    f"it would read the wrong elements")
                if not const and not value.flags.writeable:
                    raise TypeError(f"{where}: the kernel may write here, but the array is "
                                    f"read-only")
            return ctypes.c_void_p(value.ctypes.data)
        # By value. CuPy converts Python scalars to int64 / float64 / bool first.
        if isinstance(value, bool):
            value = np.bool_(value)
        elif isinstance(value, int):
            value = np.int64(value)
        elif isinstance(value, float):
            value = np.float64(value)
        array = np.array(value).reshape(-1)
        if array.size != 1:
            raise TypeError(f"{where}: only size-1 arrays are passed by value, got shape "
                            f"{np.shape(value)}")
        if code.startswith("S"):
            size = int(code[1:])
            if array.dtype.names is None or array.dtype.itemsize != size:
                raise TypeError(f"{where}: a {size}-byte struct, got {array.dtype} "
                                f"({array.dtype.itemsize} bytes)")
            return np.ascontiguousarray(array).copy()
        wanted = np.dtype(SCALAR_DTYPES[code])
        if array.dtype != wanted:
            if self.strict:
                raise TypeError(f"{where}: the kernel reads a {wanted} ({wanted.itemsize} bytes), "
                                f"got {array.dtype} ({array.dtype.itemsize} bytes); CuPy would "
                                f"pass the bytes through unchanged (a Python int is int64, a "
                                f"float is float64), and the kernel would read garbage")
            # as CuPy does: the driver copies sizeof(parameter) bytes from the start of the value
            raw = np.zeros(max(wanted.itemsize, array.dtype.itemsize), np.uint8)
            raw[:array.dtype.itemsize] = array.view(np.uint8)
            array = raw[:wanted.itemsize].view(wanted)
        return np.ascontiguousarray(array).copy()


def _dim3(value, what: str) -> tuple[int, int, int]:
    """A grid or block size as CuPy takes it (an int or 1 to 3 ints) -> (x, y, z)."""
    dims = (value,) if isinstance(value, (int, np.integer)) else tuple(value)
    if (not 1 <= len(dims) <= 3 or not all(isinstance(d, (int, np.integer)) for d in dims)
            or min(dims) < 0 or max(dims) >= 2**32):
        raise TypeError(f"{what} must be an int or a tuple of 1 to 3 non-negative ints, got "
                        f"{value!r}")
    return tuple(int(d) for d in dims) + (1,) * (3 - len(dims))
