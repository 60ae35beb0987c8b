"""The CPU kernel set: Numba kernels for the seven contract functions, float32 and float64.

Convolutions go through ``dispatch.py``, which picks per call between direct kernels
(``direct.py``, and the tap-unrolled ``unrolled.py`` for stride-1 3×3 and 5×5 kernels) and
im2col + BLAS GEMM (``im2col.py``) by a documented heuristic; ``conv.py``
holds the plain loops that mirror ``reference.py`` line by line. Pooling is in ``pool.py``.
Every function validates its arguments with ``tinyconv.kernels.contract`` and is tested against
``tinyconv.kernels.reference``.

Compilation and its cache
-------------------------
Kernels are compiled by Numba on first use, only for the dtypes and array layouts actually seen,
and cached on disk (``cache=True``), so a later process loads them in milliseconds. The cache
lives in ``__pycache__`` next to these files (it survives ``pip install -e .``); when that folder
is read-only (a system-wide install) it goes to ``$XDG_CACHE_HOME/tinyconv/numba``
(``~/.cache/tinyconv/numba``). A ``NUMBA_CACHE_DIR`` set by the user always wins. The first time a
kernel really has to be compiled, one line on stderr says so; ``warmup()`` compiles ahead of time.
"""

from __future__ import annotations

import os
import sys
import tempfile


def cache_dir_for(package_dir: str, environ=os.environ):
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


def _configure_cache() -> None:
    """Point Numba at :func:`cache_dir_for` this package (before any ``@njit(cache=True)``
    runs)."""
    cache = cache_dir_for(os.path.dirname(os.path.abspath(__file__)))
    if cache is None:
        return
    try:
        os.makedirs(cache, exist_ok=True)
    except OSError:  # no writable home either
        cache = os.path.join(tempfile.gettempdir(), "tinyconv-numba-cache")
        os.makedirs(cache, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = cache
    import numba.core.config
    numba.core.config.CACHE_DIR = cache  # in case numba was imported before us


def _writable(path: str) -> bool:
    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


_configure_cache()


def _configure_threading_layer() -> None:
    """Use Numba's ``workqueue`` threading layer unless the user chose one.

    The OpenMP layer's workers spin after each parallel region; on a 2-core machine they then
    compete with the GEMM threads that run between our kernels (see ``_runtime.py``). Measured on
    the benchmark machine, 2 threads: LeNet's second layer fwd+bwd 36 ms -> 4.2 ms, a 64-channel
    3x3 layer 136 -> 113 ms. workqueue threads sleep when idle. (It takes effect only if no Numba
    parallel kernel has run yet in this process.)
    """
    if os.environ.get("NUMBA_THREADING_LAYER"):
        return
    import numba

    numba.config.THREADING_LAYER = "workqueue"


_configure_threading_layer()

from numba.core import event as _event  # noqa: E402

_announced = [False]


class _CompileAnnouncer(_event.Listener):
    """Prints one line on stderr the first time one of our kernels misses the cache."""

    def on_start(self, event):
        if _announced[0]:
            return
        dispatcher = (event.data or {}).get("dispatcher")
        module = getattr(getattr(dispatcher, "py_func", None), "__module__", "") or ""
        if module.startswith(("tinyconv.kernels", "kernels.")):
            _announced[0] = True
            print("tinyconv: compiling kernels, once (cached afterwards)...", file=sys.stderr,
                  flush=True)

    def on_end(self, event):
        pass


_event.register("numba:compile", _CompileAnnouncer())

from ._runtime import (  # noqa: E402
    _limit_blas,
    get_num_threads,
    keep_freed_memory,
    set_num_threads,
    workspace,
)

keep_freed_memory()  # no page faults on every step's fresh arrays (see its docstring)
# Numba owns the cores from now on: BLAS runs on one thread (see ``_runtime``). Done here, not at
# the first GEMM, because a network without im2col layers (LeNet-5) still calls BLAS in its
# Linear layers, and two-thread BLAS there fought the kernels' threads for the two cores.
_limit_blas()
from . import batch_norm  # noqa: E402  (optional fast path, not part of the contract)
from .dispatch import (  # noqa: E402
    PLANS,
    choose_plan,
    conv2d_backward_input,
    conv2d_backward_weight,
    conv2d_forward,
    force_plan,
    plan_name,
)
from .pool import (  # noqa: E402
    avg_pool2d_backward,
    avg_pool2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)

__all__ = [
    "avg_pool2d_backward",
    "avg_pool2d_forward",
    "conv2d_backward_input",
    "conv2d_backward_weight",
    "conv2d_forward",
    "max_pool2d_backward",
    "max_pool2d_forward",
]


def warmup(dtypes=("float32",), verbose: bool = True) -> float:
    """Compile (or load from the cache) every CPU kernel for ``dtypes`` now; returns seconds.

    Runs each convolution plan and each pooling kernel once on a tiny input, which is what
    triggers Numba. ``tinyconv warmup`` calls this.
    """
    import time

    import numpy as np

    start = time.perf_counter()
    for name in dtypes:
        dtype = np.dtype(name)
        t0 = time.perf_counter()
        x = np.ones((2, 2, 6, 6), dtype=dtype)
        # every plan the heuristic can choose ("loops" is the readable baseline it never picks),
        # with and without padding, for both kernel sizes that have unrolled kernels
        for plan in sorted(set(PLANS) - {"loops"}):
            for k in (3, 5):
                w = np.ones((2, 2, k, k), dtype=dtype)
                for padding in ((0, 0, 0, 0), (1, 1, 1, 1)):
                    options = ((1, 1), padding, (1, 1), 1)
                    with force_plan(plan):
                        y = conv2d_forward(x, w, *options)
                        conv2d_backward_input(y, w, x.shape, *options)
                        conv2d_backward_weight(x, y, w.shape, *options)
        for ceil_mode in (False,):
            y, indices = max_pool2d_forward(x, (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), ceil_mode)
            max_pool2d_backward(y, indices, x.shape)
            y = avg_pool2d_forward(x, (2, 2), (2, 2), (0, 0, 0, 0), ceil_mode, True)
            avg_pool2d_backward(y, x.shape, (2, 2), (2, 2), (0, 0, 0, 0), ceil_mode, True)
        x3 = x.reshape(2, 2, 36)
        y3, mean, _, inv_std = batch_norm.forward(x3, w[0, :, 0, 0], w[0, :, 0, 1], 1e-5)
        batch_norm.backward(y3, x3, mean, inv_std, w[0, :, 0, 0])
        if verbose:
            print(f"tinyconv: {name} kernels ready ({time.perf_counter() - t0:.1f} s)",
                  file=sys.stderr)
    return time.perf_counter() - start
