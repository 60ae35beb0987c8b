"""Shared fixtures of the CUDA tests: the emulated kernel set and skip conditions.

The emulation needs a C++17 compiler (g++); where there is none, the tests that run kernels skip
with that reason. The compile tests need nvcc or NVRTC (skipped likewise), the ``gpu``-marked ones
a CUDA GPU.
"""

from __future__ import annotations

import shutil

import pytest

from tinyconv.backend import cuda_available

HAVE_CXX = shutil.which("g++") is not None
needs_cxx = pytest.mark.skipif(not HAVE_CXX, reason="the CUDA emulation needs g++ (a C++17 "
                               "compiler); install it (apt-get install g++) to run these tests")
needs_gpu = pytest.mark.skipif(not cuda_available(), reason="needs a CUDA GPU: CuPy is not "
                               "installed or cupy.is_available() is False")


@pytest.fixture(scope="session")
def emulated():
    """The ``"cuda-emu"`` kernel set (compiles the .cu files on first use, cached afterwards)."""
    if not HAVE_CXX:
        pytest.skip("the CUDA emulation needs g++ (a C++17 compiler)")
    from tinyconv.kernels.cuda import emulated as kernel_set

    return kernel_set
