"""safetensors: tc.save(..., format="safetensors") / tc.load by content, checked against files the
safetensors package writes itself, and headers that lie about sizes."""

import json
import struct

import numpy as np
import pytest

import tinyconv as tc

safetensors_numpy = pytest.importorskip("safetensors.numpy",
                                        reason="pip install safetensors (the interop extra)")


def _model():
    tc.manual_seed(0)
    return tc.nn.Sequential(tc.nn.Conv2d(1, 2, 3), tc.nn.BatchNorm2d(2), tc.nn.Flatten(),
                            tc.nn.Linear(8, 3))


def test_round_trip_through_a_model(tmp_path):
    model = _model()
    tc.save(model.state_dict(), tmp_path / "model.safetensors")
    other = tc.nn.Sequential(tc.nn.Conv2d(1, 2, 3), tc.nn.BatchNorm2d(2), tc.nn.Flatten(),
                             tc.nn.Linear(8, 3))
    other.load_state_dict(tc.load(tmp_path / "model.safetensors"))
    x = tc.randn(2, 1, 4, 4)
    with tc.no_grad():
        np.testing.assert_array_equal(other.eval()(x).numpy(), model.eval()(x).numpy())


def test_files_are_read_by_the_package_and_the_package_s_files_by_tinyconv(tmp_path):
    state = _model().state_dict()
    tc.save(state, tmp_path / "ours.bin", format="safetensors")  # the format, not the suffix
    theirs = safetensors_numpy.load_file(str(tmp_path / "ours.bin"))
    assert sorted(theirs) == sorted(state)
    for key, value in state.items():
        np.testing.assert_array_equal(theirs[key], value.numpy())
        assert theirs[key].dtype == value.dtype
    arrays = {"a": np.arange(6, dtype=np.float64).reshape(2, 3), "b": np.array(7, np.int64),
              "c": np.ones(4, np.float16), "d": np.array([True, False])}
    safetensors_numpy.save_file(arrays, str(tmp_path / "theirs.safetensors"),
                                metadata={"format": "np"})
    loaded = tc.load(tmp_path / "theirs.safetensors")
    for key, value in arrays.items():
        assert isinstance(loaded[key], tc.Tensor) and loaded[key].dtype == value.dtype
        np.testing.assert_array_equal(loaded[key].numpy(), value)


def test_nested_state_is_refused_with_advice(tmp_path):
    with pytest.raises(TypeError, match="flat .*format='tinyconv'"):
        tc.save({"model": {"w": tc.ones(2)}}, tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


def _file(header: dict, body: bytes) -> bytes:
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded)) + encoded + body


@pytest.mark.parametrize("header, body, message", [
    # a shape of 10**12 floats over 12 bytes of data: refused from the header
    ({"w": {"dtype": "F32", "shape": [10**12], "data_offsets": [0, 12]}}, bytes(12),
     r"tensor 'w' of shape \(1000000000000,\) claims 4,000,000,000,000 bytes"),
    ({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]}}, bytes(8),
     r"data offsets \[0, 12\] in a data section of 8 bytes"),
    ({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, bytes(12),
     r"12 bytes\) has data offsets \[0, 8\]"),
    ({"w": {"dtype": "X99", "shape": [3], "data_offsets": [0, 12]}}, bytes(12),
     "malformed header entry"),
    ({"w": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}, bytes(4), "bfloat16"),
])
def test_lying_headers_are_refused_before_allocating(tmp_path, header, body, message):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(_file(header, body))
    with pytest.raises(tc.LoadError, match=message):
        tc.load(path)


def test_truncated_file(tmp_path):
    tc.save(_model().state_dict(), tmp_path / "m.safetensors")
    data = (tmp_path / "m.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[:-10])
    with pytest.raises(tc.LoadError, match="data section"):
        tc.load(tmp_path / "cut.safetensors")
    (tmp_path / "header_only.safetensors").write_bytes(data[:30])
    with pytest.raises(tc.LoadError, match=r"header_only\.safetensors"):
        tc.load(tmp_path / "header_only.safetensors")
