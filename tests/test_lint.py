"""The linter is part of the test suite: ``ruff check`` over the whole repository (rules in
pyproject.toml: E, F, I, B, UP) must report nothing."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_reports_nothing():
    if shutil.which("ruff") is None:
        pytest.skip("ruff is not installed (it comes with the [test] extra)")
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
