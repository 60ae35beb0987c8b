"""Does a LeNet-5 training run leak? RSS after each step, 1,000 steps of batch 64 on 1×32×32.

    python benchmarks/memory.py [--steps 1000]

Passes when the resident set size after the last step is no larger than after step 50 (+ a small
allowance for allocator noise, ``--slack-mib``, default 2 MiB). Prints RSS at a few checkpoints
and the workspace size. Exit status 1 when RSS grew.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--slack-mib", type=float, default=2.0)
    args = parser.parse_args()

    from models import lenet5

    import tinyconv as tc
    from tinyconv.kernels.cpu import workspace

    tc.manual_seed(0)
    model = lenet5(tc.nn)
    params = list(model.parameters())
    optim = tc.optim.SGD(params, lr=0.01)
    loss_fn = tc.nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)
    rss = {}
    for step in range(1, args.steps + 1):
        x = tc.tensor(rng.standard_normal((64, 1, 32, 32), dtype=np.float32))
        y = tc.tensor(rng.integers(0, 10, 64))
        optim.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optim.step()
        if step in (1, 10, 50, 100, 250, 500, 750) or step == args.steps:
            rss[step] = rss_mib()
            print(f"step {step:5d}: RSS {rss[step]:7.1f} MiB  loss {float(loss.item()):.3f}  "
                  f"workspace {workspace.nbytes() / 2**20:.1f} MiB", flush=True)
    grew = rss[args.steps] - rss[50]
    print(f"RSS growth from step 50 to step {args.steps}: {grew:+.1f} MiB "
          f"({'OK' if grew <= args.slack_mib else 'GREW'})")
    return 0 if grew <= args.slack_mib else 1


if __name__ == "__main__":
    sys.exit(main())
