"""IDX files (round trip, header checks) and downloads through file:// URLs (no network)."""

import gzip
import hashlib
import struct

import numpy as np
import pytest

from tinyconv.data import ChecksumError, download_url, file_digest, read_idx, write_idx
from tinyconv.data.download import download_from_mirrors


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, dtype, suffix):
    array = (np.random.default_rng(0).random((4, 3, 5)) * 100).astype(dtype)
    path = write_idx(tmp_path / f"a-idx3{suffix}", array)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == (4, 3, 5)
    np.testing.assert_array_equal(back, array)
    back[0] = 0  # the result is a writable array of its own


def test_idx_header_is_the_documented_layout(tmp_path):
    labels = np.array([7, 2, 1], dtype=np.uint8)
    raw = write_idx(tmp_path / "labels-idx1-ubyte", labels).read_bytes()
    # magic 0x00000801 (uint8, 1 dimension), then the size 3 big-endian, then the bytes
    assert raw == struct.pack(">I", 0x00000801) + struct.pack(">I", 3) + bytes([7, 2, 1])
    images = np.zeros((2, 28, 28), dtype=np.uint8)
    raw = write_idx(tmp_path / "images-idx3-ubyte", images).read_bytes()
    assert raw[:16] == struct.pack(">IIII", 0x00000803, 2, 28, 28) and len(raw) == 16 + 2 * 784


def test_idx_big_endian_values(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(bytes([0, 0, 0x0B, 1]) + struct.pack(">I", 2) + struct.pack(">hh", 258, -2))
    np.testing.assert_array_equal(read_idx(path), [258, -2])


def test_idx_gzip_output_is_reproducible(tmp_path):
    array = np.arange(10, dtype=np.uint8)
    a = write_idx(tmp_path / "a.gz", array).read_bytes()
    b = write_idx(tmp_path / "b.gz", array).read_bytes()
    assert a == b  # neither the file name nor the time goes into the gzip header
    assert gzip.decompress(a) == bytes([0, 0, 8, 1, 0, 0, 0, 10]) + bytes(range(10))


def test_idx_errors(tmp_path):
    with pytest.raises(ValueError, match="cannot hold dtype int64"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.int64))
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x00\x08\x01")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(bad)
    bad.write_bytes(bytes([0, 0, 0x07, 1]) + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(ValueError, match="unknown type code 0x07"):
        read_idx(bad)
    bad.write_bytes(bytes([0, 0, 0x08, 1]) + struct.pack(">I", 5) + b"\x00\x00")
    with pytest.raises(ValueError, match=r"declares shape \(5,\).*holds 2 bytes"):
        read_idx(bad)


# -- downloads -------------------------------------------------------------------------------

@pytest.fixture
def served_file(tmp_path):
    """A file in a 'server' folder, with its file:// URL and checksums."""
    folder = tmp_path / "server"
    folder.mkdir()
    path = folder / "data.bin"
    content = np.random.default_rng(0).bytes(3 * (1 << 20) + 17)  # several download chunks
    path.write_bytes(content)
    return {"url": path.as_uri(), "folder": folder, "content": content,
            "md5": hashlib.md5(content).hexdigest(), "sha256": hashlib.sha256(content).hexdigest()}


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_with_good_checksums(tmp_path, served_file):
    destination = tmp_path / "out" / "nested" / "data.bin"
    path = download_url(served_file["url"], destination, md5=served_file["md5"],
                        sha256=served_file["sha256"].upper())  # hex digests in either case
    assert path == destination and destination.read_bytes() == served_file["content"]
    assert leftovers(destination.parent) == ["data.bin"]  # no temporary file left
    assert file_digest(destination, "sha256") == served_file["sha256"]


@pytest.mark.parametrize("which", ["md5", "sha256"])
def test_download_with_bad_checksum_raises_and_leaves_nothing(tmp_path, served_file, which):
    destination = tmp_path / "out" / "data.bin"
    with pytest.raises(ChecksumError, match=f"{which.upper()} checksum mismatch.*not saved"):
        download_url(served_file["url"], destination, **{which: "0" * len(served_file[which])})
    assert leftovers(destination.parent) == []


def test_failed_download_keeps_an_existing_file(tmp_path, served_file):
    destination = tmp_path / "data.bin"
    destination.write_bytes(b"old")
    with pytest.raises(ChecksumError):
        download_url(served_file["url"], destination, md5="0" * 32)
    assert destination.read_bytes() == b"old"
    with pytest.raises(OSError):  # a missing source: urllib's URLError is an OSError
        download_url((served_file["folder"] / "missing").as_uri(), destination)
    assert leftovers(tmp_path) == ["data.bin", "server"]


def test_mirrors_are_tried_in_order(tmp_path, served_file):
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    path = download_from_mirrors("data.bin", tmp_path / "out",
                                 [empty.as_uri() + "/", served_file["folder"].as_uri()],
                                 md5=served_file["md5"])
    assert path.read_bytes() == served_file["content"]
    with pytest.raises(RuntimeError, match=r"from any mirror:(.|\n)*MD5 checksum mismatch"):
        download_from_mirrors("data.bin", tmp_path / "out2", [served_file["folder"].as_uri()],
                              md5="1" * 32)
    assert leftovers(tmp_path / "out2") == []
