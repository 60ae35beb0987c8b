"""tc.save / tc.load: round trips, no pickle, atomic writes, clear errors."""

import os

import numpy as np
import pytest

import tinyconv as tc


def _state():
    return {
        "model": {"conv.weight": tc.randn(2, 1, 3, 3), "bn.num_batches_tracked": tc.tensor(3)},
        "optimizer": {"state": {0: {"step": 4, "momentum_buffer": tc.ones(2)}},
                      "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0, 1],
                                        "nesterov": False, "foreach": None}]},
        "history": [0.5, float("inf")],
        "array": np.arange(3, dtype=np.float64),
    }


def test_round_trip_keeps_structure_types_and_values(tmp_path):
    state = _state()
    tc.save(state, tmp_path / "ckpt.npz")
    loaded = tc.load(tmp_path / "ckpt.npz")
    assert isinstance(loaded["model"]["conv.weight"], tc.Tensor)
    np.testing.assert_array_equal(loaded["model"]["conv.weight"].numpy(),
                                  state["model"]["conv.weight"].numpy())
    assert loaded["model"]["bn.num_batches_tracked"].dtype == tc.int64
    assert list(loaded["optimizer"]["state"]) == [0]  # int keys stay ints
    assert loaded["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert loaded["optimizer"]["param_groups"][0]["foreach"] is None
    assert loaded["history"] == [0.5, float("inf")]
    assert isinstance(loaded["array"], np.ndarray) and loaded["array"].dtype == np.float64


def test_file_loads_without_pickle(tmp_path):
    tc.save(_state(), tmp_path / "ckpt.npz")
    with np.load(tmp_path / "ckpt.npz", allow_pickle=False) as archive:
        assert "__structure__" in archive.files


def test_model_round_trip_through_load_state_dict(tmp_path):
    tc.manual_seed(0)
    model = tc.nn.Sequential(tc.nn.Conv2d(1, 2, 3), tc.nn.BatchNorm2d(2))
    tc.save(model.state_dict(), tmp_path / "m.npz")
    tc.manual_seed(1)
    other = tc.nn.Sequential(tc.nn.Conv2d(1, 2, 3), tc.nn.BatchNorm2d(2))
    other.load_state_dict(tc.load(tmp_path / "m.npz"))
    for (name, a), (_, b) in zip(model.state_dict().items(), other.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)


def test_saving_a_module_itself_is_refused_with_advice(tmp_path):
    with pytest.raises(TypeError, match=r"state_dict\(\)"):
        tc.save(tc.nn.Linear(2, 2), tmp_path / "m.npz")


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    tc.save({"x": tc.ones(2)}, path)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("simulated crash while writing")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        tc.save({"x": tc.zeros(2)}, path)
    monkeypatch.undo()
    np.testing.assert_array_equal(tc.load(path)["x"].numpy(), np.ones(2, dtype=np.float32))
    assert os.listdir(tmp_path) == ["ckpt.npz"]  # no temporary file left behind


def test_loading_a_foreign_file_is_a_clear_error(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.ones(2))
    with pytest.raises(ValueError, match="not one written by tc.save"):
        tc.load(tmp_path / "other.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a tinyconv checkpoint"):
        tc.load(tmp_path / "junk.npz")
    with pytest.raises(FileNotFoundError):
        tc.load(tmp_path / "missing.npz")


def test_unsupported_values_are_refused(tmp_path):
    with pytest.raises(TypeError, match="cannot save an object of type"):
        tc.save({"f": lambda: 0}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="keys must be str or int"):
        tc.save({(1, 2): 3}, tmp_path / "x.npz")
