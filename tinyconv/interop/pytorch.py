"""PyTorch checkpoints (``.pth`` / ``.pt``) read and written without PyTorch.

What ``torch.save(model.state_dict(), "m.pth")`` writes (PyTorch >= 1.6) is a zip archive::

    m/data.pkl        a pickle of the object tree; each tensor is a call
                      torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)
                      whose storage is a "persistent id" ("storage", torch.FloatStorage, "0",
                      "cpu", numel) pointing at an entry below
    m/data/0, 1, ...  the raw bytes of each storage (little-endian, no header)
    m/byteorder       "little" or "big";  m/version  "3"

Files from PyTorch < 1.6 (the "legacy" format) are instead a run of pickles: a magic number,
a protocol version, system info, the object tree (storages as persistent ids again), the list
of storage keys, then for each storage its element count (8 bytes) and its bytes.

**Pickle is a program, not data**: unpickling can call any importable function
(``os.system`` included). So the unpickler here is *restricted*: ``find_class`` answers only a
short list of names (ordered dicts, the tensor-rebuilding functions, the storage types), each
mapped to our own harmless NumPy code; any other name raises :class:`~tinyconv.LoadError`
before anything is called. Tensors come back as NumPy arrays (``tc.load`` makes them tensors).
"""

from __future__ import annotations

import os
import pickle
import struct
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, BinaryIO

import numpy as np

from tinyconv.serialization import LoadError, check_claimed_size

__all__ = ["is_legacy_pth", "is_zip_pth", "read_pth", "write_pth"]

# torch storage class name -> NumPy dtype (bfloat16 has no NumPy dtype: widened to float32)
STORAGE_DTYPES = {
    "DoubleStorage": np.dtype("<f8"), "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"), "BFloat16Storage": np.dtype("<u2"),
    "LongStorage": np.dtype("<i8"), "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"), "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"), "BoolStorage": np.dtype("?"),
}
_STORAGE_NAMES = {np.dtype(dtype): name for name, dtype in STORAGE_DTYPES.items()
                  if name != "BFloat16Storage"}

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C  # the first pickle of a pre-1.6 torch.save file


class _StorageType:
    """Stands in for ``torch.FloatStorage`` & co. inside a persistent id."""

    def __init__(self, name: str):
        self.name, self.dtype = name, STORAGE_DTYPES[name]


class _PendingTensor:
    """A tensor whose storage bytes may not have been read yet (the legacy format stores them
    after the pickle); :func:`_resolve` turns it into an array."""

    def __init__(self, storage_key: str, offset: int, size: tuple, stride: tuple):
        self.storage_key, self.offset, self.size, self.stride = storage_key, offset, size, stride


def _rebuild_tensor(storage: str, storage_offset: int, size: tuple, stride: tuple,
                    *ignored: Any) -> _PendingTensor:
    """Our ``torch._utils._rebuild_tensor(_v2)``: remembers where the tensor's values are."""
    for name, value in (("size", size), ("stride", stride)):
        if not (isinstance(value, tuple) and all(isinstance(v, int) and v >= 0 for v in value)):
            raise ValueError(f"a tensor's {name} is {value!r}, not a tuple of non-negative ints")
    if len(size) != len(stride) or not isinstance(storage_offset, int) or storage_offset < 0:
        raise ValueError(f"a tensor has size {size}, stride {stride} and offset "
                        f"{storage_offset!r}, which do not describe a tensor")
    return _PendingTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data: Any, requires_grad: Any = False, backward_hooks: Any = None,
                       *state: Any) -> Any:
    """``torch._utils._rebuild_parameter(_with_state)``: a Parameter's values are its tensor."""
    return data


# The only names a checkpoint may refer to, each mapped to our own code.
SAFE_GLOBALS: dict[tuple[str, str], Callable] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds containers, numbers, strings and tensors, and nothing else.

    ``storages`` maps a storage key to ``(dtype, numel)`` as the pickle declares them (filled in
    as the persistent ids are met); the bytes are read afterwards by the caller.
    """

    def __init__(self, file: BinaryIO, path: os.PathLike | str):
        super().__init__(file)
        self.path = path
        self.storages: dict[str, tuple[np.dtype, int]] = {}
        self.views: dict[str, tuple[str, int, int]] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        if (module, name) in SAFE_GLOBALS:
            return SAFE_GLOBALS[(module, name)]
        hint = ""
        if module.startswith("torch.nn") or module.startswith("torchvision"):
            hint = (" (the file pickles a whole model object; in PyTorch save its weights with "
                    "torch.save(model.state_dict(), path) and load those)")
        raise LoadError(self.path, f"the pickle asks for {module}.{name}, which is not a "
                        "tensor or a container; tinyconv refuses to call it, since unpickling "
                        f"can run any code{hint}")

    def persistent_load(self, pid: Any) -> str:
        # zip: ("storage", type, key, location, numel); legacy adds view_metadata
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[4], int)):
            raise LoadError(self.path, f"unknown storage reference {pid!r} in the pickle")
        storage_type, key, numel = pid[1], str(pid[2]), pid[4]
        if numel < 0:
            raise LoadError(self.path, f"storage {key} claims {numel} elements")
        self.storages.setdefault(key, (storage_type.dtype, numel))
        if len(pid) == 6 and pid[5] is not None:  # legacy storage view: part of another storage
            view_key, offset, view_numel = pid[5]
            self.views[str(view_key)] = (key, int(offset), int(view_numel))
            return str(view_key)
        return key


def _resolve(obj: Any, storages: dict[str, np.ndarray], path: Any) -> Any:
    """Replace every pending tensor in the tree by a NumPy array (a copy, not a view)."""
    if isinstance(obj, _PendingTensor):
        storage = storages[obj.storage_key]
        if any(n == 0 for n in obj.size):
            return np.zeros(obj.size, dtype=storage.dtype)
        last = obj.offset + sum((n - 1) * s for n, s in zip(obj.size, obj.stride, strict=True))
        if last >= storage.size:
            raise LoadError(path, f"a tensor of size {obj.size} (stride {obj.stride}, offset "
                            f"{obj.offset}) reaches element {last} of a storage that has only "
                            f"{storage.size}")
        strides = tuple(s * storage.itemsize for s in obj.stride)
        return np.ndarray(obj.size, storage.dtype, buffer=storage,
                          offset=obj.offset * storage.itemsize, strides=strides).copy()
    if isinstance(obj, OrderedDict):
        return OrderedDict((key, _resolve(value, storages, path)) for key, value in obj.items())
    if isinstance(obj, dict):
        return {key: _resolve(value, storages, path) for key, value in obj.items()}
    if isinstance(obj, list):
        return [_resolve(value, storages, path) for value in obj]
    if isinstance(obj, tuple):
        return tuple(_resolve(value, storages, path) for value in obj)
    return obj


def _storage_array(raw: bytes, dtype: np.dtype, big_endian: bool) -> np.ndarray:
    array = np.frombuffer(raw, dtype=dtype.newbyteorder(">") if big_endian else dtype)
    if dtype == np.dtype("<u2"):  # bfloat16: the high half of a float32
        return (array.astype(np.uint32) << 16).view(np.float32)
    return array.astype(dtype.newbyteorder("="), copy=False)


def is_zip_pth(path: str | os.PathLike) -> bool:
    """A zip archive with a ``data.pkl`` inside (what torch.save writes since 1.6)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("data.pkl") for name in archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def is_legacy_pth(head: bytes) -> bool:
    """The file starts with a pickle of torch's legacy magic number."""
    return head.startswith(b"\x80\x02\x8a\x0a") and head[4:14] == \
        LEGACY_MAGIC_NUMBER.to_bytes(10, "little")


def read_pth(path: str | os.PathLike) -> Any:
    """The object a ``torch.save`` file holds, tensors as NumPy arrays; raises LoadError."""
    path = os.fspath(path)
    with open(path, "rb") as file:
        head = file.read(16)
    if is_legacy_pth(head):
        return _read_legacy(path)
    return _read_zip(path)


def _read_zip(path: str) -> Any:
    file_size = os.path.getsize(path)
    with zipfile.ZipFile(path) as archive:
        pickles = [name for name in archive.namelist() if name.endswith("data.pkl")]
        if len(pickles) != 1:
            raise LoadError(path, f"a zip archive but not a PyTorch checkpoint (it should "
                            f"hold one data.pkl, found {len(pickles)})")
        prefix = pickles[0][: -len("data.pkl")]
        names = set(archive.namelist())
        big_endian = False
        if prefix + "byteorder" in names:
            big_endian = archive.read(prefix + "byteorder").strip() == b"big"
        with archive.open(pickles[0]) as pickled:
            unpickler = RestrictedUnpickler(pickled, path)
            tree = unpickler.load()
        storages = {}
        for key, (dtype, numel) in unpickler.storages.items():
            entry = prefix + "data/" + key
            if entry not in names:
                raise LoadError(path, f"the pickle refers to storage {key}, but the archive "
                                f"has no entry {entry!r} (truncated or incomplete file?)")
            info = archive.getinfo(entry)
            nbytes = numel * dtype.itemsize
            check_claimed_size(path, f"storage {key}", nbytes, info, file_size)
            if info.file_size != nbytes:
                raise LoadError(path, f"storage {key} should hold {numel} elements "
                                f"({nbytes} bytes) but its entry has {info.file_size} bytes")
            storages[key] = _storage_array(archive.read(entry), dtype, big_endian)
    return _resolve(tree, storages, path)


def _read_legacy(path: str) -> Any:
    file_size = os.path.getsize(path)
    with open(path, "rb") as file:
        header = [RestrictedUnpickler(file, path).load() for _ in range(3)]
        if header[0] != LEGACY_MAGIC_NUMBER or header[1] != 1001:
            raise LoadError(path, f"unknown legacy PyTorch header {header[:2]}")
        if not (isinstance(header[2], dict) and header[2].get("little_endian", True)):
            raise LoadError(path, "big-endian legacy PyTorch files are not supported")
        unpickler = RestrictedUnpickler(file, path)
        tree = unpickler.load()
        keys = RestrictedUnpickler(file, path).load()
        storages = {}
        for key in keys:
            key = str(key)
            if key not in unpickler.storages:
                raise LoadError(path, f"storage {key} is listed but never used")
            dtype, numel = unpickler.storages[key]
            count = file.read(8)
            if len(count) != 8:
                raise LoadError(path, f"the file ends before storage {key} (truncated)")
            (stored_numel,) = struct.unpack("<q", count)
            if stored_numel != numel:
                raise LoadError(path, f"storage {key} has {stored_numel} elements, the pickle "
                                f"said {numel}")
            check_claimed_size(path, f"storage {key}", numel * dtype.itemsize, None, file_size)
            raw = file.read(numel * dtype.itemsize)
            if len(raw) != numel * dtype.itemsize:
                raise LoadError(path, f"the file ends inside storage {key} (truncated)")
            storages[key] = _storage_array(raw, dtype, big_endian=False)
    for view_key, (root, offset, numel) in unpickler.views.items():
        storages[view_key] = storages[root][offset:offset + numel]
    missing = set(unpickler.storages) - set(storages)
    if missing:
        raise LoadError(path, f"the file ends before storages {sorted(missing)} (truncated)")
    return _resolve(tree, storages, path)


# -- writing -----------------------------------------------------------------------------------

class _PickleWriter:
    """Writes the protocol-2 pickle that ``torch.load(..., weights_only=True)`` accepts, opcode
    by opcode (Python's pickler would import torch to look up torch's functions by name).

    Containers and plain values are written by Python's own pickler; arrays become
    ``_rebuild_tensor_v2`` calls on numbered storages, collected in ``self.storages``.
    """

    def __init__(self) -> None:
        self.out = bytearray(pickle.PROTO + b"\x02")
        self.storages: list[np.ndarray] = []

    def global_(self, module: str, name: str) -> None:
        self.out += pickle.GLOBAL + f"{module}\n{name}\n".encode()

    def plain(self, value: Any) -> None:
        """A value pickle writes without globals: str, int, float, bool, None."""
        self.out += pickle.dumps(value, protocol=2)[2:-1]  # without PROTO and STOP

    def tuple_(self, items: tuple) -> None:
        self.out += pickle.MARK
        for item in items:
            self.value(item)
        self.out += pickle.TUPLE

    def array(self, array: np.ndarray) -> None:
        array = np.asarray(array, order="C")  # (ascontiguousarray makes 0-d arrays 1-d)
        if array.dtype not in _STORAGE_NAMES:
            raise TypeError(f"save: cannot write a {array.dtype} array in PyTorch's format")
        key = str(len(self.storages))
        self.storages.append(array.astype(array.dtype.newbyteorder("<"), copy=False))
        self.global_("torch._utils", "_rebuild_tensor_v2")
        self.out += pickle.MARK
        self.out += pickle.MARK  # the persistent id of the storage
        self.plain("storage")
        self.global_("torch", _STORAGE_NAMES[array.dtype])
        for item in (key, "cpu", int(array.size)):
            self.plain(item)
        self.out += pickle.TUPLE + pickle.BINPERSID
        self.plain(0)  # storage offset
        self.tuple_(tuple(int(n) for n in array.shape))
        strides = tuple(int(s) // array.itemsize for s in array.strides) if array.size else \
            tuple(int(np.prod(array.shape[i + 1:])) for i in range(array.ndim))
        self.tuple_(strides)
        self.plain(False)  # requires_grad
        self.global_("collections", "OrderedDict")  # backward hooks: an empty OrderedDict
        self.out += pickle.EMPTY_TUPLE + pickle.REDUCE
        self.out += pickle.TUPLE + pickle.REDUCE

    def value(self, obj: Any) -> None:
        if isinstance(obj, np.ndarray):
            self.array(obj)
        elif isinstance(obj, dict):
            if isinstance(obj, OrderedDict):
                self.global_("collections", "OrderedDict")
                self.out += pickle.EMPTY_TUPLE + pickle.REDUCE
            else:
                self.out += pickle.EMPTY_DICT
            if obj:
                self.out += pickle.MARK
                for key, item in obj.items():
                    self.value(key)
                    self.value(item)
                self.out += pickle.SETITEMS
        elif isinstance(obj, list):
            self.out += pickle.EMPTY_LIST
            if obj:
                self.out += pickle.MARK
                for item in obj:
                    self.value(item)
                self.out += pickle.APPENDS
        elif isinstance(obj, tuple):
            self.tuple_(obj)
        elif obj is None or isinstance(obj, (bool, int, float, str)):
            self.plain(obj)
        else:
            raise TypeError(f"save: cannot write an object of type {type(obj).__name__} in "
                            "PyTorch's format; use dicts, lists, tensors, numbers and strings")


def _aligned_info(archive: zipfile.ZipFile, name: str, alignment: int = 64) -> zipfile.ZipInfo:
    """A ZipInfo whose data will start on a multiple of ``alignment`` bytes, padded with an
    extra field as torch does (so torch can memory-map the storages)."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    header_end = archive.fp.tell() + 30 + len(name.encode()) + 4  # 4: the extra field header
    info.extra = b"FB" + struct.pack("<H", -header_end % alignment) + \
        b"Z" * (-header_end % alignment)
    return info


def write_pth(obj: Any, file: BinaryIO, archive_name: str = "archive") -> None:
    """Write ``obj`` (dicts/lists/tuples of NumPy arrays and plain values) to ``file`` in the
    zip format of ``torch.save``."""
    writer = _PickleWriter()
    writer.value(obj)
    writer.out += pickle.STOP
    with zipfile.ZipFile(file, "w", zipfile.ZIP_STORED) as archive:
        entries = [("data.pkl", bytes(writer.out)), ("byteorder", b"little")]
        entries += [(f"data/{i}", array.tobytes()) for i, array in enumerate(writer.storages)]
        entries += [("version", b"3\n")]
        for name, data in entries:
            archive.writestr(_aligned_info(archive, f"{archive_name}/{name}"), data)
