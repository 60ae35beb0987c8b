"""Where the CPU kernels' Numba cache lives (``settings.cache_dir_for``), and warm-up covering
every plan the heuristic can choose."""

from __future__ import annotations

import os

import pytest

from tinyconv.kernels import cpu
from tinyconv.kernels.cpu import dispatch, settings


def test_a_user_cache_dir_wins(tmp_path):
    assert settings.cache_dir_for(str(tmp_path), {"NUMBA_CACHE_DIR": "/somewhere"}) is None


def test_writable_package_uses_numbas_default(tmp_path):
    # no __pycache__ yet, but the folder is writable: Numba creates it there
    assert settings.cache_dir_for(str(tmp_path), {}) is None
    (tmp_path / "__pycache__").mkdir()
    assert settings.cache_dir_for(str(tmp_path), {}) is None


def test_read_only_package_falls_back_to_the_user_cache(tmp_path, monkeypatch):
    # os.access ignores permission bits for root, so "read-only" is simulated
    site = tmp_path / "site-packages" / "tinyconv" / "kernels" / "cpu"
    site.mkdir(parents=True)
    monkeypatch.setattr(settings, "_writable", lambda path: False)
    environ = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    assert settings.cache_dir_for(str(site), environ) == os.path.join(tmp_path, "xdg", "tinyconv",
                                                                 "numba")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert settings.cache_dir_for(str(site), {}) == os.path.join(tmp_path, "home", ".cache",
                                                            "tinyconv", "numba")


def test_warmup_runs_every_plan_the_heuristic_can_choose(monkeypatch):
    """Nothing is forced: the heuristic itself picks each plan (but the never-chosen "loops")
    on warm-up's problems, for each of the three steps that plan computes."""
    used = set()
    original = dispatch.choose_plan

    def recording(problem, step="forward"):
        plan = original(problem, step)
        used.add((plan.name, step))
        return plan

    monkeypatch.setattr(dispatch, "choose_plan", recording)
    assert cpu.warmup(verbose=False) >= 0
    expected = {(name, step) for name, plan in dispatch.PLANS.items() if name != "loops"
                for step in ("forward", "backward_input", "backward_weight")
                if step != "backward_input" or name != "batch_lanes"}
    assert used == expected


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_warmup_reports_each_dtype(dtype, capsys):
    cpu.warmup((dtype,))
    assert f"{dtype} kernels ready" in capsys.readouterr().err
