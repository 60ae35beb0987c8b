"""Shared fixtures of the tinyconv show tests: one trained checkpoint for the whole session, a
server on a free port, and (when Chromium is installed) one headless browser.

Screenshots go to ``$TINYCONV_ARTIFACTS/show`` when that variable is set (CI uploads the folder),
else into pytest's temporary folder; the path is printed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tinyconv.show.network import model_from_checkpoint
from tinyconv.show.server import ShowApp, start_server
from tinyconv.training import TrainConfig, fit

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """A LeNet-5 trained for one epoch on the digits (a few seconds), as tinyconv train writes."""
    out = tmp_path_factory.mktemp("run")
    fit(TrainConfig(epochs=1, out=str(out), progress=False), log=lambda line: None)
    return out / "checkpoint.npz"


@pytest.fixture(scope="session")
def network(checkpoint):
    return model_from_checkpoint(str(checkpoint))[1]


@pytest.fixture(scope="session")
def show_server(network):
    """``tinyconv show``'s server for the session's checkpoint, on a free port."""
    server, thread = start_server(ShowApp(network))
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> Path:
    root = os.environ.get("TINYCONV_ARTIFACTS")
    folder = Path(root) / "show" if root else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots of the show pages: {folder}")
    return folder


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium driven by Selenium (Debian's chromium + chromium-driver packages,
    installed by .ci/install-extras)."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("needs chromium and chromedriver (apt-get install chromium chromium-driver, "
                    "see .ci/install-extras)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (test extra)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--window-size=1500,1100", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(20)
    yield driver
    driver.quit()
