"""``tinyconv show`` and ``tinyconv train --live`` as a learner runs them: in a subprocess, shut
down by Ctrl-C (SIGINT) or by the end of training, always cleanly."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tinyconv.show.cli import find_checkpoint

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT to a subprocess")


def start(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tinyconv", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=os.environ | {"PYTHONUNBUFFERED": "1"})


def read_until(process: subprocess.Popen, pattern: str, seconds: float = 60) -> re.Match:
    """Read the process's stdout line by line until ``pattern`` matches a line."""
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + seconds
    seen = []
    while time.monotonic() < deadline:
        if selector.select(timeout=0.2):
            line = process.stdout.readline()
            if not line:
                break
            seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match
    process.kill()
    raise AssertionError(f"no line matched {pattern!r}; stdout: {''.join(seen)!r}; "
                         f"stderr: {process.stderr.read()!r}")


def get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status


def refused(url: str) -> bool:
    try:
        get(url)
    except (urllib.error.URLError, ConnectionError):
        return True
    return False


def test_show_serves_until_ctrl_c(checkpoint, tmp_path):
    process = start("show", str(checkpoint), "--no-browser", cwd=tmp_path)
    url = read_until(process, r"at (http://127\.0\.0\.1:\d+/)").group(1)
    assert get(url) == 200 and get(url + "api/model") == 200
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err
    assert refused(url)


def test_train_live_server_stops_when_training_ends(tmp_path):
    process = start("train", "--live", "--no-browser", "--epochs", "1", "--no-progress",
                    "--out", str(tmp_path / "run"), cwd=tmp_path)
    url = read_until(process, r"watch at (http://127\.0\.0\.1:\d+/)").group(1)
    assert get(url) == 200
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "epoch   1/1" in out and "the page's server has stopped" in out
    assert "Traceback" not in err
    assert (tmp_path / "run" / "checkpoint.npz").exists()
    assert refused(url)


def test_train_live_ctrl_c_stops_training_and_server(tmp_path):
    process = start("train", "--live", "--no-browser", "--epochs", "500", "--no-progress",
                    "--out", str(tmp_path / "run"), cwd=tmp_path)
    url = read_until(process, r"watch at (http://127\.0\.0\.1:\d+/)").group(1)
    read_until(process, r"epoch   1/500")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "interrupted" in out and "the page's server has stopped" in out
    assert "Traceback" not in err
    assert refused(url)


def test_show_export_and_errors(checkpoint, tmp_path):
    page = tmp_path / "page.html"
    done = subprocess.run([sys.executable, "-m", "tinyconv", "show", str(checkpoint),
                           "--export", str(page), "--image", "2"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "test image #2" in done.stdout and page.stat().st_size > 10_000
    missing = subprocess.run([sys.executable, "-m", "tinyconv", "show", "nothing.npz",
                              "--no-browser"], cwd=tmp_path, capture_output=True, text=True,
                             timeout=120)
    assert missing.returncode == 2
    assert missing.stderr.startswith("tinyconv show: error:") and "nothing.npz" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_default_checkpoint_is_the_newest_under_runs(tmp_path):
    assert find_checkpoint(tmp_path / "runs") is None
    for index, name in enumerate(["lenet5-digits", "resnet18-shapes"]):
        folder = tmp_path / "runs" / name
        folder.mkdir(parents=True)
        (folder / "checkpoint.npz").write_bytes(b"")
        os.utime(folder / "checkpoint.npz", (1000 + index, 1000 + index))
    assert find_checkpoint(tmp_path / "runs") == tmp_path / "runs/resnet18-shapes/checkpoint.npz"


def test_show_trains_a_model_first_when_there_is_no_checkpoint(tmp_path, monkeypatch, capsys):
    import dataclasses

    import tinyconv.training
    from tinyconv.__main__ import main

    @dataclasses.dataclass
    class OneEpoch(tinyconv.training.TrainConfig):  # the default run, shortened for the test
        epochs: int = 1
        progress: bool | None = False

    monkeypatch.setattr(tinyconv.training, "TrainConfig", OneEpoch)
    monkeypatch.chdir(tmp_path)
    assert main(["show", "--export", "page.html"]) == 0
    out = capsys.readouterr().out
    assert "no checkpoint under runs/ yet: training lenet5 on digits first" in out
    assert (tmp_path / "runs/lenet5-digits/checkpoint.npz").exists()
    assert (tmp_path / "page.html").stat().st_size > 10_000


def test_a_busy_port_is_a_one_line_error(checkpoint, capsys):
    import socket

    from tinyconv.__main__ import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["show", str(checkpoint), "--port", str(port), "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tinyconv show: error:") and "in use" in err


@pytest.mark.parametrize("command", [["show"], ["train", "--live"]])
@pytest.mark.parametrize("port, message", [("70000", "invalid port '70000': a whole number from 0"),
                                           ("-1", "invalid port '-1'"),
                                           ("abc", "invalid int value: 'abc'")])
def test_bad_ports_are_refused_by_the_parser(command, port, message, capsys):
    from tinyconv.__main__ import main

    with pytest.raises(SystemExit) as exit_:
        main([*command, "--port", port, "--no-browser"])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_image_is_checked_and_goes_with_export(checkpoint, tmp_path, capsys):
    from tinyconv.__main__ import main

    assert main(["show", str(checkpoint), "--image", "3", "--no-browser"]) == 2
    assert "--image N goes with --export" in capsys.readouterr().err
    assert main(["show", str(checkpoint), "--export", str(tmp_path / "p.html"),
                 "--image", "5000"]) == 2
    assert "--image 5000: the test images are numbered 0 to 358" in capsys.readouterr().err
    assert not (tmp_path / "p.html").exists()
