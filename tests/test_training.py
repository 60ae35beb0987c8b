"""The main job: `tinyconv train` (tinyconv.__main__ and tinyconv.training)."""

import importlib.util
import re

import numpy as np
import pytest

import tinyconv as tc
from tinyconv import training
from tinyconv.__main__ import main

pytestmark = pytest.mark.skipif(importlib.util.find_spec("sklearn") is None,
                                reason="the digits data set needs scikit-learn "
                                       "(pip install tinyconv[tutorials])")


def _args(out, *extra):
    return ["train", "--epochs", "1", "--out", str(out), "--no-progress", *extra]


def test_train_reports_saves_a_checkpoint_and_curves(tmp_path, capsys):
    assert main(_args(tmp_path)) == 0
    printed = capsys.readouterr().out
    assert "training lenet5 (61,706 parameters) on digits" in printed
    assert "epoch   1/1" in printed and "test acc" in printed
    assert (tmp_path / "checkpoint.npz").exists()
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "curves.png").stat().st_size > 1000
    state = tc.load(tmp_path / "checkpoint.npz")
    assert state["epoch"] == 1 and len(state["history"]["test_acc"]) == 1
    model = tc.models.lenet5()
    model.load_state_dict(state["model"])  # the checkpoint holds a loadable model


def test_same_seed_gives_the_same_numbers(tmp_path):
    config = training.TrainConfig(epochs=1, out=str(tmp_path / "a"), progress=False)
    first = training.fit(config, log=lambda line: None)
    config.out = str(tmp_path / "b")
    second = training.fit(config, log=lambda line: None)
    assert first == second


def test_resume_continues_exactly_where_the_run_stopped(tmp_path):
    quiet = dict(log=lambda line: None)
    straight = training.fit(training.TrainConfig(epochs=2, out=str(tmp_path / "straight"),
                                                 progress=False), **quiet)
    # a 2-epoch run stopped by Ctrl-C after epoch 1, then resumed, ends exactly as `straight`
    planned = training.TrainConfig(epochs=2, out=str(tmp_path / "planned"), progress=False)
    calls = []

    def stop_after_first_epoch(*args, **kwargs):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return real_train_one_epoch(*args, **kwargs)

    real_train_one_epoch = training.train_one_epoch
    training.train_one_epoch = stop_after_first_epoch
    try:
        with pytest.raises(KeyboardInterrupt):
            training.fit(planned, **quiet)
    finally:
        training.train_one_epoch = real_train_one_epoch
    resumed = training.fit(planned, resume=str(tmp_path / "planned" / "checkpoint.npz"), **quiet)
    assert resumed == straight


def test_ctrl_c_exits_cleanly_after_saving(tmp_path, monkeypatch, capsys):
    real_train_one_epoch = training.train_one_epoch
    calls = []

    def interrupted_second_epoch(*args, **kwargs):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return real_train_one_epoch(*args, **kwargs)

    monkeypatch.setattr(training, "train_one_epoch", interrupted_second_epoch)
    assert main(_args(tmp_path) + ["--epochs", "3"]) == 130
    assert "interrupted" in capsys.readouterr().out
    assert tc.load(tmp_path / "checkpoint.npz")["epoch"] == 1


@pytest.mark.parametrize("argument, message", [(["--model", "nope"], "invalid choice: 'nope'"),
                                               (["--dataset", "fashion-mnist"], "--data-root")])
def test_bad_choices_are_reported_not_raised(tmp_path, capsys, argument, message):
    try:
        status = main(_args(tmp_path, *argument))
    except SystemExit as exit:  # argparse refuses a bad choice itself
        status = exit.code
    assert status == 2
    assert message in capsys.readouterr().err


def test_other_optimizers_and_models_run(tmp_path):
    config = training.TrainConfig(model="resnet18", dataset="shapes", epochs=1, batch_size=64,
                                  optimizer="sgd", out=str(tmp_path), progress=False)
    train_set, _, image_shape, classes = training.load_datasets(config)
    model = training.build_model(config, image_shape, len(classes))
    optimizer = training.build_optimizer(config, model.parameters())
    images, labels = next(iter(tc.data.DataLoader(train_set, batch_size=4)))
    loss = tc.nn.functional.cross_entropy(model(images), labels)
    loss.backward()
    optimizer.step()
    assert isinstance(optimizer, tc.optim.SGD) and loss.item() > 0



# --- resume, interruption and bad settings (issue 12) -------------------------------------------


def _quick(monkeypatch, seen_lrs: list | None = None, interrupt_at: int | None = None):
    """Replace the training pass by a stub (the tests below are about the loop around it): it
    records the learning rate of each epoch, and raises Ctrl-C in epoch ``interrupt_at``."""
    def one_epoch(model, loader, optimizer, *args, **kwargs):
        if seen_lrs is not None:
            seen_lrs.append(optimizer.param_groups[0]["lr"])
        if interrupt_at is not None and len(seen_lrs or [None]) == interrupt_at:
            raise KeyboardInterrupt
        return 1.0, 0.5

    monkeypatch.setattr(training, "train_one_epoch", one_epoch)


def _config(tmp_path, **changes) -> training.TrainConfig:
    return training.TrainConfig(**{"out": str(tmp_path), "progress": False, **changes})


def test_resuming_a_finished_run_continues_the_longer_schedule(tmp_path, monkeypatch):
    quiet = dict(log=lambda line: None)
    straight: list = []
    _quick(monkeypatch, straight)
    training.fit(_config(tmp_path / "straight", epochs=4), **quiet)
    resumed: list = []
    _quick(monkeypatch, resumed)
    training.fit(_config(tmp_path / "short", epochs=2), **quiet)
    training.fit(_config(tmp_path / "short", epochs=4),
                 resume=str(tmp_path / "short" / "checkpoint.npz"), **quiet)
    # epochs 3 and 4 at the rates of a run planned with 4 epochs (not at lr = 0, where the
    # 2-epoch cosine ended)
    assert resumed[2:] == pytest.approx(straight[2:]) and resumed[2] > 0
    assert tc.load(tmp_path / "short" / "checkpoint.npz")["epoch"] == 4


def test_resuming_with_nothing_left_to_train_says_so(tmp_path, monkeypatch, capsys):
    _quick(monkeypatch)
    training.fit(_config(tmp_path, epochs=2), log=lambda line: None)
    checkpoint = str(tmp_path / "checkpoint.npz")
    with pytest.raises(ValueError, match="nothing left to train: .* already holds 2 epochs and "
                                         "--epochs is 2; pass --epochs 3 or more"):
        training.fit(_config(tmp_path, epochs=2), resume=checkpoint, log=lambda line: None)
    assert main(_args(tmp_path, "--resume", checkpoint)) == 2
    assert "nothing left to train" in capsys.readouterr().err


def test_ctrl_c_in_the_first_epoch_claims_no_checkpoint(tmp_path, monkeypatch):
    lines: list = []
    _quick(monkeypatch, [], interrupt_at=1)
    with pytest.raises(KeyboardInterrupt):
        training.fit(_config(tmp_path, epochs=3), log=lines.append)
    said = "\n".join(lines)
    assert "no epoch finished, so no checkpoint was written" in said
    assert "--resume" not in said and "checkpoint:" not in said
    assert not (tmp_path / "checkpoint.npz").exists()


def test_ctrl_c_after_resuming_says_the_old_checkpoint_is_unchanged(tmp_path, monkeypatch):
    _quick(monkeypatch)
    training.fit(_config(tmp_path / "a", epochs=1), log=lambda line: None)
    lines: list = []
    _quick(monkeypatch, [], interrupt_at=1)
    with pytest.raises(KeyboardInterrupt):
        training.fit(_config(tmp_path / "b", epochs=3), log=lines.append,
                     resume=str(tmp_path / "a" / "checkpoint.npz"))
    said = "\n".join(lines)
    assert "nothing new was saved" in said and "still holds 1 epoch" in said


def test_stray_temporary_checkpoints_are_removed_on_the_next_start(tmp_path, monkeypatch):
    _quick(monkeypatch)
    stray = tmp_path / ".checkpoint.npz.x1y2z3.tmp"
    stray.write_bytes(b"half a checkpoint")
    other = tmp_path / "notes.tmp"  # not ours: left alone
    other.write_text("keep")
    training.fit(_config(tmp_path, epochs=1), log=lambda line: None)
    assert not stray.exists() and other.exists()


def test_a_diverging_run_stops_with_a_clear_error(tmp_path, capsys):
    model = tc.nn.Sequential(tc.nn.Flatten(), tc.nn.Linear(4, 3))
    with tc.no_grad():
        model[1].weight.fill_(float("nan"))
    data = tc.data.TensorDataset(tc.randn(8, 1, 2, 2), tc.tensor([0, 1, 2, 0, 1, 2, 0, 1]))
    loader = tc.data.DataLoader(data, batch_size=4)
    optimizer = tc.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(FloatingPointError, match=r"training diverged: the loss became nan "
                                                 r"after 0 images .*lower the learning rate "
                                                 r"\(--lr, now 0.1\)"):
        training.train_one_epoch(model, loader, optimizer)


@pytest.mark.parametrize("changes, message", [
    ({"lr": float("inf")}, "--lr must be a finite number > 0, got inf"),
    ({"lr": 0.0}, "--lr must be a finite number > 0, got 0.0"),
    ({"lr": "0.1"}, "--lr must be a number > 0"),
    ({"epochs": 0}, "--epochs must be an int >= 1, got 0"),
    ({"batch_size": 2.5}, "--batch-size must be an int >= 1, got 2.5"),
    ({"model": "BasicBlock"}, "unknown model 'BasicBlock'; choose from alexnet, "),
    ({"optimizer": "lamb"}, "unknown optimizer 'lamb'"),
    ({"schedule": "linear"}, "unknown schedule 'linear'"),
])
def test_bad_settings_are_refused_before_anything_is_built(tmp_path, changes, message):
    config = _config(tmp_path / "never", **changes)
    with pytest.raises(ValueError, match=re.escape(message)):
        training.fit(config, log=lambda line: None)
    assert not (tmp_path / "never").exists()


def test_model_choices_are_the_builders_only():
    builders = training.model_builders()
    assert {"lenet5", "alexnet", "resnet18", "mobilenet_v2", "vgg16"} <= set(builders)
    for not_a_builder in ("BasicBlock", "LeNet5", "find_head", "freeze_all_but",
                          "replace_head", "trainable_parameters", "vgg"):
        assert not_a_builder not in builders


def test_batch_norm_recalibration_averages_fresh_batch_statistics():
    layer = tc.nn.BatchNorm2d(2, momentum=0.1, dtype=tc.float64)
    model = tc.nn.Sequential(layer)
    images = tc.randn(12, 2, 3, 3, dtype=tc.float64) * 3 + 1
    data = tc.data.TensorDataset(images, tc.zeros(12, dtype=tc.int64))
    model.eval()
    before = tc.default_generator().bit_generator.state
    training.recalibrate_batch_norm(model, data, batches=2, batch_size=4)
    first8 = images.numpy()[:8]
    np.testing.assert_allclose(layer.running_mean.numpy(), first8.mean(axis=(0, 2, 3)))
    batch_vars = [first8[i:i + 4].var(axis=(0, 2, 3), ddof=1) for i in (0, 4)]
    np.testing.assert_allclose(layer.running_var.numpy(), np.mean(batch_vars, axis=0))
    assert layer.momentum == 0.1 and not model.training  # settings restored
    assert tc.default_generator().bit_generator.state == before


def test_per_model_optimizer_defaults_and_notes(tmp_path, monkeypatch):
    monkeypatch.setitem(training.MODEL_OPTIMIZERS, "lenet5", ("sgd", 0.02))
    monkeypatch.setitem(training.MODEL_NOTES, "lenet5", "slow to start")
    config = training.TrainConfig()
    assert (config.optimizer, config.learning_rate) == ("sgd", 0.02)
    chosen = training.TrainConfig(optimizer="adam")  # the user's choice wins, at its own rate
    assert (chosen.optimizer, chosen.learning_rate) == ("adam", training.OPTIMIZERS["adam"][1])
    assert training.TrainConfig(lr=0.5).learning_rate == 0.5
    assert training.TrainConfig(model="resnet18").optimizer == "adam"
    lines: list = []
    _quick(monkeypatch)
    training.fit(_config(tmp_path, epochs=1), log=lines.append)
    assert lines[1] == "note: slow to start" and "with sgd lr=0.02" in lines[0]


def test_models_slow_to_start_get_their_training_setup():
    config = training.TrainConfig(model="vgg11")
    vgg = training.build_model(config, (1, 32, 32), 10)
    assert any(isinstance(m, tc.nn.BatchNorm2d) for m in vgg.modules())  # MODEL_BUILD_OPTIONS
    alexnet = training.build_model(training.TrainConfig(model="alexnet"), (1, 32, 32), 10)
    conv = alexnet.features[3]  # 64 -> 192, 5x5: He normal has std sqrt(2 / (64 * 25))
    assert float(conv.weight.std().item()) == pytest.approx((2 / (64 * 25)) ** 0.5, rel=0.05)
    assert training.TrainConfig(model="alexnet").learning_rate == 1e-4
