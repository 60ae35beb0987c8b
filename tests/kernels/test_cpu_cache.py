"""Where the CPU kernels' Numba cache lives, and warm-up covering every plan."""

from __future__ import annotations

import os

import pytest

from tinyconv.kernels import cpu
from tinyconv.kernels.cpu import dispatch


def test_a_user_cache_dir_wins(tmp_path):
    assert cpu.cache_dir_for(str(tmp_path), {"NUMBA_CACHE_DIR": "/somewhere"}) is None


def test_writable_package_uses_numbas_default(tmp_path):
    # no __pycache__ yet, but the folder is writable: Numba creates it there
    assert cpu.cache_dir_for(str(tmp_path), {}) is None
    (tmp_path / "__pycache__").mkdir()
    assert cpu.cache_dir_for(str(tmp_path), {}) is None


def test_read_only_package_falls_back_to_the_user_cache(tmp_path, monkeypatch):
    # os.access ignores permission bits for root, so "read-only" is simulated
    site = tmp_path / "site-packages" / "tinyconv" / "kernels" / "cpu"
    site.mkdir(parents=True)
    monkeypatch.setattr(cpu, "_writable", lambda path: False)
    environ = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    assert cpu.cache_dir_for(str(site), environ) == os.path.join(tmp_path, "xdg", "tinyconv",
                                                                 "numba")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cpu.cache_dir_for(str(site), {}) == os.path.join(tmp_path, "home", ".cache",
                                                            "tinyconv", "numba")


def test_warmup_runs_every_plan_the_heuristic_can_choose(monkeypatch):
    used = []
    original = dispatch.choose_plan

    def recording(*args):
        plan = original(*args)
        used.append(plan)
        return plan

    monkeypatch.setattr(dispatch, "choose_plan", recording)
    assert cpu.warmup(verbose=False) >= 0
    assert set(used) == set(dispatch.PLANS) - {"loops"}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_warmup_reports_each_dtype(dtype, capsys):
    cpu.warmup((dtype,))
    assert f"{dtype} kernels ready" in capsys.readouterr().err
