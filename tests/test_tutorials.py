"""Every tutorial runs as a plain script and exits 0 (each one asserts what its text claims).

The tutorials live in ``tutorials/`` as jupytext "percent" scripts. Each is run in a subprocess,
as a learner would run it (``python tutorials/NN_name.py``), with its figures and files going to
a temporary folder (``TINYCONV_TUTORIAL_OUT``) and matplotlib's non-interactive Agg backend.
They need the ``tutorials`` extra (matplotlib, scikit-learn for the bundled digits) and scipy.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parent.parent / "tutorials"
SCRIPTS = sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))
# Tutorials that take longer than ~30 s on 2 CPU cores (none at the moment).
SLOW: set[str] = set()

MISSING = [name for name in ("matplotlib", "sklearn", "scipy", "hypothesis")
           if importlib.util.find_spec(name) is None]


def test_tutorials_are_found():
    assert len(SCRIPTS) >= 8, f"expected the tutorials in {TUTORIALS}, found {SCRIPTS}"


@pytest.mark.skipif(bool(MISSING), reason=f"tutorials need {', '.join(MISSING)} "
                                          "(pip install -e '.[test,tutorials]')")
@pytest.mark.parametrize("script", [
    pytest.param(path, id=path.stem, marks=[pytest.mark.slow] if path.stem in SLOW else [])
    for path in SCRIPTS])
def test_tutorial_runs(script: Path, tmp_path: Path):
    env = dict(os.environ, TINYCONV_TUTORIAL_OUT=str(tmp_path / "out"), MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, (
        f"{script.name} exited with {result.returncode}\n--- stdout (end) ---\n"
        f"{result.stdout[-3000:]}\n--- stderr (end) ---\n{result.stderr[-5000:]}")
