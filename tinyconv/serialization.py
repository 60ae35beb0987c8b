"""``tc.save`` / ``tc.load``: state dicts in a NumPy ``.npz`` file, without pickle.

Pickle can run arbitrary code when a file is loaded, so tinyconv never uses it. A saved object is
a tree of dicts, lists and tuples whose leaves are tensors, arrays, numbers, strings, booleans or
None (what ``model.state_dict()`` and ``optimizer.state_dict()`` return). The tree's shape goes
into one JSON string; every array goes into its own ``.npz`` entry, referenced from the JSON.

The write is atomic: the file is written beside the target under a temporary name, flushed to
disk, then renamed over the target, so a crash mid-save leaves the previous file intact.
"""

from __future__ import annotations

import json
import numbers
import os
import tempfile
from pathlib import Path
from typing import Any, Union

import numpy as np

from tinyconv.backend import to_host
from tinyconv.tensor import Tensor, tensor

FORMAT = "tinyconv-state/1"
PathLike = Union[str, os.PathLike]


def _encode(obj: Any, arrays: dict) -> Any:
    """The JSON-able description of ``obj``; arrays are moved into ``arrays`` by name."""
    if isinstance(obj, Tensor):
        name = f"array_{len(arrays)}"
        arrays[name] = to_host(obj.data)
        return {"__tensor__": name}
    if isinstance(obj, np.ndarray):
        name = f"array_{len(arrays)}"
        arrays[name] = obj
        return {"__ndarray__": name}
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        return float(obj)
    if isinstance(obj, dict):
        # keys may be ints (optimizer state is keyed by parameter index): keep their type
        for key in obj:
            if not isinstance(key, (str, int)):
                raise TypeError(f"save: dict keys must be str or int, got {key!r}")
        return {"__dict__": [[key, _encode(value, arrays)] for key, value in obj.items()]}
    if isinstance(obj, (list, tuple)):
        items = [_encode(value, arrays) for value in obj]
        return {"__tuple__": items} if isinstance(obj, tuple) else items
    if hasattr(obj, "state_dict"):
        raise TypeError(f"save: cannot save a {type(obj).__name__} object itself (tinyconv does "
                        "not pickle code); save its state: tc.save(obj.state_dict(), path)")
    raise TypeError(f"save: cannot save an object of type {type(obj).__name__}; use dicts, "
                    "lists, tensors, arrays, numbers, strings, booleans or None")


def _decode(description: Any, arrays: Any, device: Any) -> Any:
    if isinstance(description, list):
        return [_decode(item, arrays, device) for item in description]
    if not isinstance(description, dict):
        return description
    if "__tensor__" in description:
        return tensor(arrays[description["__tensor__"]], device=device)
    if "__ndarray__" in description:
        return arrays[description["__ndarray__"]]
    if "__tuple__" in description:
        return tuple(_decode(item, arrays, device) for item in description["__tuple__"])
    return {key: _decode(value, arrays, device) for key, value in description["__dict__"]}


def save(obj: Any, path: PathLike) -> None:
    """Save a state dict (or any tree of dicts/lists of tensors and plain values) to ``path``.

    ``tc.save(model.state_dict(), "model.npz")``; the ``.npz`` suffix is not added for you.
    """
    arrays: dict[str, np.ndarray] = {}
    structure = json.dumps({"format": FORMAT, "object": _encode(obj, arrays)})
    for name, array in arrays.items():
        if array.dtype == object:
            raise TypeError(f"save: array {name} has dtype object, which needs pickle")
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as file:
            np.savez(file, __structure__=np.array(structure), **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)  # atomic on POSIX and Windows
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def load(path: PathLike, map_location: Any = None, device: Any = None) -> Any:
    """Load what :func:`save` wrote. Tensors go to ``device`` (or ``map_location``; default CPU).

    Checking that the values fit a model is ``model.load_state_dict``'s job: it names any missing
    or unexpected key and any shape or dtype mismatch.
    """
    device = device or map_location or "cpu"
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"load: no such file: {path}")
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise ValueError(f"load: {path} is not a tinyconv checkpoint (.npz written by tc.save): "
                         f"{error}") from None
    with archive:
        if "__structure__" not in archive.files:
            raise ValueError(f"load: {path} is an .npz file but not one written by tc.save "
                             f"(no __structure__ entry; entries: {archive.files[:5]}...)")
        header = json.loads(str(archive["__structure__"]))
        if header.get("format") != FORMAT:
            raise ValueError(f"load: {path} has format {header.get('format')!r}, expected "
                             f"{FORMAT!r}")
        arrays = {name: archive[name] for name in archive.files if name != "__structure__"}
    return _decode(header["object"], arrays, device)
