"""Run-time plumbing shared by the fast CPU paths: thread pools, GEMM, workspace buffers.

**Two thread pools, two cores.** Numba's kernels run on their own thread pool; NumPy's matmul
runs on OpenBLAS's. After a parallel region, the workers of *both* pools keep spinning for a
while, waiting for more work; on a 2-core machine each pool then steals the cores the other one
needs (a LeNet-5 step went from 5 ms to 36 ms that way). So tinyconv lets Numba own the cores:
OpenBLAS runs on one thread (a process-wide setting, see ``settings.py``), and a large GEMM is
split into as many blocks as Numba has threads, each block multiplied by single-threaded BLAS
on its own Python thread (NumPy releases the GIL inside matmul). Only one kind of worker is ever
busy at a time.

**Two ways to hand work to a thread.** :func:`run_jobs` splits a kernel's jobs into one block
per thread. A *Numba* kernel with a registered threaded twin (:func:`threaded_version_of`) runs
its blocks in one OpenMP parallel region: waking the other thread costs ~2 µs. Anything else
(a Python function that calls BLAS between kernels) runs its blocks on this module's Python
thread pool: ~90 µs per hand-off on these machines (a thread asleep on a futex has to be woken),
more than a whole small layer takes. A LeNet-5 step makes about twenty such calls, which is why
the twins exist (measured: ``python benchmarks/run.py``, the 2-thread LeNet-5 rows).

**Workspace.** Freshly allocated memory costs a page fault per 4 KiB on first touch, and glibc
hands large blocks back to the OS on ``free``, so a temporary allocated per call faults again on
every call. Temporaries (column matrices, padded inputs, transposed gradients) therefore come from
a :class:`Workspace` that keeps one growing buffer per name. Outputs are never taken from it: the
contract says outputs are fresh arrays.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from . import settings

__all__ = ["Workspace", "gemm", "gemm_block", "get_num_threads", "run_jobs", "set_num_threads",
           "threaded_version_of", "workspace"]

# ------------------------------------------------------------------------------------------------
# Threads
# ------------------------------------------------------------------------------------------------

_state = {"threads": numba.config.NUMBA_NUM_THREADS, "pool": None}
_lock = threading.Lock()

#: A GEMM below this many FLOPs runs on the calling thread: splitting it would cost more (thread
#: hand-off is ~20-50 µs) than it saves.
GEMM_SPLIT_MIN_FLOPS = 4e6


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for tinyconv's CPU kernels (at most Numba's ``NUMBA_NUM_THREADS``).

    Numba kernels run on ``n`` OpenMP threads; large GEMMs are split into ``n`` blocks.
    """
    n = max(1, min(int(n), numba.config.NUMBA_NUM_THREADS))
    settings.ensure_applied()  # the threading layer is chosen when Numba's threads start
    numba.set_num_threads(n)
    with _lock:
        _state["threads"] = n
        if _state["pool"] is not None:
            _state["pool"].shutdown(wait=True)
            _state["pool"] = None


def get_num_threads() -> int:
    """The threads tinyconv's CPU kernels use (:func:`set_num_threads`)."""
    return _state["threads"]


def _pool() -> ThreadPoolExecutor:
    with _lock:
        if _state["pool"] is None:
            _state["pool"] = ThreadPoolExecutor(max_workers=_state["threads"],
                                                thread_name_prefix="tinyconv-gemm")
        return _state["pool"]


def gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray, accumulate: bool = False) -> np.ndarray:
    """``out = a @ b`` (or ``out += a @ b``) with ``a: (M, K)``, ``b: (K, N)``, ``out: (M, N)``.

    BLAS runs single-threaded; when the product is large, ``out`` is split into one block per
    thread along its longer side and the blocks are multiplied concurrently (see the module
    docstring). Why the longer side: a convolution's GEMMs are thin (``M = C_out`` = 64 against
    ``N`` = thousands of positions), and halving the short side halves the block BLAS's register
    kernel works on. 64×256×6272: 52 GFLOP/s split by rows, 65 by columns (2 threads).
    """
    m, k = a.shape
    n = b.shape[1]
    threads = _state["threads"]
    if threads == 1 or 2.0 * m * n * k < GEMM_SPLIT_MIN_FLOPS or max(m, n) < 2 * threads:
        gemm_block(a, b, out, accumulate)
        return out
    by_rows = m >= n
    size = m if by_rows else n
    step = math.ceil(size / threads)
    blocks = []
    for lo in range(0, size, step):
        hi = min(size, lo + step)
        if by_rows:
            blocks.append((a[lo:hi], b, out[lo:hi]))
        else:
            blocks.append((a, b[:, lo:hi], out[:, lo:hi]))
    futures = [_pool().submit(gemm_block, *block, accumulate) for block in blocks[1:]]
    gemm_block(*blocks[0], accumulate)
    for f in futures:
        f.result()
    return out


#: A job-split call doing less than this many FLOPs runs on the calling thread: handing work to a
#: Python pool thread costs ~90 µs (far more on a loaded host), which a small call (a gradcheck,
#: a test, a tiny batch) would not win back.
PARALLEL_MIN_FLOPS = 2e6

#: The same for a Numba kernel with a threaded twin (an OpenMP region, ~2 µs to start): about
#: 10 µs of work. LeNet-5's 2×2 max pooling (300 k window reads, 0.13 ms on one thread) is split.
THREADED_MIN_FLOPS = 1e5

#: A kernel's threaded twin runs its split calls from this call on (counted per kernel, per
#: process); the calls before go to the Python pool, as kernels without a twin do. On a cold
#: Numba cache a twin costs 0.2-1.1 s to compile, so a kernel split only once or twice (a test,
#: a one-off forward pass, the first training step) should not pay for one: LeNet-5's first
#: training step compiles no twin, and the twins are compiled during the third.
TWIN_FROM_CALL = 3

# serial kernel -> its threaded twin (see threaded_version_of); serial kernel -> split calls
_THREADED: dict = {}
_split_calls: dict = {}


def threaded_version_of(serial_kernel: Callable) -> Callable[[Callable], Callable]:
    """Register the decorated function as the threaded twin of ``serial_kernel``.

    The twin is ``twin(bounds, *args)``: an ``@njit(parallel=True)`` loop ``for t in
    prange(bounds.size - 1)`` that calls ``serial_kernel(*args, bounds[t], bounds[t + 1])``, one
    block of jobs per thread. Why a twin per kernel rather than one generic function: Numba
    cannot cache a compiled function that takes another compiled function as an argument, and
    recompiling it in every process would cost half a second per kernel.

    The price is paid once per machine, on a cold Numba cache: a twin compiles in 0.2-1.1 s on
    top of its kernel, the most for the big generated 5×5 kernels (Numba optimises the kernel's
    code again inside the parallel region). Compiled at once, the twins made LeNet-5's first
    training step at 2 threads take 10.3-10.7 s cold, against 5.4 s at 1 thread, where no twin
    is compiled; hence :data:`TWIN_FROM_CALL` (``python benchmarks/jit_startup.py``).
    """
    def register(twin: Callable) -> Callable:
        _THREADED[serial_kernel] = twin
        return twin
    return register


def run_jobs(kernel: Callable, jobs: int, flops: float, *args: object) -> list:
    """Run the serial ``kernel(*args, job_lo, job_hi)`` over the jobs ``[0, jobs)``; returns the
    list of what each block returned, in job order (``[None]`` for a threaded twin's run).

    Big calls split the jobs into one contiguous block per thread: a Numba kernel with a threaded
    twin runs them in one OpenMP region (from its :data:`TWIN_FROM_CALL`-th split call); any
    other ``kernel`` (a Python function that calls ``nogil`` kernels and BLAS: ``im2col.py``
    runs a sample range that way) runs them on the pool's Python threads, and must then not call
    ``run_jobs`` or a splitting :func:`gemm` itself: the pool's threads would wait on work
    queued behind them. Small calls run here, whole. Jobs write disjoint outputs, so the blocks
    need no synchronisation.
    """
    threads = min(_state["threads"], jobs)
    twin = _THREADED.get(kernel)
    if threads <= 1 or flops < (PARALLEL_MIN_FLOPS if twin is None else THREADED_MIN_FLOPS):
        return [kernel(*args, 0, jobs)]
    bounds = [jobs * t // threads for t in range(threads + 1)]
    if twin is not None:
        _split_calls[kernel] = calls = _split_calls.get(kernel, 0) + 1
        if calls < TWIN_FROM_CALL:  # not worth compiling the twin yet: the Python pool
            twin = None
    if twin is not None:
        twin(np.array(bounds, dtype=np.int64), *args)
        return [None]
    futures = [_pool().submit(kernel, *args, bounds[t], bounds[t + 1]) for t in range(1, threads)]
    first = kernel(*args, bounds[0], bounds[1])
    return [first] + [f.result() for f in futures]


def gemm_block(a: np.ndarray, b: np.ndarray, out: np.ndarray, accumulate: bool = False) -> None:
    """``out (+)= a @ b`` with one call to (single-threaded) BLAS, on the calling thread."""
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

    def __init__(self) -> None:
        self.buffers: dict = {}
        self.allocations = 0  # how many times a buffer had to be (re)allocated: tests check it

    def get(self, name: str, shape: tuple, dtype: np.dtype | type) -> np.ndarray:
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
        """Bytes held by this thread's buffers."""
        return sum(b.nbytes for b in self.buffers.values())

    def clear(self) -> None:
        """Drop this thread's buffers (the next calls allocate them again)."""
        self.buffers.clear()


workspace = Workspace()
