"""tc.save / tc.load on tinyconv's .npz: round trips, no pickle, atomic writes, one error type for
every bad file (the other formats are tested in tests/interop/)."""

import os
import zipfile

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
    for (name, a), (_, b) in zip(model.state_dict().items(), other.state_dict().items(),
                                 strict=True):
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


@pytest.mark.parametrize("name", ["ckpt.npz", "ckpt.pth", "ckpt.safetensors"])
def test_a_crash_while_writing_keeps_the_previous_file_in_every_format(tmp_path, monkeypatch,
                                                                       name):
    if name.endswith(".safetensors"):
        pytest.importorskip("safetensors")
    path = tmp_path / name
    tc.save({"x": tc.ones(2)}, path)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("simulated crash while the bytes reach the disk")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        tc.save({"x": tc.zeros(2)}, path)
    monkeypatch.undo()
    np.testing.assert_array_equal(tc.load(path)["x"].numpy(), np.ones(2, dtype=np.float32))
    assert os.listdir(tmp_path) == [name]


def test_loading_a_foreign_file_is_a_clear_error(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.ones(2))
    with pytest.raises(tc.LoadError, match="not one written by tc.save"):
        tc.load(tmp_path / "other.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(tc.LoadError, match="unknown format"):
        tc.load(tmp_path / "junk.npz")
    with pytest.raises(FileNotFoundError):  # a LoadError that is also a FileNotFoundError
        tc.load(tmp_path / "missing.npz")
    with pytest.raises(tc.LoadError, match="no such file"):
        tc.load(tmp_path / "missing.npz")
    with pytest.raises(tc.LoadError, match="not a regular file"):
        tc.load(tmp_path)


def _saved_bytes(tmp_path):
    path = tmp_path / "good.npz"
    tc.save({"w": tc.arange(64, dtype=tc.float32)}, path)
    return path.read_bytes()


@pytest.mark.parametrize("damage, message", [
    (lambda data: b"", "empty"),
    (lambda data: data[: len(data) // 2], "truncated or corrupt"),
    (lambda data: data[:-1], "truncated or corrupt"),
    # flip one byte inside the stored array: the zip's CRC-32 check fails
    (lambda data: data.replace(np.arange(64, dtype=np.float32)[10:12].tobytes(),
                               np.zeros(2, dtype=np.float32).tobytes()), "corrupt"),
])
def test_every_damaged_file_is_one_error_naming_the_path(tmp_path, damage, message):
    path = tmp_path / "damaged.npz"
    path.write_bytes(damage(_saved_bytes(tmp_path)))
    with pytest.raises(tc.LoadError, match=message) as raised:
        tc.load(path)
    assert raised.value.path == str(path) and str(path) in str(raised.value)


def test_a_header_claiming_a_huge_array_is_refused_before_allocating(tmp_path):
    # a well-formed archive (good CRCs) whose .npy header says 10**12 elements (4 TB) while the
    # entry holds 64 floats: refused from the header alone (the new shape takes the place of
    # some of the header's padding, so the header keeps its length)
    good = tmp_path / "good.npz"
    tc.save({"w": tc.arange(64, dtype=tc.float32)}, good)
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(path, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            original = b"'shape': (64,), }" + b" " * 11
            target.writestr(name, data.replace(original, b"'shape': (1000000000000,), }"))
    with pytest.raises(tc.LoadError, match=r"claims 4,000,000,000,000 bytes .* holds"):
        tc.load(path)


def test_save_refuses_unknown_formats(tmp_path):
    with pytest.raises(ValueError, match="format must be one of"):
        tc.save({"w": tc.ones(2)}, tmp_path / "x.bin", format="pickle")


def test_unsupported_values_are_refused(tmp_path):
    with pytest.raises(TypeError, match="cannot save an object of type"):
        tc.save({"f": lambda: 0}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="keys must be str or int"):
        tc.save({(1, 2): 3}, tmp_path / "x.npz")


def test_the_size_limit_also_guards_compressed_entries(tmp_path, monkeypatch):
    # a compressed entry may legitimately expand beyond the file's size: the configurable limit
    # (default: the machine's memory) is what refuses it
    np.savez_compressed(tmp_path / "packed.npz", __structure__=np.array(
        '{"format": "tinyconv-state/1", "object": {"__ndarray__": "a"}}'), a=np.zeros(10_000))
    assert tc.load(tmp_path / "packed.npz").shape == (10_000,)
    monkeypatch.setattr(tc.serialization, "MAX_LOAD_BYTES", 50_000)
    with pytest.raises(tc.LoadError, match=r"would need .* GiB, more than the limit"):
        tc.load(tmp_path / "packed.npz")


def test_unreadable_file(tmp_path, monkeypatch):
    path = tmp_path / "locked.npz"
    tc.save({"w": tc.ones(2)}, path)

    def refuse(*args, **kwargs):  # what open() does without read permission (root may read all)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tc.serialization, "_sniff", refuse)
    with pytest.raises(tc.LoadError, match=r"cannot be read \(PermissionError: Permission denied"):
        tc.load(path)


def test_load_state_dict_reports_every_problem_and_changes_nothing():
    model = tc.nn.Sequential(tc.nn.Conv2d(1, 2, 3), tc.nn.BatchNorm2d(2))
    before = {key: value.numpy().copy() for key, value in model.state_dict().items()}
    state = {key: tc.zeros(*value.shape, dtype=value.dtype)
             for key, value in model.state_dict().items()}
    state["0.weight"] = tc.zeros(2, 1, 5, 5)                  # wrong shape
    state["0.bias"] = tc.zeros(2, dtype=tc.float64)           # wrong dtype
    state["1.running_var"] = "not a tensor"
    del state["1.weight"]                                     # missing
    state["2.weight"] = tc.zeros(2)                           # unexpected
    with pytest.raises(RuntimeError) as raised:
        model.load_state_dict(state)
    message = str(raised.value)
    for fragment in ["missing keys: ['1.weight']", "unexpected keys: ['2.weight']",
                     "0.weight: the checkpoint has shape (2, 1, 5, 5), the model has shape "
                     "(2, 1, 3, 3)", "dtype mismatch for 0.bias", "1.running_var is a str"]:
        assert fragment in message
    for key, value in model.state_dict().items():  # nothing was half-loaded
        np.testing.assert_array_equal(value.numpy(), before[key], err_msg=key)
