"""The main job: `tinyconv train` (tinyconv.__main__ and tinyconv.training)."""

import importlib.util

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


@pytest.mark.parametrize("argument, message", [(["--model", "nope"], "unknown model 'nope'"),
                                               (["--dataset", "fashion-mnist"], "--data-root")])
def test_bad_choices_are_reported_not_raised(tmp_path, capsys, argument, message):
    assert main(_args(tmp_path, *argument)) == 2
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

