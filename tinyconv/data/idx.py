"""The IDX file format of MNIST and Fashion-MNIST: read and write.

An IDX file is a small header followed by the array's values in C order, big-endian:

====================  =========================================================================
bytes                 content
====================  =========================================================================
0–1                   zero
2                     the type of the values: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                      0x0D float32, 0x0E float64
3                     the number of dimensions ``d``
4 … 4 + 4d − 1        the size of each dimension, a big-endian uint32 each
then                  the values, big-endian
====================  =========================================================================

MNIST's ``train-images-idx3-ubyte`` is uint8 ``(60000, 28, 28)`` (magic ``0x00000803``) and
``train-labels-idx1-ubyte`` uint8 ``(60000,)`` (magic ``0x00000801``). Files are often stored
gzip-compressed (``.gz``); both functions compress / decompress when the name ends in ``.gz``.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]

# type code -> big-endian dtype, as the format defines it
IDX_DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_CODE_OF_KIND = {(dtype.kind, dtype.itemsize): code for code, dtype in IDX_DTYPES.items()}


def _read_bytes(path: Path) -> bytes:
    with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as stream:
        return stream.read()


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as raw:
        if path.suffix != ".gz":
            raw.write(data)
            return
        # no file name and mtime=0 in the gzip header: the same array always gives the same
        # compressed bytes, hence the same checksum
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as compressed:
            compressed.write(data)


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """The array stored in the IDX bytes ``data`` (native byte order)."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"read_idx: {name} is not an IDX file (it must start with two zero bytes,"
                         f" a type code and the number of dimensions)")
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        raise ValueError(f"read_idx: {name} has unknown type code 0x{code:02X}; known codes are "
                         + ", ".join(f"0x{c:02X} ({d.name})" for c, d in IDX_DTYPES.items()))
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"read_idx: {name} is truncated inside its header")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(f"read_idx: {name} declares shape {shape} of {dtype.name} "
                         f"({expected} bytes of values) but holds {len(data) - header} bytes")
    values = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return values.astype(dtype.newbyteorder("="))  # a writable copy in native byte order


def read_idx(path: PathLike) -> np.ndarray:
    """Read an IDX file (gzip-compressed if its name ends in ``.gz``) into a NumPy array.

    The dtype is the file's (uint8 for MNIST), in native byte order; the shape is the file's,
    e.g. ``(60000, 28, 28)`` for MNIST's training images.
    """
    path = Path(path)
    return parse_idx(_read_bytes(path), name=str(path))


def write_idx(path: PathLike, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed if ``path`` ends in ``.gz``); return the
    path.

    Supported dtypes: uint8, int8, int16, int32, float32, float64 (other integer dtypes such as
    int64 have no IDX type code: convert first, e.g. ``labels.astype(np.uint8)``).
    """
    array = np.asarray(array)
    code = _CODE_OF_KIND.get((array.dtype.kind, array.dtype.itemsize))
    if code is None:
        raise ValueError(f"write_idx: IDX files cannot hold dtype {array.dtype}; use one of "
                         + ", ".join(d.name for d in IDX_DTYPES.values()))
    if array.ndim > 255:
        raise ValueError(f"write_idx: at most 255 dimensions, got {array.ndim}")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    path = Path(path)
    _write_bytes(path, header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes())
    return path
