"""Fused against unfused: what ``F.conv2d_relu`` / ``F.conv2d_relu_max_pool2d`` and
``nn.Sequential``'s fusion save, as ratios measured in the same process.

    flock /tmp/tinyconv-bench.lock python benchmarks/fusion.py [--threads 1 2] [--rounds 5]

For each thread count it prints, per layer shape, the forward pass (under ``no_grad``) and the
forward + backward pass of the fused operation and of the composition it replaces
(``conv2d``, ``relu``, ``max_pool2d``), then LeNet-5's training step (batch 64, SGD) and
inference pass (batch 256) with ``Sequential.fuse`` on and off. Fused and unfused runs alternate
round by round and each keeps its best round, so a noisy neighbour on a shared host slows both
alike; read the ratio column (unfused / fused: above 1 means fusion is faster), not the times.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv.kernels import cpu

#: name: (input shape (N, C_in, H, W), weight shape (C_out, C_in, kH, kW), padding, pool)
LAYERS = {
    "lenet_c1 pool": ((64, 1, 32, 32), (6, 1, 5, 5), 0, True),
    "lenet_c2 pool": ((64, 6, 14, 14), (16, 6, 5, 5), 0, True),
    "vgg 3x3 16->32 pool": ((32, 16, 32, 32), (32, 16, 3, 3), 1, True),
    "3x3 32->32 no pool": ((32, 32, 16, 16), (32, 32, 3, 3), 1, False),
}


def best_seconds(fn, min_time: float = 0.2, max_reps: int = 200) -> float:
    """The fastest of repeated calls of ``fn`` (after one warm-up call), for ``min_time`` s."""
    fn()
    best, spent, reps = float("inf"), 0.0, 0
    while spent < min_time and reps < max_reps:
        t0 = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - t0
        best, spent, reps = min(best, elapsed), spent + elapsed, reps + 1
    return best


def compare(fused, unfused, rounds: int) -> tuple[float, float]:
    """Best seconds of ``fused`` and of ``unfused``, the two alternating for ``rounds`` rounds."""
    t_fused, t_unfused = float("inf"), float("inf")
    for _ in range(rounds):
        t_fused = min(t_fused, best_seconds(fused))
        t_unfused = min(t_unfused, best_seconds(unfused))
    return t_fused, t_unfused


def layer_steps(x_shape, w_shape, padding, pool):
    """``{"fwd": (fused, unfused), "fwd+bwd": (fused, unfused)}``, callables for one layer."""
    rng = np.random.default_rng(0)
    x = tc.tensor(rng.standard_normal(x_shape, dtype=np.float32), requires_grad=True)
    w = tc.tensor(rng.standard_normal(w_shape, dtype=np.float32) * 0.1, requires_grad=True)
    b = tc.tensor(rng.standard_normal(w_shape[0], dtype=np.float32) * 0.1, requires_grad=True)

    def fused():
        op = F.conv2d_relu_max_pool2d if pool else F.conv2d_relu
        return op(x, w, b, padding=padding)

    def unfused():
        out = F.relu(F.conv2d(x, w, b, padding=padding))
        return F.max_pool2d(out, 2) if pool else out

    def forward_only(fn):
        def run():
            with tc.no_grad():
                fn()
        return run

    def with_backward(fn):
        def run():
            x.grad = w.grad = b.grad = None
            fn().sum().backward()
        return run

    return {"fwd": (forward_only(fused), forward_only(unfused)),
            "fwd+bwd": (with_backward(fused), with_backward(unfused))}


def set_fusion(model: tc.nn.Module, fuse: bool) -> None:
    """Turn ``nn.Sequential``'s fusion on or off everywhere in ``model``."""
    for module in model.modules():
        if isinstance(module, tc.nn.Sequential):
            module.fuse = fuse


def lenet5_steps():
    """``{"train step b64": (fused, unfused), "inference b256": (fused, unfused)}``."""
    tc.manual_seed(0)
    model = tc.models.lenet5()
    rng = np.random.default_rng(0)
    x_train = tc.tensor(rng.standard_normal((64, 1, 32, 32), dtype=np.float32))
    y_train = tc.tensor(rng.integers(0, 10, 64), dtype=tc.int64)
    x_infer = tc.tensor(rng.standard_normal((256, 1, 32, 32), dtype=np.float32))
    loss_fn = tc.nn.CrossEntropyLoss()
    optim = tc.optim.SGD(list(model.parameters()), lr=0.01)

    def train_step(fuse):
        def run():
            set_fusion(model, fuse)
            model.train()
            optim.zero_grad()
            loss_fn(model(x_train), y_train).backward()
            optim.step()
        return run

    def inference(fuse):
        def run():
            set_fusion(model, fuse)
            model.eval()
            with tc.no_grad():
                model(x_infer)
        return run

    return {"train step b64": (train_step(True), train_step(False)),
            "inference b256": (inference(True), inference(False))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per measure")
    args = parser.parse_args()
    cases = [(name + " " + step, pair) for name, layer in LAYERS.items()
             for step, pair in layer_steps(*layer).items()]
    cases += [("LeNet-5 " + name, pair) for name, pair in lenet5_steps().items()]
    for threads in args.threads:
        cpu.set_num_threads(threads)
        print(f"\n{threads} thread(s): best of {args.rounds} alternating rounds")
        print(f"{'case':<34} {'fused ms':>9} {'unfused ms':>11} {'ratio':>6}")
        for name, (fused, unfused) in cases:
            t_fused, t_unfused = compare(fused, unfused, args.rounds)
            print(f"{name:<34} {t_fused * 1e3:9.3f} {t_unfused * 1e3:11.3f} "
                  f"{t_unfused / t_fused:6.2f}")


if __name__ == "__main__":
    main()
