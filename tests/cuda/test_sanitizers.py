"""The sanitizers over the CUDA kernels, and planted bugs that prove each one fires.

Comparing with the reference cannot see every bug: a grid-stride loop that runs one element too far
reads and writes past the arrays while every real output stays right, and a race is invisible when
the emulator runs threads one at a time. So the kernels also run, in child processes with the
sanitizer's runtime preloaded (``sanitizer_child.py``), under

- AddressSanitizer (+ UndefinedBehaviorSanitizer): every kernel of every plan, both dtypes, every
  option: silent; the planted off-by-one (``planted/conv2d_forward_off_by_one.cu``): reported,
  with its ``.cu`` line;
- ThreadSanitizer (CUDA threads as TSan fibers, blocks as OS threads): the kernels that share
  memory or accumulate (tiled convolution, max-pool backward): silent; a plain ``+=`` from one
  thread per output (``planted/max_pool2d_backward_racy.cu``) and a missing ``__syncthreads()``
  (``planted/conv2d_tiled_missing_barrier.cu``): reported as data races.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from . import sanitizer_child
from .conftest import HAVE_CXX

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not HAVE_CXX, reason="the CUDA emulation needs g++")]

CHILD = Path(sanitizer_child.__file__)


def _runtime_library(sanitizer: str) -> str:
    name = {"address": "libasan.so", "thread": "libtsan.so"}[sanitizer]
    path = subprocess.run(["g++", f"-print-file-name={name}"], capture_output=True,
                          text=True).stdout.strip()
    if not os.path.isabs(path):  # g++ prints the bare name when it has no such library
        pytest.skip(f"g++ has no {name} here (install its sanitizer runtime, e.g. libasan8 / "
                    f"libtsan2)")
    return path


def run_child(sanitizer: str, case: str) -> subprocess.CompletedProcess:
    """``sanitizer_child.py sanitizer case`` in a fresh Python with the sanitizer preloaded."""
    env = dict(os.environ, LD_PRELOAD=_runtime_library(sanitizer),
               ASAN_OPTIONS="detect_leaks=0:halt_on_error=1",
               TSAN_OPTIONS="halt_on_error=1:report_signal_unsafe=0")
    result = subprocess.run([sys.executable, str(CHILD), sanitizer, case], env=env,
                            capture_output=True, text=True, timeout=600)
    if "ThreadSanitizer: unexpected memory mapping" in result.stderr:
        pytest.skip("ThreadSanitizer cannot start on this kernel's memory layout (try "
                    "sysctl vm.mmap_rnd_bits=28)")
    return result


def assert_silent(result: subprocess.CompletedProcess, case: str) -> None:
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{case}: ok" in result.stdout
    assert "ERROR: AddressSanitizer" not in result.stderr
    assert "WARNING: ThreadSanitizer" not in result.stderr


def assert_reported(result: subprocess.CompletedProcess, report: str, source: str) -> None:
    assert result.returncode != 0, f"the sanitizer reported nothing:\n{result.stdout}"
    assert report in result.stderr, result.stderr[-3000:]
    assert f"planted/{source}:" in result.stderr  # the report names the .cu line


def test_address_sanitizer_is_silent_on_every_kernel():
    assert_silent(run_child("address", "clean"), "clean")


def test_address_sanitizer_catches_an_off_by_one_grid_stride_bound():
    assert_reported(run_child("address", "off_by_one"),
                    "ERROR: AddressSanitizer: heap-buffer-overflow",
                    "conv2d_forward_off_by_one.cu")


def test_thread_sanitizer_is_silent_on_shared_memory_and_accumulation():
    assert_silent(run_child("thread", "clean_shared"), "clean_shared")


def test_thread_sanitizer_catches_a_racy_accumulation():
    # one thread at a time, the racy kernel is right: only the race checker can tell
    assert sanitizer_child.racy_pool_backward(None) == 0.0
    assert_reported(run_child("thread", "racy_pool_backward"),
                    "WARNING: ThreadSanitizer: data race", "max_pool2d_backward_racy.cu")


def test_thread_sanitizer_catches_a_missing_barrier():
    assert sanitizer_child.missing_barrier(None) > 1.0  # wrong numbers, but no report
    assert_reported(run_child("thread", "missing_barrier"),
                    "WARNING: ThreadSanitizer: data race", "conv2d_tiled_missing_barrier.cu")
