"""How long handing a small job to the second thread takes, for each way tinyconv could do it.

    python benchmarks/handoff.py [--gap-us 200]      # runs one process per option

Each option runs an almost empty kernel split into two blocks (one per thread) and reports the
median time above the same kernel run whole on one thread: the price of the hand-off itself.
"back-to-back" calls it in a tight loop (the other thread is still awake); "after a gap" first
spends ``--gap-us`` microseconds of busy work on the calling thread, like the NumPy and Python
work between two kernels of a training step, so an idle worker may have gone to sleep.

Options: Numba's threading layers ``omp``, ``tbb`` (needs the ``tbb`` package from PyPI; if its
``libtbb.so.12`` is not on the loader's path the option is reported as unavailable) and
``workqueue``, and a persistent Python worker thread running the ``nogil`` kernel (what
``_runtime.run_jobs`` does for kernels without a threaded twin). Each runs in a process of its
own because Numba picks its layer once per process. The findings are in
``kernels/cpu/settings.py`` (setting 3).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

OPTIONS = ("omp", "tbb", "workqueue", "python")


def median_us(fn, calls: int) -> float:
    """Median microseconds of ``fn()`` after 50 warm-up calls."""
    for _ in range(50):
        fn()
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def measure(option: str, gap_us: float) -> str:
    """One option's line of the report (run in a fresh process: see the module docstring)."""
    import numpy as np
    from numba import njit, prange, set_num_threads, threading_layer

    @njit(nogil=True)
    def add_one(out, lo, hi):
        for i in range(lo, hi):
            out[i] += 1.0

    @njit(parallel=True, nogil=True)
    def add_one_threaded(bounds, out):
        for t in prange(bounds.size - 1):
            add_one(out, bounds[t], bounds[t + 1])

    out = np.zeros(64)
    if option == "python":
        from concurrent.futures import ThreadPoolExecutor
        pool = ThreadPoolExecutor(1)

        def split_call():
            second_half = pool.submit(add_one, out, 32, 64)
            add_one(out, 0, 32)
            second_half.result()
    else:
        set_num_threads(2)
        bounds = np.array([0, 32, 64], dtype=np.int64)

        def split_call():
            add_one_threaded(bounds, out)

    def after_gap():
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < gap_us * 1e-6:
            pass
        split_call()

    whole = median_us(lambda: add_one(out, 0, 64), 3000)
    back_to_back = median_us(split_call, 3000) - whole
    gapped = median_us(after_gap, 1000) - gap_us - whole
    name = "python threads" if option == "python" else threading_layer()
    return (f"{name:15s} back-to-back {back_to_back:6.1f} us   "
            f"after a {gap_us:.0f} us gap {gapped:6.1f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gap-us", type=float, default=200.0)
    parser.add_argument("--option", choices=OPTIONS, help="(internal) measure one option here")
    args = parser.parse_args()
    if args.option:
        print(measure(args.option, args.gap_us))
        return
    for option in OPTIONS:
        env = dict(os.environ)
        if option != "python":
            env["NUMBA_THREADING_LAYER"] = option
        # tinyconv's own short spin (settings.OPENMP_SPIN_COUNT), unless you set one
        env.setdefault("GOMP_SPINCOUNT", "10000")
        done = subprocess.run([sys.executable, __file__, "--option", option,
                               "--gap-us", str(args.gap_us)],
                              env=env, capture_output=True, text=True)
        if done.returncode == 0:
            print(done.stdout.strip())
        else:
            print(f"{option:15s} unavailable ({done.stderr.strip().splitlines()[-1][:90]})")


if __name__ == "__main__":
    main()
