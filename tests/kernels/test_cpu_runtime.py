"""The CPU kernels' run-time plumbing (``tinyconv.kernels.cpu._runtime``): splitting work over
threads and the split GEMM. (The process-wide settings: ``test_cpu_settings.py``.)"""

from __future__ import annotations

import threading

import numba
import numpy as np
import pytest
from numba import njit, prange

from tinyconv.kernels import cpu
from tinyconv.kernels.cpu import _runtime, im2col, layout, pool, unrolled


@pytest.fixture
def two_threads_always_split(monkeypatch):
    previous = cpu.get_num_threads()
    cpu.set_num_threads(2)
    monkeypatch.setattr(_runtime, "PARALLEL_MIN_FLOPS", 0)
    monkeypatch.setattr(_runtime, "THREADED_MIN_FLOPS", 0)
    monkeypatch.setattr(_runtime, "GEMM_SPLIT_MIN_FLOPS", 0)
    monkeypatch.setattr(_runtime, "TWIN_FROM_CALL", 1)
    yield
    cpu.set_num_threads(previous)


def _record_block(seen, job_lo, job_hi):
    seen.append((job_lo, job_hi, threading.get_ident()))
    return job_lo


def test_run_jobs_covers_every_job_once_and_returns_blocks_in_job_order(two_threads_always_split):
    seen: list = []
    results = _runtime.run_jobs(_record_block, 7, 1e9, seen)
    assert results == [0, 3]  # what each block returned, first block first
    assert sorted((lo, hi) for lo, hi, _ in seen) == [(0, 3), (3, 7)]
    assert len({ident for _, _, ident in seen}) == 2  # two threads really took part


def test_small_calls_run_whole_on_the_calling_thread(monkeypatch):
    seen: list = []
    monkeypatch.setattr(_runtime, "PARALLEL_MIN_FLOPS", 1e6)
    assert _runtime.run_jobs(_record_block, 5, 10.0, seen) == [0]
    assert seen == [(0, 5, threading.get_ident())]


@njit(nogil=True)
def _count_jobs(counts, job_lo, job_hi):
    for job in range(job_lo, job_hi):
        counts[job] += 1


@njit(parallel=True, nogil=True)
def _count_jobs_threaded(bounds, *args):
    for t in prange(bounds.size - 1):
        _count_jobs(*args, bounds[t], bounds[t + 1])


def test_a_threaded_twin_runs_every_job_once(two_threads_always_split, monkeypatch):
    monkeypatch.setitem(_runtime._THREADED, _count_jobs, _count_jobs_threaded)
    counts = np.zeros(7, np.int64)
    assert _runtime.run_jobs(_count_jobs, 7, 1e9, counts) == [None]
    assert counts.tolist() == [1] * 7
    assert _count_jobs_threaded.signatures  # the twin ran, not the serial kernel alone


def test_the_first_split_calls_go_to_the_python_pool(two_threads_always_split, monkeypatch):
    """No twin is compiled for a kernel split fewer than TWIN_FROM_CALL times (a cold cache
    would pay up to a second for it): those calls run on the pool's Python threads."""
    monkeypatch.setitem(_runtime._THREADED, _count_jobs, _count_jobs_threaded)
    monkeypatch.setitem(_runtime._split_calls, _count_jobs, 0)
    monkeypatch.setattr(_runtime, "TWIN_FROM_CALL", 3)
    counts = np.zeros(6, np.int64)
    assert _runtime.run_jobs(_count_jobs, 6, 1e9, counts) == [None, None]  # two pool blocks
    assert _runtime.run_jobs(_count_jobs, 6, 1e9, counts) == [None, None]
    assert _runtime.run_jobs(_count_jobs, 6, 1e9, counts) == [None]  # the twin, at last
    assert counts.tolist() == [3] * 6


def test_small_calls_skip_the_twin(monkeypatch):
    monkeypatch.setitem(_runtime._THREADED, _count_jobs, _count_jobs_threaded)
    monkeypatch.setattr(_runtime, "THREADED_MIN_FLOPS", 1e6)
    counts = np.zeros(5, np.int64)
    assert _runtime.run_jobs(_count_jobs, 5, 10.0, counts) == [None]  # the kernel's own return
    assert counts.tolist() == [1] * 5


def test_every_numba_kernel_split_by_run_jobs_has_a_threaded_twin():
    """A Numba kernel without a twin would be split on the Python pool (~90 µs a hand-off)."""
    kernels = [getattr(module, name) for module in (im2col, layout, pool, unrolled)
               for name in dir(module)]
    serial = [k for k in kernels if isinstance(k, numba.core.registry.CPUDispatcher)
              and not k.py_func.__name__.endswith("_threaded")
              and "job_hi" in k.py_func.__code__.co_varnames]
    assert len(serial) == 13  # 6 generated, 4 pooling, 2 im2col, 1 padding
    assert all(k in _runtime._THREADED for k in serial), [
        k.py_func.__name__ for k in serial if k not in _runtime._THREADED]


@pytest.mark.parametrize("m, n", [(64, 300), (300, 64), (3, 3), (1, 1)])
@pytest.mark.parametrize("accumulate", [False, True])
def test_split_gemm_is_the_matrix_product(two_threads_always_split, m, n, accumulate):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((m, 17)), rng.standard_normal((17, n))
    out = rng.standard_normal((m, n))
    expected = out + a @ b if accumulate else a @ b
    _runtime.gemm(a, b, out, accumulate=accumulate)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
