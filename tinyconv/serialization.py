"""``tc.save`` / ``tc.load``: state dicts in and out, in tinyconv's ``.npz`` and the formats
people exchange.

=================  ===================================  ==========================================
format             ``tc.save(obj, path)`` writes it for  what it holds
=================  ===================================  ==========================================
``"tinyconv"``     any suffix but the two below          NumPy ``.npz``, no pickle: any tree of
                                                         dicts, lists, tensors and plain values
``"pytorch"``      ``.pth`` / ``.pt``                    ``torch.save``'s zip format; PyTorch reads
                                                         it with ``torch.load(weights_only=True)``
``"safetensors"``  ``.safetensors``                      a flat ``{name: tensor}`` dict (Hugging
                                                         Face's format, ``safetensors`` package)
convnetjs JSON     ``tinyconv.interop.convnetjs.save``   a whole network; ``tc.load`` gives back
                                                         an ``nn.Sequential``
=================  ===================================  ==========================================

``tc.load`` recognises the format from the file's first bytes, not from its name. Every
failure (missing, empty, truncated or corrupt file, unknown format, a pickle that would call
code) raises :class:`LoadError`, naming the path and what is wrong; sizes written in a header
are checked against the bytes really present *before* anything is allocated.

Pickle can run arbitrary code when a file is loaded, so tinyconv's own format never uses it,
and PyTorch files are read by a restricted unpickler (see :mod:`tinyconv.interop.pytorch`).

Writes are atomic: the file is written beside the target under a temporary name, flushed to
disk, then renamed over the target, so a crash mid-save leaves the previous file intact.
"""

from __future__ import annotations

import io
import json
import numbers
import os
import tempfile
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from tinyconv.backend import to_host
from tinyconv.tensor import Tensor

__all__ = ["FORMATS", "LoadError", "check_claimed_size", "load", "max_load_bytes", "save"]

FORMAT = "tinyconv-state/1"
FORMATS = ("tinyconv", "pytorch", "safetensors")
FORMAT_NAMES = {"tinyconv": "tinyconv .npz", "pytorch": "PyTorch", "safetensors": "safetensors",
                "convnetjs": "convnetjs JSON"}
PathLike = str | os.PathLike

#: Refuse any single array whose header claims more bytes than this (None: the machine's
#: physical memory). Only matters for compressed entries: an uncompressed array must also fit
#: in the file itself, which is checked first.
MAX_LOAD_BYTES: int | None = None


class LoadError(ValueError):
    """A file could not be loaded: ``error.path`` is the file, ``error.reason`` what is wrong."""

    def __init__(self, path: PathLike, reason: str):
        self.path, self.reason = os.fspath(path), reason
        super().__init__(f"cannot load {self.path}: {reason}")

    def __reduce__(self):  # keep the two-argument constructor picklable (multiprocessing)
        return type(self), (self.path, self.reason)


class MissingFileError(LoadError, FileNotFoundError):
    """The file does not exist (also a FileNotFoundError, so both ``except`` clauses work)."""


def max_load_bytes() -> int:
    """The largest array a loader will allocate: :data:`MAX_LOAD_BYTES`, or physical memory."""
    if MAX_LOAD_BYTES is not None:
        return MAX_LOAD_BYTES
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX
        return 1 << 40


def check_claimed_size(path: PathLike, what: str, nbytes: int,
                       entry: zipfile.ZipInfo | None, file_size: int) -> None:
    """Refuse, before allocating, an array whose header claims more bytes than can be there.

    ``entry`` is the zip entry holding it (None: the bytes are in the file itself). Stored data
    must fit in the entry and the file; compressed data may expand, up to :func:`max_load_bytes`.
    """
    gib = nbytes / 2**30
    if entry is not None and nbytes > entry.file_size:
        raise LoadError(path, f"{what} claims {nbytes:,} bytes ({gib:.3g} GiB) but its entry "
                        f"holds {entry.file_size:,} (corrupt header or truncated file)")
    compressed = entry is not None and entry.compress_type != zipfile.ZIP_STORED
    stored = entry.file_size if entry is not None else nbytes
    if not compressed and stored > file_size:
        raise LoadError(path, f"{what} claims {stored:,} bytes ({stored / 2**30:.3g} GiB) but "
                        f"the whole file has {file_size:,} (corrupt header or truncated file)")
    if nbytes > max_load_bytes():
        raise LoadError(path, f"{what} would need {gib:.3g} GiB, more than the limit of "
                        f"{max_load_bytes() / 2**30:.3g} GiB (tinyconv.serialization"
                        ".MAX_LOAD_BYTES)")


# -- tinyconv's own format -------------------------------------------------------------------

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
    _refuse(obj)


def _refuse(obj: Any) -> None:
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
        return Tensor(arrays[description["__tensor__"]], device=device)
    if "__ndarray__" in description:
        return arrays[description["__ndarray__"]]
    if "__tuple__" in description:
        return tuple(_decode(item, arrays, device) for item in description["__tuple__"])
    return {key: _decode(value, arrays, device) for key, value in description["__dict__"]}


def _write_npz(obj: Any, file: BinaryIO) -> None:
    arrays: dict[str, np.ndarray] = {}
    structure = json.dumps({"format": FORMAT, "object": _encode(obj, arrays)})
    for name, array in arrays.items():
        if array.dtype == object:
            raise TypeError(f"save: array {name} has dtype object, which needs pickle")
    np.savez(file, __structure__=np.array(structure), **arrays)


def _read_npy_header(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> tuple:
    with archive.open(entry) as file:
        version = np.lib.format.read_magic(file)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
            np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(file)
    return shape, dtype


def _read_npz(path: Path, device: Any) -> Any:
    file_size = path.stat().st_size
    with zipfile.ZipFile(path) as archive:
        entries = {info.filename: info for info in archive.infolist()}
        if "__structure__.npy" not in entries:
            names = [name.removesuffix(".npy") for name in entries]
            raise LoadError(path, f"an .npz file but not one written by tc.save (no "
                            f"__structure__ entry; entries: {names[:5]})")
        for name, entry in entries.items():  # check every header before reading any array
            shape, dtype = _read_npy_header(archive, entry)
            if dtype.hasobject:
                raise LoadError(path, f"entry {name} holds Python objects (needs pickle)")
            check_claimed_size(path, f"array {name.removesuffix('.npy')} of shape {shape}",
                               int(np.prod(shape, dtype=object)) * dtype.itemsize, entry,
                               file_size)
    with np.load(path, allow_pickle=False) as archive:
        header = json.loads(str(archive["__structure__"]))
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            found = header.get("format") if isinstance(header, dict) else header
            raise LoadError(path, f"format {found!r}, expected {FORMAT!r}")
        arrays = {name: archive[name] for name in archive.files if name != "__structure__"}
    return _decode(header["object"], arrays, device)


# -- choosing a format -------------------------------------------------------------------------

def _format_from_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".pth", ".pt"):
        return "pytorch"
    if suffix == ".safetensors":
        return "safetensors"
    return "tinyconv"


def _to_numpy_tree(obj: Any) -> Any:
    """Tensors -> host arrays, everywhere in a tree of dicts/lists/tuples."""
    if isinstance(obj, Tensor):
        return to_host(obj.data)
    if isinstance(obj, dict):
        return type(obj)((key, _to_numpy_tree(value)) for key, value in obj.items()) \
            if isinstance(obj, OrderedDict) else \
            {key: _to_numpy_tree(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_numpy_tree(value) for value in obj)
    if hasattr(obj, "state_dict"):
        _refuse(obj)
    return obj


def _to_tensor_tree(obj: Any, device: Any) -> Any:
    """Arrays -> tensors on ``device``, everywhere in a tree of dicts/lists/tuples."""
    if isinstance(obj, np.ndarray):
        return Tensor(obj, device=device)
    if isinstance(obj, OrderedDict):
        return OrderedDict((key, _to_tensor_tree(value, device)) for key, value in obj.items())
    if isinstance(obj, dict):
        return {key: _to_tensor_tree(value, device) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_tensor_tree(value, device) for value in obj)
    return obj


def _atomic_write(path: PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)  # atomic on POSIX and Windows
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def save(obj: Any, path: PathLike, format: str | None = None) -> None:
    """Save a state dict (or any tree of dicts/lists of tensors and plain values) to ``path``.

    ``format`` is ``"tinyconv"`` (``.npz``), ``"pytorch"`` or ``"safetensors"``; by default it
    follows the suffix (``.pth``/``.pt``: PyTorch, ``.safetensors``: safetensors, anything else:
    tinyconv's ``.npz``; the suffix is never added for you)::

        tc.save(model.state_dict(), "model.npz")
        tc.save(model.state_dict(), "model.pth")          # torch.load(..., weights_only=True)
        tc.save(model.state_dict(), "model.safetensors")  # needs `pip install safetensors`
    """
    format = format or _format_from_suffix(Path(path))
    if format == "tinyconv":
        buffer = io.BytesIO()  # encode first, so a refused object never touches the file
        _write_npz(obj, buffer)
    elif format == "pytorch":
        from tinyconv.interop.pytorch import write_pth

        buffer = io.BytesIO()
        write_pth(_to_numpy_tree(obj), buffer, archive_name=Path(path).stem or "archive")
    elif format == "safetensors":
        from tinyconv.interop.safetensors import safetensors_bytes

        buffer = io.BytesIO(safetensors_bytes(_to_numpy_tree(obj)))
    else:
        raise ValueError(f"save: format must be one of {FORMATS}, got {format!r} (convnetjs "
                         "JSON holds a whole network: tinyconv.interop.convnetjs.save)")
    _atomic_write(path, lambda file: file.write(buffer.getbuffer()))


def _sniff(path: Path) -> str:
    """The format of ``path`` from its first bytes."""
    from tinyconv.interop.pytorch import is_legacy_pth, is_zip_pth

    with open(path, "rb") as file:
        head = file.read(64)
    if not head:
        raise LoadError(path, "the file is empty")
    if head.startswith(b"PK"):
        if not zipfile.is_zipfile(path):
            raise LoadError(path, "a zip archive (.npz or .pth) that is truncated or corrupt "
                            "(no central directory)")
        return "pytorch" if is_zip_pth(path) else "tinyconv"
    if is_legacy_pth(head):
        return "pytorch"
    if head.startswith(b"\x80"):
        raise LoadError(path, "a Python pickle that is not a PyTorch checkpoint; tinyconv does "
                        "not unpickle arbitrary files (unpickling can run any code)")
    if len(head) > 8 and head[8:9] == b"{" and \
            int.from_bytes(head[:8], "little") <= path.stat().st_size - 8:
        return "safetensors"
    if head.lstrip()[:1] == b"{":
        return "convnetjs"
    raise LoadError(path, f"unknown format (the file starts with {head[:16]!r}); tc.load reads "
                    "tinyconv .npz, PyTorch .pth, .safetensors and convnetjs JSON files")


def load(path: PathLike, map_location: Any = None, device: Any = None) -> Any:
    """Load a file written by :func:`save`, ``torch.save``, safetensors or convnetjs.

    Tensors go to ``device`` (or ``map_location``; default CPU). A convnetjs JSON file holds a
    whole network and gives an ``nn.Sequential``; the other formats give what was saved (a state
    dict, usually). Any failure raises :class:`LoadError` naming the path and the problem.

    Checking that the values fit a model is ``model.load_state_dict``'s job: it names any missing
    or unexpected key and any shape or dtype mismatch, and changes nothing if one is wrong.
    """
    device = device or map_location or "cpu"
    path = Path(path)
    if not path.exists():
        raise MissingFileError(path, "no such file")
    if not path.is_file():
        raise LoadError(path, "not a regular file (a directory?)")
    kind = "the"
    try:
        kind = _sniff(path)
        if kind == "tinyconv":
            return _read_npz(path, device)
        if kind == "pytorch":
            from tinyconv.interop.pytorch import read_pth

            return _to_tensor_tree(read_pth(path), device)
        if kind == "safetensors":
            from tinyconv.interop.safetensors import read_safetensors

            return _to_tensor_tree(read_safetensors(path), device)
        from tinyconv.interop.convnetjs import load as load_convnetjs

        return load_convnetjs(path, device=device)
    except LoadError:
        raise
    except OSError as error:  # permissions, I/O errors: the file exists but cannot be read
        raise LoadError(path, f"the file cannot be read ({type(error).__name__}: "
                        f"{error.strerror or error})") from error
    except Exception as error:  # every other failure of a reader means a bad file
        raise LoadError(path, f"{FORMAT_NAMES.get(kind, kind)} file is corrupt or truncated "
                        f"({type(error).__name__}: {error})") from error
