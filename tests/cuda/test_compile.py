"""Every .cu file compiles for real GPUs, on a machine without one.

Two compilers: nvcc (the CUDA toolkit's, ``-cubin`` for sm_75, sm_80 and sm_90, every warning an
error) and NVRTC (the run-time compiler ``cupy.RawModule`` uses on a GPU; called directly through
``cupy.cuda.nvrtc``, since CuPy's own wrapper asks the absent GPU for its architecture). Kernels
include no headers, so both accept them. Each test skips with its reason where its compiler is
missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tinyconv.kernels.cuda.emulator import kernel_names
from tinyconv.kernels.cuda.runtime import SOURCES

ARCHS = ("sm_75", "sm_80", "sm_90")
SOURCE_IDS = [path.name for path in SOURCES]


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc (the CUDA toolkit) is not on PATH")
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("source", SOURCES, ids=SOURCE_IDS)
def test_nvcc_compiles_without_warnings(source, arch):
    result = subprocess.run(["nvcc", "-cubin", f"-arch={arch}", "-Werror", "all-warnings",
                             "-o", os.devnull, str(source)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def nvrtc():
    try:
        from cupy.cuda import nvrtc
        nvrtc.getVersion()
    except Exception as error:  # noqa: BLE001 -- CuPy or the NVRTC library missing
        pytest.skip(f"NVRTC is not usable here ({type(error).__name__}: {error}); "
                    f"pip install cupy-cuda13x nvidia-cuda-nvrtc==13.0.*")
    return nvrtc


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("source", SOURCES, ids=SOURCE_IDS)
def test_nvrtc_compiles_every_kernel(nvrtc, source, arch):
    text = source.read_text()
    program = nvrtc.createProgram(text, source.name, [], [])
    names = kernel_names(text)
    for name in names:
        nvrtc.addNameExpression(program, name)
    try:
        nvrtc.compileProgram(program, [f"-arch={arch}", "-std=c++17"])
    except nvrtc.NVRTCError:
        pytest.fail(f"NVRTC rejected {source.name}:\n{nvrtc.getProgramLog(program)}")
    assert len(nvrtc.getCUBIN(program)) > 0
    for name in names:  # extern "C": the names the launchers look up are not mangled
        assert nvrtc.getLoweredName(program, name) == name


def test_every_kernel_has_a_float32_and_a_float64_entry_point():
    for source in SOURCES:
        names = set(kernel_names(source.read_text()))
        stems = {name.rsplit("_", 1)[0] for name in names}
        assert names == {f"{stem}_{suffix}" for stem in stems for suffix in ("f32", "f64")}, \
            source.name
