"""JIT start-up: `import tinyconv`, and the first LeNet-5 training step (batch 64) in a fresh
process, with a cold Numba cache (an empty temporary NUMBA_CACHE_DIR) and then with that cache warm.
For the cold run it also lists the kernels that took longest to compile (each one's own time,
without the kernels compiled inside it: a ``*_threaded`` twin compiles its serial kernel first).

    python benchmarks/jit_startup.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import sys, time, json
t0 = time.perf_counter()
import tinyconv as tc
t_import = time.perf_counter() - t0
from numba.core import event

compile_s, open_compiles = {}, []  # kernel -> seconds of its own; [start, nested seconds]


class CompileTimes(event.Listener):
    def on_start(self, e):
        open_compiles.append([time.perf_counter(), 0.0])

    def on_end(self, e):
        start, nested = open_compiles.pop()
        total = time.perf_counter() - start
        if open_compiles:
            open_compiles[-1][1] += total
        py_func = getattr((e.data or {}).get("dispatcher"), "py_func", None)
        name = getattr(py_func, "__module__", "?") + "." + getattr(py_func, "__qualname__", "?")
        compile_s[name] = compile_s.get(name, 0.0) + total - nested


event.register("numba:compile", CompileTimes())
sys.path.insert(0, sys.argv[1])
import numpy as np
from models import lenet5
model = lenet5(tc.nn)
x = tc.tensor(np.random.default_rng(0).standard_normal((64, 1, 32, 32), dtype=np.float32))
y = tc.tensor(np.arange(64) % 10)
t0 = time.perf_counter()
c0 = time.process_time()
loss = tc.nn.CrossEntropyLoss()(model(x), y)
loss.backward()
for p in model.parameters():
    p.data -= 0.01 * p.grad.data
t_first = time.perf_counter() - t0
c_first = time.process_time() - c0
t0 = time.perf_counter()
loss = tc.nn.CrossEntropyLoss()(model(x), y)
loss.backward()
t_second = time.perf_counter() - t0
print("@@" + json.dumps({"import_s": t_import, "first_step_s": t_first,
                        "first_step_cpu_s": c_first, "second_step_s": t_second,
                        "compile_s": compile_s}))
"""


def run(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    here = os.path.dirname(os.path.abspath(__file__))
    proc = subprocess.run([sys.executable, "-c", CHILD, here], env=env, capture_output=True,
                          text=True, check=True)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("@@")][-1]
    result = json.loads(line[2:])
    result["stderr"] = proc.stderr.strip()
    return result


def main():
    with tempfile.TemporaryDirectory() as cache:
        cold = run(cache)
        warm = run(cache)
        warm2 = run(cache)
    for name, r in (("cold cache", cold), ("warm cache", warm), ("warm cache", warm2)):
        print(f"{name}: import tinyconv {r['import_s']:.2f} s, first LeNet-5 step "
              f"{r['first_step_s']:.2f} s (CPU {r['first_step_cpu_s']:.2f} s), "
              f"second {1e3 * r['second_step_s']:.0f} ms; "
              f"stderr: {r['stderr']!r}")
    slowest = sorted(cold["compile_s"].items(), key=lambda item: -item[1])
    print(f"cold cache: {sum(cold['compile_s'].values()):.2f} s compiling; the slowest kernels "
          f"(own time):")
    for name, seconds in slowest[:12]:
        print(f"  {seconds:5.2f} s  {name.removeprefix('tinyconv.kernels.cpu.')}")


if __name__ == "__main__":
    main()
