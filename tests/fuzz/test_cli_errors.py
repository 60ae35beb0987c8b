"""`tinyconv train` with bad options, each run as a real subprocess: exit status 2, one line on
stderr that says what is wrong, never a Python traceback (``--debug`` shows it instead)."""

from __future__ import annotations

import dataclasses
import importlib.util
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import tinyconv as tc

pytestmark = pytest.mark.skipif(importlib.util.find_spec("sklearn") is None,
                                reason="the digits data set needs scikit-learn")

README = Path(__file__).resolve().parents[2] / "README.md"


@dataclasses.dataclass(frozen=True)
class CliCase:
    args: tuple[str, ...]
    match: str  # a fragment of the one-line error


def _cases(files: dict[str, Path]) -> dict[str, CliCase]:
    """Name -> case; ``files`` holds the prepared bad files (see the ``files`` fixture)."""
    def case(match: str, *args: object) -> CliCase:
        return CliCase(tuple(str(a) for a in args), match)

    cases = {
        "lr inf": case("argument --lr: expected a finite number > 0, got inf", "--lr", "inf"),
        "lr nan": case("argument --lr: expected a finite number > 0, got nan", "--lr", "nan"),
        "lr zero": case("argument --lr: expected a finite number > 0, got 0", "--lr", "0"),
        "lr negative": case("expected a finite number > 0, got -1", "--lr", "-1"),
        "lr text": case("expected a number such as 0.001, got 'abc'", "--lr", "abc"),
        "epochs zero": case("argument --epochs: expected a whole number >= 1, got 0",
                            "--epochs", "0"),
        "epochs float": case("expected a whole number >= 1, got '2.5'", "--epochs", "2.5"),
        "batch negative": case("argument --batch-size: expected a whole number >= 1",
                               "--batch-size", "-3"),
        "seed text": case("argument --seed: invalid int value", "--seed", "x"),
        "model block": case("invalid choice: 'BasicBlock'", "--model", "BasicBlock"),
        "model helper": case("invalid choice: 'find_head'", "--model", "find_head"),
        "model class": case("invalid choice: 'LeNet5'", "--model", "LeNet5"),
        "model freeze": case("invalid choice: 'freeze_all_but'", "--model", "freeze_all_but"),
        "dataset": case("argument --dataset: invalid choice: 'cifar'", "--dataset", "cifar"),
        "optimizer": case("argument --optimizer: invalid choice", "--optimizer", "lamb"),
        "device": case("argument --device: invalid choice: 'tpu'", "--device", "tpu"),
        "unknown option": case("unrecognized arguments: --learning-rate", "--learning-rate", "1"),
        "fashion without files": case("fashion-mnist needs --data-root", "--dataset",
                                      "fashion-mnist"),
        "data root missing": case("are not both in", "--dataset", "mnist", "--data-root",
                                  files["dir"] / "no-such-folder"),
        "progress twice": case("argument --progress: not allowed with argument --no-progress",
                               "--progress"),
        "port text": case("argument --port: invalid int value: 'abc'", "--live", "--port", "abc"),
        "resume missing": case("no such file", "--resume", files["dir"] / "missing.npz"),
        "resume empty": case("empty.npz", "--resume", files["empty"]),
        "resume truncated": case("truncated.npz", "--resume", files["truncated"]),
        "resume corrupt": case("corrupt.npz", "--resume", files["corrupt"]),
        "resume text": case("README.md", "--resume", README),
        "resume other": case("not a checkpoint written by tinyconv train", "--resume",
                             files["weights"]),
        "resume finished": case("nothing left to train", "--resume", files["finished"],
                                "--epochs", "1"),
        "out is a file": case("error:", "--out", files["empty"]),
    }
    if not tc.cuda_available():
        cases["device cuda"] = case("--device cuda: no CUDA GPU is usable here",
                                    "--device", "cuda")
    return cases


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Bad checkpoints of every kind, and a finished 1-epoch one (saved, not trained: fast)."""
    from tinyconv import training

    folder = tmp_path_factory.mktemp("cli")
    config = training.TrainConfig(epochs=1, out=str(folder / "run"), progress=False)
    model = tc.models.lenet5()
    optimizer = training.build_optimizer(config, model.parameters())
    history = {key: [0.0] for key in ("train_loss", "train_acc", "test_loss", "test_acc")}
    finished = folder / "finished.npz"
    training.save_checkpoint(finished, model, optimizer, None, config, 1, history)
    whole = finished.read_bytes()
    paths = {"dir": folder, "finished": finished, "empty": folder / "empty.npz",
             "truncated": folder / "truncated.npz", "corrupt": folder / "corrupt.npz",
             "weights": folder / "weights.npz"}
    paths["empty"].write_bytes(b"")
    paths["truncated"].write_bytes(whole[: len(whole) // 2])
    middle = len(whole) // 2  # flip bytes inside the data: the zip's CRC no longer matches
    paths["corrupt"].write_bytes(whole[:middle] + bytes(b ^ 0xFF for b in whole[middle:
                                                                                   middle + 64])
                                 + whole[middle + 64:])
    tc.save(model.state_dict(), paths["weights"])  # loadable, but not a training checkpoint
    return paths


def _run(args: tuple[str, ...], cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "tinyconv", "train", "--no-progress",
               "--out", str(cwd / "out"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def results(files, tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """Every case's finished process, two at a time (each is mostly Python starting up)."""
    cases = _cases(files)
    cwd = tmp_path_factory.mktemp("cwd")
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = pool.map(lambda case: _run(case.args, cwd), cases.values())
        return dict(zip(cases, done, strict=True))


CASE_NAMES = sorted(_cases({key: Path(key) for key in
                            ("dir", "empty", "truncated", "corrupt", "weights", "finished")}))


@pytest.mark.parametrize("name", CASE_NAMES)
def test_bad_option_gives_one_line_and_exit_2(name, files, results):
    case = _cases(files)[name]
    done = results[name]
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    # argparse reports an option it does not know under the top-level command
    assert lines[0].startswith(("tinyconv train: error: ", "tinyconv: error: ")), lines[0]
    assert case.match in lines[0], lines[0]
    assert "allow_pickle" not in lines[0]  # NumPy's advice is not for the user of a CLI


def test_debug_shows_the_traceback(files, tmp_path):
    done = _run(("--resume", str(files["weights"]), "--debug"), tmp_path)
    assert done.returncode == 1 and "Traceback" in done.stderr
    assert "not a checkpoint written by tinyconv train" in done.stderr


def test_help_reads_as_plain_text(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tinyconv", "train", "--help"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    for option in ("--epochs", "--batch-size", "--lr", "--model", "--debug"):
        assert option in text
    assert "passes over the training set" in text and "images per optimizer step" in text
    assert "lenet5" in text and "BasicBlock" not in text and "find_head" not in text
    top = subprocess.run([sys.executable, "-m", "tinyconv", "--help"], capture_output=True,
                         text=True, timeout=300, cwd=tmp_path).stdout
    assert "``" not in done.stdout + top


# options that take no value, so nothing about them can be wrong on their own
NO_BAD_VALUE = {"-h": "prints the help", "--help": "prints the help",
                "--debug": "test_debug_shows_the_traceback", "--no-progress": "in every case",
                "--live": "a switch (its --port is a case)", "--no-browser": "a switch"}


def test_every_option_of_train_has_a_bad_case():
    from tinyconv.__main__ import _parser

    commands = next(action for action in _parser()._actions if action.dest == "command")
    options = {option for action in commands.choices["train"]._actions
               for option in action.option_strings}
    used = {arg for case in _cases({key: Path(key) for key in
                                    ("dir", "empty", "truncated", "corrupt", "weights",
                                     "finished")}).values() for arg in case.args}
    missing = options - used - set(NO_BAD_VALUE)
    assert not missing, f"add bad cases for tinyconv train {sorted(missing)} to _cases()"
