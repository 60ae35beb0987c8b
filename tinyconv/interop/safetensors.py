"""safetensors files (Hugging Face's format) through the ``safetensors`` package.

A ``.safetensors`` file is 8 bytes (little-endian header length ``n``), an ``n``-byte JSON
header ``{"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}`` and
the raw little-endian bytes of every tensor. There is no code in it, which is its point. It holds
a flat ``{name: tensor}`` dict: a state dict, not an optimizer state.

Before handing the file to ``safetensors.numpy``, :func:`read_safetensors` checks the header
itself, so a corrupt or hostile one (a shape of 10^12 elements, offsets past the end of the file)
is a :class:`~tinyconv.LoadError` naming the tensor, raised before anything is allocated.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from tinyconv.serialization import LoadError, check_claimed_size

__all__ = ["read_safetensors", "safetensors_bytes"]

# the header's dtype names and their sizes in bytes
DTYPE_SIZES = {"BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2, "I32": 4,
               "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
MAX_HEADER_BYTES = 100_000_000  # the safetensors specification's own limit

_INSTALL = "pip install safetensors (or pip install 'tinyconv[interop]')"


def _package():
    try:
        import safetensors.numpy
    except ImportError as error:
        raise ModuleNotFoundError(f"safetensors files need the safetensors package: "
                                  f"{_INSTALL}") from error
    return safetensors.numpy


def safetensors_bytes(state: Any) -> bytes:
    """The bytes of a ``.safetensors`` file holding ``state``: a flat ``{str: array}`` dict."""
    if not isinstance(state, dict) or not all(
            isinstance(key, str) and isinstance(value, np.ndarray)
            for key, value in state.items()):
        found = type(state).__name__ if not isinstance(state, dict) else \
            ", ".join(f"{key!r}: {type(value).__name__}" for key, value in list(state.items())[:3])
        raise TypeError(f"save: safetensors holds a flat {{name: tensor}} dict such as "
                        f"model.state_dict(); got {found}. Use format='tinyconv' for nested "
                        "state (an optimizer, a training checkpoint)")
    arrays = {key: np.asarray(value, order="C") for key, value in state.items()}
    return _package().save(arrays)


def _check_header(path: str, data: bytes) -> None:
    """Every tensor's dtype, shape and byte range must agree with each other and the file."""
    header_size = int.from_bytes(data[:8], "little")
    if len(data) < 8 or header_size > min(MAX_HEADER_BYTES, len(data) - 8):
        raise LoadError(path, f"the safetensors header claims {header_size:,} bytes but the file "
                        f"has {len(data):,} (truncated or not a safetensors file)")
    header = json.loads(data[8:8 + header_size])
    if not isinstance(header, dict):
        raise LoadError(path, "the safetensors header is not a JSON object")
    body_size = len(data) - 8 - header_size
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        if not (isinstance(spec, dict) and spec.get("dtype") in DTYPE_SIZES
                and isinstance(spec.get("shape"), list)
                and all(isinstance(n, int) and n >= 0 for n in spec["shape"])
                and isinstance(spec.get("data_offsets"), list) and len(spec["data_offsets"]) == 2
                and all(isinstance(n, int) for n in spec["data_offsets"])):
            raise LoadError(path, f"tensor {name!r} has a malformed header entry {spec!r}")
        if spec["dtype"] == "BF16":
            raise LoadError(path, f"tensor {name!r} is bfloat16, which NumPy (and so tinyconv) "
                            "cannot hold; convert it to float32 before saving")
        nbytes = int(np.prod(spec["shape"], dtype=object)) * DTYPE_SIZES[spec["dtype"]]
        check_claimed_size(path, f"tensor {name!r} of shape {tuple(spec['shape'])}", nbytes,
                           None, len(data))
        begin, end = spec["data_offsets"]
        if not 0 <= begin <= end <= body_size or end - begin != nbytes:
            raise LoadError(path, f"tensor {name!r} ({spec['dtype']}, shape "
                            f"{tuple(spec['shape'])}: {nbytes:,} bytes) has data offsets "
                            f"[{begin}, {end}] in a data section of {body_size:,} bytes "
                            "(corrupt or truncated)")


def read_safetensors(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The ``{name: array}`` dict of a ``.safetensors`` file; raises LoadError if it is bad."""
    path = os.fspath(path)
    with open(path, "rb") as file:
        data = file.read()
    _check_header(path, data)
    try:
        package = _package()
    except ModuleNotFoundError as error:
        raise LoadError(path, str(error)) from None
    return dict(package.load(data))
