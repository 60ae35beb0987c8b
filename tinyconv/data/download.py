"""Download a file, check its checksum, and only then put it in place.

:func:`download_url` streams a URL into a temporary file next to the destination while hashing it,
compares the digest with the expected MD5 and/or SHA-256, and renames the temporary file onto the
destination only when they match (``os.replace`` is atomic on one file system). Whatever goes
wrong — no network, a bad mirror, a checksum mismatch, Ctrl-C — the temporary file is removed, so a
half-written or corrupted file never sits where the next run would trust it.

Any URL ``urllib`` can open works, ``file://`` included: the tests download from files they wrote
themselves, with no network.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Union

PathLike = Union[str, "os.PathLike[str]"]

_CHUNK_BYTES = 1 << 20


class ChecksumError(RuntimeError):
    """A downloaded file's digest differs from the expected one (corrupt or different file)."""


def file_digest(path: PathLike, algorithm: str = "md5") -> str:
    """The hex digest of a file's bytes (``"md5"``, ``"sha256"``, or any ``hashlib`` name)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_url(url: str, path: PathLike, md5: str | None = None,
                 sha256: str | None = None, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``path`` atomically, checking ``md5`` and/or ``sha256`` (hex digests).

    The parent folder is created if needed. Raises :class:`ChecksumError` when a digest does not
    match, and ``urllib``'s ``URLError`` / ``OSError`` when the URL cannot be read; in every failure
    ``path`` is left untouched (absent, or as it was) and no temporary file remains.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    hashes = {"md5": hashlib.md5(), "sha256": hashlib.sha256()}
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as src:
            for chunk in iter(lambda: src.read(_CHUNK_BYTES), b""):
                out.write(chunk)
                for digest in hashes.values():
                    digest.update(chunk)
            out.flush()
            os.fsync(out.fileno())
        for name, expected in (("md5", md5), ("sha256", sha256)):
            actual = hashes[name].hexdigest()
            if expected is not None and actual != expected.lower():
                raise ChecksumError(f"download of {url}: {name.upper()} checksum mismatch, expected"
                                    f" {expected.lower()} but got {actual}; the file is corrupt or "
                                    f"not the expected one, and was not saved to {path}")
        os.replace(temporary, path)
    except BaseException:  # also Ctrl-C: never leave the partial file behind
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    return path


def download_from_mirrors(filename: str, root: PathLike, mirrors: Sequence[str],
                          md5: str | None = None, sha256: str | None = None,
                          timeout: float = 60.0) -> Path:
    """Download ``filename`` into ``root`` from the first of ``mirrors`` (base URLs) that works.

    Each mirror is tried in order (``mirror + filename``); a failure, checksum mismatches
    included, moves on to the next. If all fail, raises ``RuntimeError`` naming each mirror and its
    error (chained from the last one).
    """
    if not mirrors:
        raise ValueError(f"download: no mirror to download {filename} from")
    errors = []
    for mirror in mirrors:
        url = mirror if mirror.endswith(filename) else mirror.rstrip("/") + "/" + filename
        try:
            return download_url(url, Path(root) / filename, md5=md5, sha256=sha256,
                                timeout=timeout)
        except (OSError, ChecksumError) as error:  # URLError and HTTPError are OSErrors
            errors.append((url, error))
    summary = "\n".join(f"  {url}: {error}" for url, error in errors)
    raise RuntimeError(f"download: could not get {filename} into {root} from any mirror:\n"
                       f"{summary}") from errors[-1][1]
