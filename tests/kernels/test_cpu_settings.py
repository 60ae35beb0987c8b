"""The CPU kernel set's process-wide settings (``tinyconv.kernels.cpu.settings``): applied at the
first use of the set, not at import, and switched off by ``TINYCONV_PROCESS_SETTINGS=0``.

Each case runs in a fresh Python process (the settings are once per process) and reports what
the process really looks like afterwards: BLAS's thread count (``threadpoolctl``), whether a
24 MiB array is served by ``mmap`` (glibc's ``mallinfo2``) and Numba's threading layer.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys

import pytest

from tinyconv.kernels.cpu import settings

PROBE = r"""
import ctypes, json, os
import numpy as np
from threadpoolctl import threadpool_info

def blas_threads():  # of the BLAS NumPy's matmul calls (Numba may load SciPy's later)
    return sorted({i["num_threads"] for i in threadpool_info()
                   if i["user_api"] == "blas" and "numpy" in i["filepath"]})

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks",
                "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2

from tinyconv.kernels import cpu
from tinyconv.kernels.cpu import settings
import numba

report = {"at_import": settings.applied_settings(), "blas_threads_at_import": blas_threads()}
x = np.ones((1, 1, 4, 4), np.float32)
cpu.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), False)  # the first use
before = libc.mallinfo2().hblks
# 24 MiB: below the 32 MiB the setting moves glibc's mmap threshold to, far above its default
# (128 KiB, raised by glibc itself only up to the size of a freed mmapped block)
big = np.ones(3 * 2**20)
report.update(applied=settings.applied_settings(), blas_threads=blas_threads(),
              mmapped_blocks=libc.mallinfo2().hblks - before,
              threading_layer_priority=numba.config.THREADING_LAYER_PRIORITY,
              gomp_spincount=os.environ.get("GOMP_SPINCOUNT"))
# a call big enough for a parallel region: Numba loads its threading layer now
cpu.set_num_threads(2)
cpu.max_pool2d_forward(np.ones((8, 16, 64, 64), np.float32), (2, 2), (2, 2), (0, 0, 0, 0),
                       (1, 1), False)
report.update(threading_layer=numba.threading_layer())
print(json.dumps(report))
"""

SWITCHES = ("TINYCONV_PROCESS_SETTINGS", "TINYCONV_KEEP_FREED_MEMORY", "NUMBA_THREADING_LAYER",
            "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "GOMP_SPINCOUNT",
            "NUMBA_NUM_THREADS")

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not hasattr(ctypes.CDLL(None), "mallinfo2"),
    reason="the malloc setting is glibc's (Linux, glibc >= 2.33 for mallinfo2)")


#: The three processes: the default, everything off, and only malloc left alone.
ENVIRONMENTS = {"default": {}, "off": {"TINYCONV_PROCESS_SETTINGS": "0"},
                "malloc_off": {"TINYCONV_KEEP_FREED_MEMORY": "0"}}


@pytest.fixture(scope="module")
def reports() -> dict[str, dict]:
    """What each process of :data:`ENVIRONMENTS` reported; the three run at once."""
    running = {}
    for name, environment in ENVIRONMENTS.items():
        env = {k: v for k, v in os.environ.items() if k not in SWITCHES}
        env.update(environment)
        running[name] = subprocess.Popen([sys.executable, "-c", PROBE], env=env, text=True,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = {}
    for name, process in running.items():
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
        out[name] = json.loads(stdout.strip().splitlines()[-1])
    return out


@pytest.fixture(scope="module")
def default_blas_threads(reports: dict[str, dict]) -> int:
    """BLAS's own thread count here: with one core there is nothing to limit."""
    threads = reports["off"]["blas_threads"]
    if not threads:
        pytest.skip("NumPy's BLAS is not a library threadpoolctl finds in numpy's folder")
    if max(threads) < 2:
        pytest.skip("BLAS runs one thread on this machine anyway")
    return max(threads)


def test_settings_apply_at_first_use_not_at_import(reports, default_blas_threads):
    report = reports["default"]
    assert report["at_import"] is None
    assert report["blas_threads_at_import"] == [default_blas_threads]
    assert report["applied"] == {"blas_one_thread": True, "keep_freed_memory": True,
                                 "openmp_threading_layer": True}
    assert report["blas_threads"] == [1]
    assert report["mmapped_blocks"] == 0  # the 24 MiB block came from the heap
    assert report["threading_layer_priority"][0] == "omp"
    assert report["gomp_spincount"] == str(settings.OPENMP_SPIN_COUNT)
    assert report["threading_layer"] == "omp"  # libgomp is on every Linux this project targets


def test_settings_can_be_switched_off(reports, default_blas_threads):
    report = reports["off"]
    assert report["applied"] == {"blas_one_thread": False, "keep_freed_memory": False,
                                 "openmp_threading_layer": False}
    assert report["blas_threads"] == [default_blas_threads]
    assert report["mmapped_blocks"] == 1  # glibc's default: a large block is its own mmap
    assert report["threading_layer_priority"][0] == "tbb"  # Numba's own order
    assert report["gomp_spincount"] is None


def test_malloc_alone_can_be_left_alone(reports, default_blas_threads):
    report = reports["malloc_off"]
    assert report["applied"]["keep_freed_memory"] is False
    assert report["mmapped_blocks"] == 1
    assert report["blas_threads"] == [1]
