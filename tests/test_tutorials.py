"""Every tutorial runs as a plain script and exits 0 (each one asserts what its text claims);
then the documentation site builds, in strict mode, from the figures those runs saved.

The tutorials live in ``tutorials/`` as jupytext "percent" scripts. Each is run in a subprocess,
as a learner would run it (``python tutorials/NN_name.py``), with matplotlib's non-interactive
Agg backend and its figures going to one temporary folder shared by the whole module
(``TINYCONV_TUTORIAL_OUT``), which the docs build (``test_docs_site_builds``, last in this file)
renders into the tutorial pages. They need the ``tutorials`` extra (matplotlib, scikit-learn,
mlxtend, scikit-image) and scipy; the docs build needs the ``docs`` extra (mkdocs,
mkdocstrings).

Running all seventeen takes about 5 minutes on 2 CPU cores, tutorials 09-16 about 3 of them.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = ROOT / "tutorials"
SCRIPTS = sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))
# Tutorials that take longer than ~30 s on 2 CPU cores (none at the moment).
SLOW: set[str] = set()

MISSING = [name for name in ("matplotlib", "sklearn", "scipy", "hypothesis", "mlxtend")
           if importlib.util.find_spec(name) is None]
# what only some tutorials need, on top of that
EXTRA_NEEDS = {"16_faces_deepid": ["skimage"]}


@pytest.fixture(scope="module")
def figures(tmp_path_factory) -> Path:
    """One output folder for every tutorial of the session (their file names do not clash)."""
    return tmp_path_factory.mktemp("tutorial-output")


def test_tutorials_are_found():
    assert len(SCRIPTS) >= 16, f"expected the tutorials in {TUTORIALS}, found {SCRIPTS}"


@pytest.mark.skipif(bool(MISSING), reason=f"tutorials need {', '.join(MISSING)} "
                                          "(pip install -e '.[test,tutorials]')")
@pytest.mark.parametrize("script", [
    pytest.param(path, id=path.stem, marks=[pytest.mark.slow] if path.stem in SLOW else [])
    for path in SCRIPTS])
def test_tutorial_runs(script: Path, tmp_path: Path, figures: Path):
    missing = [name for name in EXTRA_NEEDS.get(script.stem, [])
               if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"{script.name} needs {', '.join(missing)} (pip install -e '.[tutorials]')")
    env = dict(os.environ, TINYCONV_TUTORIAL_OUT=str(figures), MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, (
        f"{script.name} exited with {result.returncode}\n--- stdout (end) ---\n"
        f"{result.stdout[-3000:]}\n--- stderr (end) ---\n{result.stderr[-5000:]}")


def test_every_tutorial_ends_with_exercises():
    for script in SCRIPTS[8:]:                        # 09 onwards (the issue-14 format)
        text = script.read_text(encoding="utf-8")
        assert "## Exercises" in text, f"{script.name} has no exercises section"


def test_docs_site_builds(tmp_path: Path, figures: Path):
    """``mkdocs build --strict``: README, course map, every tutorial page, the API reference.

    Runs after the tutorials (pytest keeps the file's order), so the pages show their figures;
    run alone it still builds, with a note in place of each figure.
    """
    for package in ("mkdocs", "mkdocstrings", "mkdocstrings_handlers.python"):
        if importlib.util.find_spec(package.split(".")[0]) is None or (
                "." in package and importlib.util.find_spec(package) is None):
            pytest.skip(f"the docs build needs {package} (pip install -e '.[docs]')")
    site = tmp_path / "site"
    env = dict(os.environ, TINYCONV_TUTORIAL_OUT=str(figures))
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                             "--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(site)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr[-6000:]}"
    assert (site / "index.html").exists() and (site / "tutorials" / "index.html").exists()
    for script in SCRIPTS:
        page = site / "tutorials" / script.stem / "index.html"
        assert page.exists(), f"no page for {script.name}"
    models_page = (site / "api" / "models" / "index.html").read_text(encoding="utf-8")
    assert "tinyconv.models.zfnet" in models_page and "DeepID" in models_page
    saved = sorted(figures.glob("*.png"))
    for figure in saved:                          # every figure the tutorials saved is shown
        assert (site / "tutorials" / "figures" / figure.name).exists(), figure.name
