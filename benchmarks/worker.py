"""One benchmark process: times one implementation ("tinyconv", "numpy" or "torch") at one thread
count and prints a JSON object on stdout. ``run.py`` starts one of these per (implementation,
threads) pair, so two OpenMP runtimes (Numba's and PyTorch's) never share a process.

    python benchmarks/worker.py IMPL THREADS [--quick] [--plans]

``--plans`` (tinyconv only) also times the three convolution kernels with each plan forced, on
every case of ``CONV_CASES`` and ``PLAN_CASES``: the evidence behind the heuristic's thresholds.

Each case is timed by a function of its own (``_tinyconv_conv``, ...), so the closures handed to
:func:`timeit` capture that case's arrays, never a loop variable that moves on.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cases import CONV_CASES, PLAN_CASES, POOL_CASES, conv_output_hw, conv_shapes  # noqa: E402
from models import INFERENCE, MODELS  # noqa: E402

QUICK = "--quick" in sys.argv


def timeit(fn: Callable[[], object], min_time: float = 0.4, min_reps: int = 5,
           max_reps: int = 30) -> float:
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


def conv_data(case: tuple, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x, w, grad_y)`` of a conv case, float32, weights scaled like a layer's."""
    x_shape, w_shape = conv_shapes(case)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape, dtype=np.float32)
    wt = (rng.standard_normal(w_shape, dtype=np.float32)
          / np.sqrt(w_shape[1] * w_shape[2] * w_shape[3])).astype(np.float32)
    gy = rng.standard_normal((x_shape[0], w_shape[0]) + conv_output_hw(case), dtype=np.float32)
    return x, wt, gy


def contract_options(case: tuple) -> tuple:
    """``(stride, padding, dilation, groups)`` of a conv case, as the kernel contract takes them."""
    s, p, g = case[6], case[7], case[8]
    return (s, s), (p, p, p, p), (1, 1), g


def matmul_peak(threads: int) -> float:
    """float32 GEMM GFLOP/s (2048³) with OpenBLAS on ``threads`` threads: the roof we compare to."""
    from threadpoolctl import threadpool_limits
    size = 1024 if QUICK else 2048
    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    b = a.copy()
    with threadpool_limits(threads, user_api="blas"):
        t = timeit(lambda: a @ b, min_time=0.5, min_reps=3, max_reps=8)
    return 2.0 * size ** 3 / t / 1e9


# ------------------------------------------------------------------------------------------------
# NumPy im2col baseline
# ------------------------------------------------------------------------------------------------


def _numpy_conv(base, case: tuple) -> dict:
    x, w, gy = conv_data(case)
    s, p, g = case[6], case[7], case[8]

    def step():
        y, cols = base.conv_forward(x, w, s, p, g)
        base.conv_backward(x.shape, w, gy, cols, s, p, g)

    return {"kernel_fwd": timeit(lambda: base.conv_forward(x, w, s, p, g)),
            "kernel_fwdbwd": timeit(step)}


def bench_numpy(threads: int) -> dict:
    import numpy_im2col as base
    from threadpoolctl import threadpool_limits
    out = {"peak_gflops": matmul_peak(threads), "conv": {}}
    with threadpool_limits(threads, user_api="blas"):
        for name, case in CONV_CASES.items():
            out["conv"][name] = _numpy_conv(base, case)
    return out


# ------------------------------------------------------------------------------------------------
# tinyconv
# ------------------------------------------------------------------------------------------------


def _kernel_step(cpu, x: np.ndarray, w: np.ndarray, gy: np.ndarray,
                 options: tuple) -> Callable[[], None]:
    """The three convolution kernels of one training step, as one call."""
    def step():
        cpu.conv2d_forward(x, w, *options)
        cpu.conv2d_backward_input(gy, w, x.shape, *options)
        cpu.conv2d_backward_weight(x, gy, w.shape, *options)
    return step


def _tinyconv_conv(tc, cpu, case: tuple) -> dict:
    x, w, gy = conv_data(case)
    options = contract_options(case)
    layer = tc.nn.Conv2d(case[1], case[4], case[5], stride=case[6], padding=case[7],
                         groups=case[8])
    xt = tc.tensor(x, requires_grad=True)
    gyt = tc.tensor(gy)

    def layer_fwd():
        with tc.no_grad():
            layer(xt)

    def layer_step():
        xt.grad = None
        layer.zero_grad()
        layer(xt).backward(gyt)

    return {"kernel_fwd": timeit(lambda: cpu.conv2d_forward(x, w, *options)),
            "kernel_fwdbwd": timeit(_kernel_step(cpu, x, w, gy, options)),
            "layer_fwd": timeit(layer_fwd), "layer_fwdbwd": timeit(layer_step)}


def _pool_step(lib, x, gy, kind: str, k: int) -> tuple[Callable, Callable]:
    """``(forward, forward + backward)`` of a pooling layer of ``lib`` (tinyconv or torch)."""
    pool = lib.nn.MaxPool2d(k) if kind == "max" else lib.nn.AvgPool2d(k)

    def fwd():
        with lib.no_grad():
            pool(x)

    def step():
        x.grad = None
        pool(x).backward(gy)

    return fwd, step


def _tinyconv_pool(tc, kind: str, shape: tuple, k: int) -> dict:
    x = np.random.default_rng(1).standard_normal(shape, dtype=np.float32)
    gy = np.ones((shape[0], shape[1], shape[2] // k, shape[3] // k), np.float32)
    fwd, step = _pool_step(tc, tc.tensor(x, requires_grad=True), tc.tensor(gy), kind, k)
    return {"layer_fwd": timeit(fwd), "layer_fwdbwd": timeit(step)}


def _tinyconv_model(tc, builder, batch: int, shape: tuple) -> dict:
    tc.manual_seed(0)
    model = builder(tc.nn)
    rng = np.random.default_rng(0)
    xb = tc.tensor(rng.standard_normal((batch,) + shape, dtype=np.float32))
    yb = tc.tensor(rng.integers(0, 10, batch), dtype=tc.int64)
    loss_fn = tc.nn.CrossEntropyLoss()
    optim = tc.optim.SGD(list(model.parameters()), lr=0.01)

    def train_step():
        optim.zero_grad()
        loss_fn(model(xb), yb).backward()
        optim.step()

    return {"step": timeit(train_step, min_time=1.0, min_reps=10, max_reps=60),
            "optimizer": "tc.optim.SGD"}


def _inference(lib, builder, batch: int, shape: tuple) -> dict:
    """Seconds per forward pass of a model in ``eval()`` mode under ``no_grad`` (tinyconv or
    torch: the same code, ``lib`` is the library)."""
    lib.manual_seed(0)
    model = builder(lib.nn)
    model.eval()
    x = np.random.default_rng(0).standard_normal((batch,) + shape, dtype=np.float32)
    xb = lib.tensor(x) if lib.__name__ == "tinyconv" else lib.from_numpy(x)

    def forward():
        with lib.no_grad():
            model(xb)

    return {"forward": timeit(forward, min_time=1.0, min_reps=10, max_reps=60)}


def _plans_on(cpu, dispatch, case: tuple) -> dict:
    """Kernel fwd+bwd seconds of each plan forced on ``case`` (those that compute its forward
    pass), with the plan each step really ran (a plan lacking a step hands it on)."""
    x, w, gy = conv_data(case)
    options = contract_options(case)
    out = {}
    for plan in sorted(set(dispatch.PLANS) - {"loops"}):  # loops: the slow teaching baseline
        with cpu.force_plan(plan):
            steps = [cpu.plan_name(x.shape, w.shape, *options, step=step)
                     for step in ("forward", "backward_input", "backward_weight")]
            if steps[0] != plan:
                continue  # the plan does not compute this problem
            t = timeit(_kernel_step(cpu, x, w, gy, options), min_time=0.2, min_reps=3,
                       max_reps=15)
        out[plan] = {"kernel_fwdbwd": t, "steps": steps}
    return out


def bench_tinyconv(threads: int) -> dict:
    t0 = time.perf_counter()
    import tinyconv as tc
    import_s = time.perf_counter() - t0
    from tinyconv.kernels import cpu
    from tinyconv.kernels.cpu import dispatch
    cpu.set_num_threads(threads)
    out = {"import_s": import_s, "conv": {}, "pool": {}, "models": {}, "inference": {},
           "plans": {}}
    for name, case in CONV_CASES.items():
        out["conv"][name] = _tinyconv_conv(tc, cpu, case)
        out["plans"][name] = cpu.plan_name(*conv_shapes(case), *contract_options(case))
    for name, (kind, shape, k) in POOL_CASES.items():
        out["pool"][name] = _tinyconv_pool(tc, kind, shape, k)
    for name, (builder, batch, shape) in MODELS.items():
        out["models"][name] = _tinyconv_model(tc, builder, batch, shape)
    for name, (builder, batch, shape) in INFERENCE.items():
        out["inference"][name] = _inference(tc, builder, batch, shape)
    if "--plans" in sys.argv:
        every_case = {**CONV_CASES, **PLAN_CASES}
        out["plan_times"] = {name: _plans_on(cpu, dispatch, case)
                             for name, case in every_case.items()}
        out["plan_choice"] = {name: cpu.plan_name(*conv_shapes(case), *contract_options(case))
                              for name, case in every_case.items()}
    return out


# ------------------------------------------------------------------------------------------------
# PyTorch
# ------------------------------------------------------------------------------------------------


def _torch_conv(torch, case: tuple) -> dict:
    x, w, gy = conv_data(case)
    layer = torch.nn.Conv2d(case[1], case[4], case[5], stride=case[6], padding=case[7],
                            groups=case[8])
    xt = torch.from_numpy(x).requires_grad_(True)
    gyt = torch.from_numpy(gy)

    def layer_fwd():
        with torch.no_grad():
            layer(xt)

    def layer_step():
        xt.grad = None
        layer.zero_grad()
        layer(xt).backward(gyt)

    return {"layer_fwd": timeit(layer_fwd), "layer_fwdbwd": timeit(layer_step)}


def _torch_pool(torch, kind: str, shape: tuple, k: int) -> dict:
    x = torch.from_numpy(np.random.default_rng(1).standard_normal(shape, dtype=np.float32))
    gy = torch.ones((shape[0], shape[1], shape[2] // k, shape[3] // k))
    fwd, step = _pool_step(torch, x.requires_grad_(True), gy, kind, k)
    return {"layer_fwd": timeit(fwd), "layer_fwdbwd": timeit(step)}


def _torch_model(torch, builder, batch: int, shape: tuple) -> dict:
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

    return {"step": timeit(train_step, min_time=1.0, min_reps=10, max_reps=60)}


def bench_torch(threads: int) -> dict:
    import torch
    torch.set_num_threads(threads)
    out = {"version": torch.__version__, "conv": {}, "pool": {}, "models": {}, "inference": {}}
    for name, case in CONV_CASES.items():
        out["conv"][name] = _torch_conv(torch, case)
    for name, (kind, shape, k) in POOL_CASES.items():
        out["pool"][name] = _torch_pool(torch, kind, shape, k)
    for name, (builder, batch, shape) in MODELS.items():
        out["models"][name] = _torch_model(torch, builder, batch, shape)
    for name, (builder, batch, shape) in INFERENCE.items():
        out["inference"][name] = _inference(torch, builder, batch, shape)
    return out


if __name__ == "__main__":
    impl, threads = sys.argv[1], int(sys.argv[2])
    result = {"numpy": bench_numpy, "tinyconv": bench_tinyconv, "torch": bench_torch}[impl](threads)
    print("@@RESULT@@" + json.dumps(result))
