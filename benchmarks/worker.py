"""One benchmark process: times one implementation ("tinyconv", "numpy" or "torch") at one thread
count and prints a JSON object on stdout. ``run.py`` starts one of these per (implementation,
threads) pair, so two OpenMP runtimes (Numba's and PyTorch's) never share a process.

    python benchmarks/worker.py IMPL THREADS [--quick]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cases import CONV_CASES, POOL_CASES  # noqa: E402
from models import MODELS  # noqa: E402

QUICK = "--quick" in sys.argv


def timeit(fn, min_time=0.4, min_reps=5, max_reps=30):
    """Median seconds of ``fn()`` after two warm-up calls (the first may compile or fault in
    memory); repeats until ``min_time`` has passed, at least ``min_reps`` times."""
    if QUICK:
        min_time, min_reps, max_reps = 0.1, 3, 5
    fn()
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_reps or (time.perf_counter() - start < min_time
                                    and len(times) < max_reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def conv_data(case, seed=0):
    n, c_in, h, w, c_out, k, s, p, g = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c_in, h, w), dtype=np.float32)
    wt = (rng.standard_normal((c_out, c_in // g, k, k), dtype=np.float32)
          / np.sqrt(c_in // g * k * k)).astype(np.float32)
    h_out, w_out = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    gy = rng.standard_normal((n, c_out, h_out, w_out), dtype=np.float32)
    return x, wt, gy


def matmul_peak(threads):
    """float32 GEMM GFLOP/s (2048³) with OpenBLAS on ``threads`` threads: the roof we compare to."""
    from threadpoolctl import threadpool_limits
    size = 1024 if QUICK else 2048
    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    b = a.copy()
    with threadpool_limits(threads, user_api="blas"):
        t = timeit(lambda: a @ b, min_time=0.5, min_reps=3, max_reps=8)
    return 2.0 * size ** 3 / t / 1e9


# ------------------------------------------------------------------------------------------------


def bench_numpy(threads):
    import numpy_im2col as base
    from threadpoolctl import threadpool_limits
    out = {"peak_gflops": matmul_peak(threads), "conv": {}}
    with threadpool_limits(threads, user_api="blas"):
        for name, case in CONV_CASES.items():
            x, w, gy = conv_data(case)
            s, p, g = case[6], case[7], case[8]
            fwd = timeit(lambda: base.conv_forward(x, w, s, p, g))

            def step():
                y, cols = base.conv_forward(x, w, s, p, g)
                base.conv_backward(x.shape, w, gy, cols, s, p, g)
            out["conv"][name] = {"kernel_fwd": fwd, "kernel_fwdbwd": timeit(step)}
    return out


def bench_tinyconv(threads):
    t0 = time.perf_counter()
    import tinyconv as tc
    import_s = time.perf_counter() - t0
    from tinyconv.kernels import cpu
    cpu.set_num_threads(threads)
    out = {"import_s": import_s, "conv": {}, "pool": {}, "models": {}}
    if hasattr(cpu, "plan_name"):
        out["plans"] = {}
    for name, case in CONV_CASES.items():
        x, w, gy = conv_data(case)
        s, p, g = case[6], case[7], case[8]
        opts = ((s, s), (p, p, p, p), (1, 1), g)
        fwd = timeit(lambda: cpu.conv2d_forward(x, w, *opts))

        def kernels_step():
            cpu.conv2d_forward(x, w, *opts)
            cpu.conv2d_backward_input(gy, w, x.shape, *opts)
            cpu.conv2d_backward_weight(x, gy, w.shape, *opts)
        kfb = timeit(kernels_step)
        layer = tc.nn.Conv2d(case[1], case[4], case[5], stride=s, padding=p, groups=g)
        xt = tc.tensor(x, requires_grad=True)
        gyt = tc.tensor(gy)

        def layer_fwd():
            with tc.no_grad():
                layer(xt)

        def layer_step():
            xt.grad = None
            layer.zero_grad()
            layer(xt).backward(gyt)
        out["conv"][name] = {"kernel_fwd": fwd, "kernel_fwdbwd": kfb,
                             "layer_fwd": timeit(layer_fwd), "layer_fwdbwd": timeit(layer_step)}
        if "plans" in out:
            out["plans"][name] = cpu.plan_name(x.shape, w.shape, *opts)
    for name, (kind, shape, k) in POOL_CASES.items():
        x = np.random.default_rng(1).standard_normal(shape, dtype=np.float32)
        xt = tc.tensor(x, requires_grad=True)
        pool = tc.nn.MaxPool2d(k) if kind == "max" else tc.nn.AvgPool2d(k)
        gy = tc.tensor(np.ones((shape[0], shape[1], shape[2] // k, shape[3] // k), np.float32))

        def pool_fwd():
            with tc.no_grad():
                pool(xt)

        def pool_step():
            xt.grad = None
            pool(xt).backward(gy)
        out["pool"][name] = {"layer_fwd": timeit(pool_fwd), "layer_fwdbwd": timeit(pool_step)}
    for name, (builder, batch, shape) in MODELS.items():
        tc.manual_seed(0)
        model = builder(tc.nn)
        params = list(model.parameters())
        rng = np.random.default_rng(0)
        xb = tc.tensor(rng.standard_normal((batch,) + shape, dtype=np.float32))
        yb = tc.tensor(rng.integers(0, 10, batch), dtype=tc.int64)
        loss_fn = tc.nn.CrossEntropyLoss()
        optim = tc.optim.SGD(params, lr=0.01) if _has(tc, "optim", "SGD") else None

        def train_step():
            if optim is not None:
                optim.zero_grad()
            else:
                for p_ in params:
                    p_.grad = None
            loss = loss_fn(model(xb), yb)
            loss.backward()
            if optim is not None:
                optim.step()
            else:  # manual SGD
                for p_ in params:
                    p_.data -= 0.01 * p_.grad.data
        out["models"][name] = {"step": timeit(train_step, min_time=1.0, min_reps=10, max_reps=60),
                               "optimizer": "tc.optim.SGD" if optim else "manual SGD"}
    return out


def _has(module, sub, attr):
    try:
        return hasattr(getattr(module, sub), attr)
    except (AttributeError, ImportError):
        return False


def bench_torch(threads):
    import torch
    torch.set_num_threads(threads)
    out = {"version": torch.__version__, "conv": {}, "pool": {}, "models": {}}
    for name, case in CONV_CASES.items():
        x, w, gy = conv_data(case)
        s, p, g = case[6], case[7], case[8]
        layer = torch.nn.Conv2d(case[1], case[4], case[5], stride=s, padding=p, groups=g)
        xt = torch.from_numpy(x).requires_grad_(True)
        gyt = torch.from_numpy(gy)

        def layer_fwd():
            with torch.no_grad():
                layer(xt)

        def layer_step():
            xt.grad = None
            layer.zero_grad()
            layer(xt).backward(gyt)
        out["conv"][name] = {"layer_fwd": timeit(layer_fwd), "layer_fwdbwd": timeit(layer_step)}
    for name, (kind, shape, k) in POOL_CASES.items():
        x = torch.from_numpy(np.random.default_rng(1).standard_normal(shape, dtype=np.float32))
        xt = x.requires_grad_(True)
        pool = torch.nn.MaxPool2d(k) if kind == "max" else torch.nn.AvgPool2d(k)
        gy = torch.ones((shape[0], shape[1], shape[2] // k, shape[3] // k))

        def pool_fwd():
            with torch.no_grad():
                pool(xt)

        def pool_step():
            xt.grad = None
            pool(xt).backward(gy)
        out["pool"][name] = {"layer_fwd": timeit(pool_fwd), "layer_fwdbwd": timeit(pool_step)}
    for name, (builder, batch, shape) in MODELS.items():
        torch.manual_seed(0)
        model = builder(torch.nn)
        rng = np.random.default_rng(0)
        xb = torch.from_numpy(rng.standard_normal((batch,) + shape, dtype=np.float32))
        yb = torch.from_numpy(rng.integers(0, 10, batch))
        loss_fn = torch.nn.CrossEntropyLoss()
        optim = torch.optim.SGD(model.parameters(), lr=0.01)

        def train_step():
            optim.zero_grad()
            loss_fn(model(xb), yb).backward()
            optim.step()
        out["models"][name] = {"step": timeit(train_step, min_time=1.0, min_reps=10, max_reps=60)}
    return out


if __name__ == "__main__":
    impl, threads = sys.argv[1], int(sys.argv[2])
    result = {"numpy": bench_numpy, "tinyconv": bench_tinyconv, "torch": bench_torch}[impl](threads)
    print("@@RESULT@@" + json.dumps(result))
