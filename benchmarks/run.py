"""tinyconv CPU benchmark: kernels and layers vs a NumPy im2col baseline and PyTorch (if installed).

    python benchmarks/run.py [--threads 1 2] [--json benchmarks/results.json] [--quick]
                             [--rounds 2] [--skip-torch] [--skip-numpy]

Every (implementation, thread count) pair runs in its own process (``worker.py``), one after the
other, so the OpenMP runtimes of Numba and PyTorch never meet; the implementations take turns for
``--rounds`` rounds and each time is the fastest round's. Ratios are only meaningful within one
run: these shared hosts move by ±30 % between runs. Printed per case: forward and forward +
backward time (median after warm-up), GFLOP/s, fraction of the measured float32 matmul peak, and
the ratio to PyTorch (> 1: tinyconv is faster).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from cases import CONV_CASES, POOL_CASES, conv_flops  # noqa: E402


def run_worker(impl, threads, quick):
    env = dict(os.environ)
    cmd = [sys.executable, os.path.join(HERE, "worker.py"), impl, str(threads)]
    if quick:
        cmd.append("--quick")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"worker {impl} (threads={threads}) failed")
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("@@RESULT@@")][-1]
    print(f"  {impl:9s} threads={threads}: {time.perf_counter() - t0:6.1f} s", file=sys.stderr)
    return json.loads(line[len("@@RESULT@@"):])


def fastest(rounds):
    """Merge the results of several rounds of one worker: every time is the round's fastest (a
    round disturbed by a neighbour on these shared hosts is slower, never faster), the matmul
    peak the highest; everything else (plan names, ...) is taken from the first round."""
    first = rounds[0]
    if isinstance(first, dict):
        return {key: (max(r[key] for r in rounds) if key == "peak_gflops"
                      else fastest([r[key] for r in rounds])) for key in first}
    if isinstance(first, float):
        return min(rounds)
    return first


def torch_installed():
    return subprocess.run([sys.executable, "-c", "import torch"], capture_output=True).returncode == 0


def geomean(values):
    values = [v for v in values if v]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def report(results, threads):
    tc, npy, pt = (results.get(k) for k in ("tinyconv", "numpy", "torch"))
    peak = npy["peak_gflops"] if npy else None
    summary = {}
    print(f"\n=== {threads} thread(s)" + (f"; float32 matmul peak {peak:.0f} GFLOP/s" if peak else "")
          + " ===")
    print("conv2d: time in ms (fwd | fwd+bwd); GF = GFLOP/s; %pk = fraction of matmul peak; "
          "x pt = PyTorch time / tinyconv time (> 1: tinyconv faster)")
    head = (f"{'case':15s} {'plan':22s} {'tc layer':>15s} {'GF':>11s} {'%pk':>4s} "
            f"{'tc kernels':>15s} {'numpy':>15s} {'torch':>15s} {'x pt fwd':>8s} {'x pt f+b':>8s}"
            f" {'np/tc':>6s}")
    print(head)
    ratios_fb, ratios_f = {}, {}
    for name, case in CONV_CASES.items():
        flops = conv_flops(case)
        t = tc["conv"][name]
        lf, lfb = t["layer_fwd"], t["layer_fwdbwd"]
        gf = (flops / lf / 1e9, 3 * flops / lfb / 1e9)
        pk = f"{100 * gf[1] / peak:3.0f}%" if peak else "  - "
        np_s = (f"{1e3 * npy['conv'][name]['kernel_fwd']:6.2f}|{1e3 * npy['conv'][name]['kernel_fwdbwd']:7.2f}"
                if npy else "-")
        pt_s, rf, rfb = "-", None, None
        if pt:
            p = pt["conv"][name]
            pt_s = f"{1e3 * p['layer_fwd']:6.2f}|{1e3 * p['layer_fwdbwd']:7.2f}"
            rf, rfb = p["layer_fwd"] / lf, p["layer_fwdbwd"] / lfb
            ratios_f[name], ratios_fb[name] = rf, rfb
        npr = npy["conv"][name]["kernel_fwdbwd"] / t["kernel_fwdbwd"] if npy else float("nan")
        plan = tc.get("plans", {}).get(name, "")
        print(f"{name:15s} {plan[:22]:22s} {1e3 * lf:6.2f}|{1e3 * lfb:7.2f} {gf[0]:5.1f}|{gf[1]:5.1f} {pk:>4s} "
              f"{1e3 * t['kernel_fwd']:6.2f}|{1e3 * t['kernel_fwdbwd']:7.2f} {np_s:>15s} {pt_s:>15s} "
              f"{rf if rf else float('nan'):8.2f} {rfb if rfb else float('nan'):8.2f} {npr:6.1f}")
    if ratios_fb:
        gm = geomean(ratios_fb.values())
        worst = min(ratios_fb, key=ratios_fb.get)
        print(f"conv fwd+bwd vs PyTorch: geometric mean {gm:.2f}x, worst {worst} "
              f"{ratios_fb[worst]:.2f}x; fwd geometric mean {geomean(ratios_f.values()):.2f}x")
        summary["conv_fwdbwd_geomean"] = gm
        summary["conv_fwdbwd_worst"] = [worst, ratios_fb[worst]]
        summary["conv_fwdbwd_ratio"] = ratios_fb
        summary["conv_fwd_ratio"] = ratios_f
    print("\npooling: ms (fwd | fwd+bwd), x pt = PyTorch / tinyconv")
    summary["pool_ratio"] = {}
    for name in POOL_CASES:
        t = tc["pool"][name]
        line = f"{name:20s} {1e3 * t['layer_fwd']:7.3f}|{1e3 * t['layer_fwdbwd']:7.3f}"
        if pt:
            p = pt["pool"][name]
            r = (p["layer_fwd"] / t["layer_fwd"], p["layer_fwdbwd"] / t["layer_fwdbwd"])
            summary["pool_ratio"][name] = r
            line += (f"   torch {1e3 * p['layer_fwd']:7.3f}|{1e3 * p['layer_fwdbwd']:7.3f}"
                     f"   x pt {r[0]:5.2f} | {r[1]:5.2f}")
        print(line)
    print("\ntraining steps/s")
    summary["model_ratio"] = {}
    for name, m in tc["models"].items():
        line = f"{name:15s} tinyconv {1 / m['step']:7.1f} steps/s ({m['optimizer']})"
        if pt:
            p = pt["models"][name]
            r = p["step"] / m["step"]
            summary["model_ratio"][name] = r
            line += f"   torch {1 / p['step']:7.1f} steps/s   x pt {r:5.2f}"
        print(line)
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--json", default=os.path.join(HERE, "results.json"))
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke test)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="alternating rounds per implementation; each time is the fastest "
                             "round's (default 2; --quick uses 1)")
    parser.add_argument("--skip-torch", action="store_true")
    parser.add_argument("--skip-numpy", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.rounds = 1
    have_torch = not args.skip_torch and torch_installed()
    if not have_torch:
        print("PyTorch not installed (or skipped): no ratios to PyTorch", file=sys.stderr)
    everything = {"platform": platform.platform(), "python": platform.python_version(),
                  "cpu_count": os.cpu_count(), "runs": {}}
    impls = (["tinyconv"] + ([] if args.skip_numpy else ["numpy"])
             + (["torch"] if have_torch else []))
    for threads in args.threads:
        # the implementations take turns, round after round, so that a noisy minute on the host
        # does not land on one of them only
        rounds = {impl: [] for impl in impls}
        for _ in range(args.rounds):
            for impl in impls:
                rounds[impl].append(run_worker(impl, threads, args.quick))
        everything["runs"][str(threads)] = {impl: fastest(r) for impl, r in rounds.items()}
    for threads in args.threads:
        everything["runs"][str(threads)]["summary"] = report(everything["runs"][str(threads)], threads)
    with open(args.json, "w") as f:
        json.dump(everything, f, indent=1)
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
