"""Process-wide settings of the CPU kernel set: every change it makes outside itself, in one place.

The CPU kernels are fast partly because of four settings that reach beyond tinyconv, into the
whole Python process. They are applied **once, when the CPU kernel set is first used** (the first
convolution, pooling or fused batch-norm call, ``set_num_threads`` or ``warmup``), not when the
module is imported, by :func:`apply_process_settings`:

1. **BLAS on one thread** (``threadpoolctl``). Numba's threads own the cores; a large GEMM is
   split by ``_runtime.gemm`` over those threads instead. Two thread pools spinning on two cores
   stole them from each other: a LeNet-5 step went from 5 ms to 36 ms. This also holds for
   NumPy matmuls elsewhere in the process (a ``Linear`` layer, your own code).
2. **glibc keeps freed memory** (``mallopt``; Linux with glibc only; see
   :func:`keep_freed_memory`). A training step frees and reallocates the same large arrays;
   without it each step's arrays land on fresh pages, a page fault per 4 KiB (a LeNet-5 step:
   ~1,300 faults, ~1.5x slower). Costs up to :data:`KEEP_FREED_BYTES` of resident memory.
3. **Numba's OpenMP threading layer, with a short spin**, unless ``NUMBA_THREADING_LAYER`` is
   set (TBB, then ``workqueue``, where OpenMP cannot load). A LeNet-5 training step makes about
   twenty thread hand-offs, each a kernel of tens of microseconds, so the cost of one hand-off
   decides whether the second core helps at all. Measured on this project's 2-core machines
   (``python benchmarks/handoff.py``: an almost empty kernel split in two, time above running it
   whole; "gap": 200 µs of other work before each call, like the NumPy work between kernels):

   =================================  ============  ==========  =================================
   way to reach the second thread     back-to-back  after gap   whole models at 2 threads
   =================================  ============  ==========  =================================
   OpenMP layer (``omp``), spin 10k   ~1.5 µs       ~30-45 µs   the fastest: kept
   TBB layer (pip ``tbb``)            ~1.2 µs       ~12-17 µs   small ResNet / MobileNet-style
                                                                steps ~1.5x slower than ``omp``
   ``workqueue`` layer                ~20-115 µs    ~25-155 µs  LeNet-5 6.4 ms vs 3.7 ms (omp)
   persistent Python threads          ~10-70 µs     ~10-80 µs   (what ``run_jobs`` does for
   running ``nogil`` kernels                                    kernels without a threaded twin)
   =================================  ============  ==========  =================================

   (ranges: several runs on a shared, noisy host; models timed with ``benchmarks/worker.py``'s
   functions, one process per layer.) TBB wakes a sleeping worker faster, but its idle workers
   keep spinning and take the cores from ``_runtime.gemm``'s Python threads, so whole steps were
   slower; it would also be one more dependency. Splitting the batch across threads at the
   level of layer groups was not pursued: the autograd graph, the optimizer and the NumPy glue
   between kernels run in Python under the GIL, so two such threads would mostly take turns.
   OpenMP's idle workers spin before they sleep; :data:`OPENMP_SPIN_COUNT` (``GOMP_SPINCOUNT``,
   unless you set it) keeps that spin short, because a spinning worker steals the core from the
   Python GEMM threads of ``_runtime.gemm`` (with libgomp's default spin a LeNet-5 step once went
   from 5 ms to 36 ms; a spin of 100,000 cost the small ResNet ~30 %). Takes effect only if no
   Numba parallel kernel has run yet in the process.
4. **Where Numba caches the compiled kernels** (:func:`configure_numba_cache`): the one setting
   that must happen at import, before the kernels are decorated, and only when the package's
   ``__pycache__`` is not writable (a system-wide install): then ``$XDG_CACHE_HOME/tinyconv/numba``
   (``~/.cache/tinyconv/numba``) via ``NUMBA_CACHE_DIR``. A ``NUMBA_CACHE_DIR`` you set wins.

**Switching them off.** Set ``TINYCONV_PROCESS_SETTINGS=0`` in the environment before the first
use: none of the four is applied (the kernels stay correct, only slower on a small machine).
``TINYCONV_KEEP_FREED_MEMORY=0`` leaves only ``malloc`` alone. :func:`applied_settings` says
what was applied in this process.
"""

from __future__ import annotations

import ctypes
import os
import sys
import tempfile

__all__ = [
    "KEEP_FREED_BYTES",
    "OPENMP_SPIN_COUNT",
    "applied_settings",
    "apply_process_settings",
    "cache_dir_for",
    "configure_numba_cache",
    "ensure_applied",
    "keep_freed_memory",
    "process_settings_enabled",
]

#: The environment variable that switches every process-wide setting off (value ``0``).
SWITCH = "TINYCONV_PROCESS_SETTINGS"

#: How long (in pause instructions) an idle OpenMP worker spins for new work before it sleeps:
#: a few tens of microseconds, the gap between two kernels of a step, not libgomp's default
#: 300,000 (milliseconds, stolen from the GEMM threads).
OPENMP_SPIN_COUNT = 10_000

#: Freed heap memory glibc may keep before giving it back to the OS (see :func:`keep_freed_memory`).
KEEP_FREED_BYTES = 256 * 2**20

# None until the settings were applied (or deliberately not) in this process.
_applied: dict[str, bool] | None = None


def process_settings_enabled(environ: os._Environ | dict = os.environ) -> bool:
    """False when the user switched the settings off (``TINYCONV_PROCESS_SETTINGS=0``)."""
    return environ.get(SWITCH, "1") != "0"


def limit_blas_threads() -> bool:
    """Put OpenBLAS (and any other BLAS NumPy loaded) on one thread. True if applied."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # a dependency; without it we only lose speed
        return False
    threadpool_limits(1, user_api="blas")
    return True


def keep_freed_memory() -> bool:
    """Ask glibc's ``malloc`` to keep freed memory for reuse instead of returning it to the OS.

    Blocks up to 32 MiB (glibc's maximum) then come from the heap instead of fresh ``mmap``
    pages, and the heap is trimmed only when more than :data:`KEEP_FREED_BYTES` at its top are
    free, so the next training step reuses pages that are already mapped
    (``benchmarks/memory.py`` checks that RSS does not grow). Only on Linux with glibc;
    ``TINYCONV_KEEP_FREED_MEMORY=0`` leaves ``malloc`` alone. Returns True if applied.
    """
    if os.environ.get("TINYCONV_KEEP_FREED_MEMORY", "1") == "0" or not sys.platform.startswith(
            "linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...)
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's <malloc.h>
    ok = mallopt(m_mmap_threshold, 32 * 2**20) == 1
    return (mallopt(m_trim_threshold, KEEP_FREED_BYTES) == 1) and ok


def use_openmp_threading_layer() -> bool:
    """Numba's OpenMP threading layer first (then TBB, then ``workqueue``), its idle workers
    spinning :data:`OPENMP_SPIN_COUNT` times before they sleep, unless the user chose a layer
    with ``NUMBA_THREADING_LAYER``. True if applied."""
    if os.environ.get("NUMBA_THREADING_LAYER"):
        return False
    import numba

    # libgomp reads its environment when Numba first loads it, at the first parallel region
    os.environ.setdefault("GOMP_SPINCOUNT", str(OPENMP_SPIN_COUNT))
    numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]
    numba.config.THREADING_LAYER = "default"
    return True


def apply_process_settings() -> dict[str, bool]:
    """Apply settings 1-3 of the module docstring now (unless switched off); returns what was
    applied, e.g. ``{"blas_one_thread": True, "keep_freed_memory": True,
    "openmp_threading_layer": True}``. The CPU kernel set calls :func:`ensure_applied`, which
    runs this once per process."""
    global _applied
    if not process_settings_enabled():
        _applied = {"blas_one_thread": False, "keep_freed_memory": False,
                    "openmp_threading_layer": False}
    else:
        _applied = {"blas_one_thread": limit_blas_threads(),
                    "keep_freed_memory": keep_freed_memory(),
                    "openmp_threading_layer": use_openmp_threading_layer()}
    return dict(_applied)


def ensure_applied() -> None:
    """:func:`apply_process_settings`, the first time only (every CPU kernel entry calls this)."""
    if _applied is None:
        apply_process_settings()


def applied_settings() -> dict[str, bool] | None:
    """What :func:`apply_process_settings` applied in this process, or None before first use."""
    return None if _applied is None else dict(_applied)


# ------------------------------------------------------------------------------------------------
# Setting 4: the Numba cache folder (at import: Numba reads it when a kernel is decorated)
# ------------------------------------------------------------------------------------------------


def cache_dir_for(package_dir: str, environ: os._Environ | dict = os.environ) -> str | None:
    """Where Numba should cache the kernels of ``package_dir``: ``None`` for Numba's default
    (``__pycache__`` beside the sources, which survives ``pip install -e .``), else a folder.

    The order: a ``NUMBA_CACHE_DIR`` the user set (``None``: Numba reads it itself); the
    default when ``__pycache__`` is writable (or can be created); otherwise, as for an install
    into a read-only site-packages, ``$XDG_CACHE_HOME/tinyconv/numba`` (``~/.cache/...``).
    """
    if environ.get("NUMBA_CACHE_DIR"):
        return None  # the user decided
    pycache = os.path.join(package_dir, "__pycache__")
    if _writable(pycache) or (not os.path.exists(pycache) and _writable(package_dir)):
        return None
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tinyconv", "numba")


def _writable(path: str) -> bool:
    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


def configure_numba_cache(package_dir: str) -> str | None:
    """Point Numba at :func:`cache_dir_for` ``package_dir`` (before any ``@njit(cache=True)`` of
    it runs); returns the folder chosen, or None when Numba's default serves (or the settings
    are switched off)."""
    if not process_settings_enabled():
        return None
    cache = cache_dir_for(package_dir)
    if cache is None:
        return None
    try:
        os.makedirs(cache, exist_ok=True)
    except OSError:  # no writable home either
        cache = os.path.join(tempfile.gettempdir(), "tinyconv-numba-cache")
        os.makedirs(cache, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = cache
    import numba.core.config

    numba.core.config.CACHE_DIR = cache  # in case numba was imported before us
    return cache
