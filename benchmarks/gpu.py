"""tinyconv GPU benchmark: the CUDA kernels and training steps against PyTorch CUDA (cuDNN).

    python benchmarks/gpu.py [--quick] [--repeat 20] [--skip-models]
    python benchmarks/gpu.py --emulated --quick     # the same code path on the CPU emulation

On a machine with a CUDA GPU and CuPy (``pip install tinyconv[gpu]``) this times, for every case
of ``cases.py``:

- each convolution plan of ``kernels/cuda/launch.py`` (``direct``, ``im2col`` + cuBLAS,
  ``tiled``: forward only, its backward passes are the direct ones) forward and forward +
  backward, the plan the heuristic picks for the forward pass marked ``*``, and ``auto``: the
  heuristic itself (which may pick another plan for a backward pass);
- the pooling kernels, forward + backward;
- a training step (forward, backward, SGD) of LeNet-5 (batch 64, 32×32) and of a small ResNet
  (BasicBlocks [1, 1, 1, 1], 32×32 input, batch 32);

and, where PyTorch with CUDA is installed, the same with ``torch.nn.functional`` / an equivalent
PyTorch model (``torch.backends.cudnn.benchmark = True``), printing the ratio
``PyTorch time / tinyconv time`` (> 1: tinyconv is faster). Times are medians of ``--repeat``
runs after warm-up, with the device synchronised around each run. Without CuPy or a GPU it prints
why and exits with status 0 (``--emulated`` runs the kernels through the CPU emulation instead:
a check that the script works, not a speed figure).

The figures are what ``launch.py``'s plan thresholds should be tuned from.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from cases import CONV_CASES, POOL_CASES, conv_flops, conv_shapes  # noqa: E402

QUICK_CASES = ("lenet_c1", "lenet_c3", "resnet_3x3", "pointwise_1x1", "depthwise_3x3")


class Device:
    """Where the kernels run: ``xp``, ``sync()`` and the runtime the launchers take."""

    def __init__(self, emulated: bool):
        from tinyconv.kernels.cuda import runtime

        if emulated:
            self.xp, self.runtime = np, runtime.EmulatedRuntime()
            self.sync = lambda: None
        else:
            import cupy

            self.xp, self.runtime = cupy, runtime.cupy_runtime()
            self.sync = cupy.cuda.Device().synchronize


def gpu_problem() -> str | None:
    """Why the GPU benchmark cannot run here, or None."""
    try:
        import cupy
    except ImportError:
        return "CuPy is not installed (pip install tinyconv[gpu])"
    try:
        if not cupy.is_available():
            return "CuPy sees no CUDA GPU (cupy.is_available() is False)"
    except Exception as error:  # noqa: BLE001 -- a broken driver reports many ways
        return f"CuPy cannot use the GPU: {error}"
    return None


def torch_cuda():
    """``torch`` if it is installed with a usable CUDA device, else None."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    torch.backends.cudnn.benchmark = True
    return torch


def median_time(run: Callable[[], object], sync: Callable[[], None], repeat: int) -> float:
    """Median seconds of ``run()`` over ``repeat`` runs, after three warm-up runs."""
    for _ in range(3):
        run()
    sync()
    times = []
    for _ in range(repeat):
        sync()
        start = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _ratio(theirs: float | None, ours: float) -> str:
    return f"{theirs / ours:6.2f}" if theirs else "     -"


# ------------------------------------------------------------------------------------------------
# Kernels
# ------------------------------------------------------------------------------------------------

def bench_convolutions(device: Device, torch, names, plans, repeat: int) -> None:
    print(f"\n{'conv case':16s} {'plan':8s} {'fwd ms':>8s} {'fwd+bwd ms':>11s} {'GFLOP/s':>8s} "
          f"{'torch fwd+bwd':>13s} {'ratio':>6s}")
    for name in names:
        _conv_case(device, torch, name, plans, repeat)


def _conv_case(device: Device, torch, name: str, plans, repeat: int) -> None:
    from tinyconv.kernels.cuda import launch

    xp, rt = device.xp, device.runtime
    case = CONV_CASES[name]
    x_shape, w_shape = conv_shapes(case)
    _, _, _, _, _, _, s, p, g = case
    options = ((s, s), (p, p, p, p), (1, 1), g)
    rng = np.random.default_rng(0)
    x = xp.asarray(rng.standard_normal(x_shape, dtype=np.float32))
    w = xp.asarray(rng.standard_normal(w_shape, dtype=np.float32))
    grad_y = launch.conv2d_forward(rt, x, w, *options)
    torch_time = None
    if torch is not None:
        tx = torch.randn(x_shape, device="cuda", requires_grad=True)
        tw = torch.randn(w_shape, device="cuda", requires_grad=True)

        def torch_step():
            y = torch.nn.functional.conv2d(tx, tw, stride=s, padding=p, groups=g)
            y.backward(torch.ones_like(y))

        torch_time = median_time(torch_step, torch.cuda.synchronize, repeat)

    def forward():
        launch.conv2d_forward(rt, x, w, *options)

    def forward_backward():
        launch.conv2d_forward(rt, x, w, *options)
        launch.conv2d_backward_input(rt, grad_y, w, x_shape, *options)
        launch.conv2d_backward_weight(rt, x, grad_y, w_shape, *options)

    chosen = launch.plan_name(x_shape, w_shape, *options)
    for plan in (*plans, None):  # None: the heuristic, which may pick per pass
        with launch.force_plan(plan):
            forward_time = median_time(forward, device.sync, repeat)
            both = median_time(forward_backward, device.sync, repeat)
        label = "auto" if plan is None else plan + ("*" if plan == chosen else "")
        torch_ms = f"{torch_time * 1e3:13.3f}" if torch_time else f"{'-':>13s}"
        print(f"{name:16s} {label:8s} {forward_time * 1e3:8.3f} {both * 1e3:11.3f} "
              f"{3 * conv_flops(case) / both / 1e9:8.1f} {torch_ms} {_ratio(torch_time, both)}")


def bench_pooling(device: Device, torch, repeat: int) -> None:
    print(f"\n{'pool case':20s} {'fwd+bwd ms':>11s} {'torch ms':>9s} {'ratio':>6s}")
    for name, (kind, shape, k) in POOL_CASES.items():
        _pool_case(device, torch, name, kind, shape, k, repeat)


def _pool_case(device: Device, torch, name: str, kind: str, shape, k: int, repeat: int) -> None:
    from tinyconv.kernels.cuda import launch

    xp, rt = device.xp, device.runtime
    x = xp.asarray(np.random.default_rng(0).standard_normal(shape, dtype=np.float32))
    window, pads = (k, k), (0, 0, 0, 0)

    def step():
        if kind == "max":
            y, indices = launch.max_pool2d_forward(rt, x, window, window, pads, (1, 1), False)
            launch.max_pool2d_backward(rt, y, indices, shape)
        else:
            y = launch.avg_pool2d_forward(rt, x, window, window, pads, False, True)
            launch.avg_pool2d_backward(rt, y, shape, window, window, pads, False, True)

    ours = median_time(step, device.sync, repeat)
    theirs = None
    if torch is not None:
        tx = torch.randn(shape, device="cuda", requires_grad=True)
        pool = torch.nn.functional.max_pool2d if kind == "max" else torch.nn.functional.avg_pool2d

        def torch_step():
            y = pool(tx, k, k)
            y.backward(torch.ones_like(y))

        theirs = median_time(torch_step, torch.cuda.synchronize, repeat)
    torch_ms = f"{theirs * 1e3:9.3f}" if theirs else f"{'-':>9s}"
    print(f"{name:20s} {ours * 1e3:11.3f} {torch_ms} {_ratio(theirs, ours)}")


# ------------------------------------------------------------------------------------------------
# Training steps
# ------------------------------------------------------------------------------------------------

def _torch_models(torch):
    nn = torch.nn

    def lenet():
        return nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5),
                             nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120),
                             nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))

    class Block(nn.Module):
        def __init__(self, c_in, c_out, stride):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out),
                nn.ReLU(), nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out))
            self.shortcut = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

        def forward(self, x):
            return torch.relu(self.body(x) + self.shortcut(x))

    def small_resnet():
        return nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                             Block(64, 64, 1), Block(64, 128, 2), Block(128, 256, 2),
                             Block(256, 512, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             nn.Linear(512, 10))

    return {"lenet5": lenet, "resnet10": small_resnet}


def bench_models(device_name: str, sync, torch, repeat: int, names=("lenet5", "resnet10")) -> None:
    import tinyconv as tc
    from tinyconv.models.resnet import BasicBlock, ResNet

    models = {
        "lenet5": (lambda: tc.models.lenet5(), (64, 1, 32, 32)),
        "resnet10": (lambda: ResNet(BasicBlock, [1, 1, 1, 1], num_classes=10, small_input=True),
                     (32, 3, 32, 32)),
    }
    torch_models = _torch_models(torch) if torch is not None else {}
    print(f"\n{'training step':14s} {'tinyconv ms':>12s} {'torch ms':>9s} {'ratio':>6s}")
    for name in names:
        build, shape = models[name]
        _model_case(device_name, sync, torch, name, build, torch_models.get(name), shape, repeat)


def _model_case(device_name: str, sync, torch, name: str, build, build_torch, shape,
                repeat: int) -> None:
    import tinyconv as tc
    import tinyconv.nn.functional as F

    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=np.float32)
    labels = rng.integers(0, 10, shape[0])
    model = build().to(device_name)
    optimizer = tc.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images, targets = tc.tensor(x, device=device_name), tc.tensor(labels, device=device_name)

    def step():
        optimizer.zero_grad()
        F.cross_entropy(model(images), targets).backward()
        optimizer.step()

    ours = median_time(step, sync, repeat)
    theirs = None
    if build_torch is not None:
        torch_model = build_torch().cuda()
        torch_optimizer = torch.optim.SGD(torch_model.parameters(), lr=0.01, momentum=0.9)
        tx, ty = torch.tensor(x, device="cuda"), torch.tensor(labels, device="cuda")

        def torch_step():
            torch_optimizer.zero_grad()
            torch.nn.functional.cross_entropy(torch_model(tx), ty).backward()
            torch_optimizer.step()

        theirs = median_time(torch_step, torch.cuda.synchronize, repeat)
    torch_ms = f"{theirs * 1e3:9.2f}" if theirs else f"{'-':>9s}"
    print(f"{name:14s} {ours * 1e3:12.2f} {torch_ms} {_ratio(theirs, ours)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few cases, few repeats")
    parser.add_argument("--repeat", type=int, default=None, help="timed runs per measurement")
    parser.add_argument("--skip-models", action="store_true", help="kernels only")
    parser.add_argument("--emulated", action="store_true",
                        help="run the kernels through the CPU emulation (checks the script)")
    args = parser.parse_args(argv)
    repeat = args.repeat or (3 if args.quick or args.emulated else 20)
    names = QUICK_CASES if args.quick else tuple(CONV_CASES)

    if not args.emulated:
        problem = gpu_problem()
        if problem is not None:
            print(f"benchmarks/gpu.py: skipped: {problem}. (--emulated runs the same code on "
                  f"the CPU emulation, as a check, not a speed figure.)")
            return 0
    device = Device(args.emulated)
    torch = None if args.emulated else torch_cuda()
    if args.emulated:
        print("CPU emulation of the CUDA kernels (not a speed figure), no PyTorch comparison")
    else:
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        print(f"GPU: {props['name'].decode()}, CuPy {cupy.__version__}"
              + (f", PyTorch {torch.__version__} (cuDNN {torch.backends.cudnn.version()})"
                 if torch is not None else ", no PyTorch CUDA: tinyconv times only"))
    if args.emulated:
        # the emulation runs one CUDA thread after another (the tiled kernel's fibers far more
        # slowly): two small cases, no tiled plan
        bench_convolutions(device, torch, ("lenet_c3", "depthwise_3x3"), ("direct", "im2col"),
                           repeat)
        if not args.skip_models:
            import tinyconv as tc

            with tc.use_kernels("cuda-emu"):
                bench_models("cpu", device.sync, None, repeat, names=("lenet5",))
        return 0
    from tinyconv.kernels.cuda import launch

    bench_convolutions(device, torch, names, launch.PLANS, repeat)
    bench_pooling(device, torch, repeat)
    if not args.skip_models:
        bench_models("cuda", device.sync, torch, repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
