"""Run-time plumbing shared by the fast CPU paths: thread pools, GEMM, workspace buffers.

**Two thread pools, two cores.** Numba's kernels run on an OpenMP pool; NumPy's matmul runs on
OpenBLAS's own pool. After a parallel region, the workers of *both* pools keep spinning for a
while, waiting for more work; on a 2-core machine each pool then steals the cores the other one
needs (a LeNet-5 step went from 5 ms to 36 ms that way). So tinyconv lets Numba own the cores:
OpenBLAS runs on one thread (``threadpoolctl``), and a large GEMM is split by rows into as many
blocks as Numba has threads, each block multiplied by single-threaded BLAS on its own Python
thread (NumPy releases the GIL inside matmul). Only one kind of worker is ever busy at a time.

**Workspace.** Freshly allocated memory costs a page fault per 4 KiB on first touch, and glibc
hands large blocks back to the OS on ``free``, so a temporary allocated per call faults again on
every call. Temporaries (column matrices, padded inputs, transposed gradients) therefore come from
a :class:`Workspace` that keeps one growing buffer per name. Outputs are never taken from it: the
contract says outputs are fresh arrays.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

# ------------------------------------------------------------------------------------------------
# Threads
# ------------------------------------------------------------------------------------------------

_state = {"threads": numba.config.NUMBA_NUM_THREADS, "pool": None, "blas_limited": False}
_lock = threading.Lock()

#: A GEMM below this many FLOPs runs on the calling thread: splitting it would cost more (thread
#: hand-off is ~20-50 µs) than it saves.
GEMM_SPLIT_MIN_FLOPS = 4e6


def _limit_blas() -> None:
    """Put OpenBLAS (and any other BLAS NumPy loaded) on one thread, once per process."""
    if _state["blas_limited"]:
        return
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(1, user_api="blas")
    except ImportError:  # threadpoolctl is a dependency; without it we only lose speed
        pass
    _state["blas_limited"] = True


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for tinyconv's CPU kernels (at most Numba's ``NUMBA_NUM_THREADS``).

    Numba kernels run on ``n`` OpenMP threads; large GEMMs are split into ``n`` blocks.
    """
    n = max(1, min(int(n), numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(n)
    with _lock:
        _state["threads"] = n
        if _state["pool"] is not None:
            _state["pool"].shutdown(wait=True)
            _state["pool"] = None


def get_num_threads() -> int:
    return _state["threads"]


def _pool() -> ThreadPoolExecutor:
    with _lock:
        if _state["pool"] is None:
            _state["pool"] = ThreadPoolExecutor(max_workers=_state["threads"],
                                                thread_name_prefix="tinyconv-gemm")
        return _state["pool"]


def gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray, accumulate: bool = False) -> np.ndarray:
    """``out = a @ b`` (or ``out += a @ b``) with ``a: (M, K)``, ``b: (K, N)``, ``out: (M, N)``.

    BLAS runs single-threaded; when the product is large, rows of ``out`` are split into one
    block per thread and the blocks are multiplied concurrently (see the module docstring).
    """
    _limit_blas()
    m, k = a.shape
    n = b.shape[1]
    threads = _state["threads"]
    if threads == 1 or 2.0 * m * n * k < GEMM_SPLIT_MIN_FLOPS or m < 2 * threads:
        _gemm_block(a, b, out, accumulate)
        return out
    step = math.ceil(m / threads)
    blocks = [(lo, min(m, lo + step)) for lo in range(0, m, step)]
    futures = [_pool().submit(_gemm_block, a[lo:hi], b, out[lo:hi], accumulate)
               for lo, hi in blocks[1:]]
    _gemm_block(a[blocks[0][0]:blocks[0][1]], b, out[blocks[0][0]:blocks[0][1]], accumulate)
    for f in futures:
        f.result()
    return out


def _gemm_block(a, b, out, accumulate):
    if accumulate:
        out += a @ b
    else:
        np.matmul(a, b, out=out)


# ------------------------------------------------------------------------------------------------
# Workspace
# ------------------------------------------------------------------------------------------------


class Workspace(threading.local):
    """Named scratch buffers that grow to the largest size asked for and are then reused.

    ``get(name, shape, dtype)`` returns a C-contiguous view of shape ``shape`` into the buffer
    ``(name, dtype)``; its contents are garbage (whatever the last call left). One workspace per
    thread (``threading.local``), so two threads running kernels never share a buffer. A caller
    must not hold a view across another call asking for the same name.
    """

    def __init__(self):
        self.buffers: dict = {}
        self.allocations = 0  # how many times a buffer had to be (re)allocated: tests check it

    def get(self, name: str, shape: tuple, dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        size = math.prod(shape)
        key = (name, dtype)
        buffer = self.buffers.get(key)
        if buffer is None or buffer.size < size:
            buffer = np.empty(max(size, 1), dtype=dtype)
            self.buffers[key] = buffer
            self.allocations += 1
        return buffer[:size].reshape(shape)

    def nbytes(self) -> int:
        return sum(b.nbytes for b in self.buffers.values())

    def clear(self) -> None:
        self.buffers.clear()


workspace = Workspace()
