"""The benchmark harness's pure parts (``benchmarks/run.py``): the targets table and the
generated Markdown, on made-up timings (no timing is measured here, so nothing can be flaky)."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks"))
import run  # noqa: E402
from cases import CONV_CASES, POOL_CASES  # noqa: E402
from models import INFERENCE, MODELS  # noqa: E402


def fake_results(tc_scale: float) -> dict:
    """One thread count's worker results: PyTorch takes 1 ms everywhere, tinyconv
    ``tc_scale`` ms, except lenet_c3, where tinyconv takes twice as long again."""
    def times(scale):
        return {"layer_fwd": scale, "layer_fwdbwd": 3 * scale, "kernel_fwd": scale,
                "kernel_fwdbwd": 3 * scale}
    tc = {"conv": {name: times(tc_scale * (2 if name == "lenet_c3" else 1) * 1e-3)
                   for name in CONV_CASES},
          "pool": {name: times(tc_scale * 1e-3) for name in POOL_CASES},
          "models": {name: {"step": tc_scale * 1e-2, "optimizer": "tc.optim.SGD"}
                     for name in MODELS},
          "inference": {name: {"forward": tc_scale * 1e-2} for name in INFERENCE},
          "plans": {name: "im2col" for name in CONV_CASES}}
    torch = {"conv": {name: times(1e-3) for name in CONV_CASES},
             "pool": {name: times(1e-3) for name in POOL_CASES},
             "models": {name: {"step": 1e-2} for name in MODELS},
             "inference": {name: {"forward": 1e-2} for name in INFERENCE}}
    return {"tinyconv": tc, "torch": torch}


@pytest.fixture
def everything(capsys) -> dict:
    runs = {"1": fake_results(1.0), "2": fake_results(0.5)}  # tinyconv 2x faster at 2 threads
    for threads, results in runs.items():
        results["summary"] = run.report(results, int(threads))
    capsys.readouterr()
    return {"platform": "test", "python": "3.11", "cpu_count": 2, "date": "today", "runs": runs}


def test_the_summary_holds_every_ratio_the_targets_need(everything):
    summary = everything["runs"]["2"]["summary"]
    assert summary["conv_fwd_worst"] == ["lenet_c3", pytest.approx(1.0)]
    assert summary["conv_fwdbwd_worst"] == ["lenet_c3", pytest.approx(1.0)]
    assert summary["model_ratio"]["lenet5"] == pytest.approx(2.0)
    assert summary["inference_ratio"]["lenet5_b256"] == pytest.approx(2.0)


def test_targets_are_judged_at_two_threads(everything):
    rows = {row["key"]: row for row in
            run.target_rows({t: r["summary"] for t, r in everything["runs"].items()})}
    # 2 threads: every ratio 2.0 except the worst cases (1.0)
    assert rows["conv_fwdbwd_geomean"]["met"] is True
    assert rows["conv_fwdbwd_worst"]["met"] is True  # 1.0 >= 0.8
    assert rows["train_lenet5"]["values"]["1"] == (pytest.approx(1.0), "")
    assert rows["train_lenet5"]["met"] is True  # 2.0 >= 1.2, though 1 thread alone would fail
    assert rows["conv_fwd_worst"]["values"]["2"] == (pytest.approx(1.0), "lenet_c3")
    assert "cold_first_step_s" not in rows  # not measured without --startup
    assert len(rows) == len(run.TARGETS) - 1


def test_a_missed_target_says_so_and_lower_is_better_for_seconds():
    summaries = {"2": {"conv_fwd_geomean": 0.74, "cold_first_step_s": 9.5}}
    rows = {row["key"]: row for row in run.target_rows(summaries)}
    assert rows["conv_fwd_geomean"]["met"] is False
    assert rows["cold_first_step_s"]["met"] is False  # 9.5 s is not < 6 s
    assert run.target_rows({"2": {"cold_first_step_s": 5.0}})[0]["met"] is True
    text = "\n".join(run.format_target_rows(run.target_rows(summaries)))
    assert "NOT met" in text and "0.74" in text and "< 6" in text


def test_markdown_opens_with_the_targets_table(everything):
    text = run.markdown(everything, "python benchmarks/run.py --markdown")
    assert text.startswith("# tinyconv benchmark results")
    targets = text.index("## Targets")
    assert targets < text.index("## 1 thread(s)")
    assert "| LeNet-5 training steps/s, batch 64 (x PyTorch) | 1.00 | 2.00 | ≥ 1.2 | met |" in text
    assert "| lenet5_b256 inference (forward passes/s) |" in text
