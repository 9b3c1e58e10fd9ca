"""The container every multi-file model artifact uses: a zip whose first entry is its manifest.

Packed skops models (:mod:`.packed`), gradient-boosting models in their own formats (:mod:`.native`) and
models written in the project (:mod:`.project_models`) are each several files: one zip, stored (not
compressed: the files are compressed already or small), entries written with a fixed timestamp so the same
model gives the same bytes (and so the same digest). Which format an artifact is, is read from the name of
its first entry, its manifest. The manifests of native and project models list the SHA-256 of every other
entry; :func:`verified_entries` reads them back only when the entries are exactly those and each matches.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterable
from typing import Any

from mlfactory.errors import IntegrityError

_ZIP_HEADER = b"PK\x03\x04"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed entry timestamps: the same inputs give the same container bytes


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_stored(entries: Iterable[tuple[str, bytes]]) -> bytes:
    """The zip of ``entries`` in order (the manifest first), uncompressed, with fixed timestamps."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for name, data in entries:
            z.writestr(zipfile.ZipInfo(name, _EPOCH), data)
    return out.getvalue()


def starts_with_entry(data: bytes, entry: str) -> bool:
    """Whether ``data`` is a zip whose first entry is named ``entry`` (read from its first local header)."""
    name = entry.encode()
    if data[:4] != _ZIP_HEADER or len(data) < 30 + len(name):
        return False
    name_length = int.from_bytes(data[26:28], "little")
    return name_length == len(name) and data[30 : 30 + len(name)] == name


def verified_entries(
    archive: zipfile.ZipFile,
    manifest: str,
    hashes: dict[str, str],
    label: str,
    inconsistent: Callable[[str], IntegrityError],
) -> dict[str, bytes]:
    """Every entry ``hashes`` lists, each checked against its SHA-256; no other entry but the manifest may
    be present (``inconsistent(why)`` is raised otherwise)."""
    names = set(archive.namelist()) - {manifest}
    if names != set(hashes):
        raise inconsistent(f"it holds {sorted(names)}, the manifest lists {sorted(hashes)}")
    entries = {name: archive.read(name) for name in hashes}
    for name, data in entries.items():
        if sha256(data) != hashes[name]:
            raise IntegrityError(
                f"{label}'s {name} does not match the hash it was saved with; refusing to load"
            )
    return entries


def opened(
    data: bytes,
    manifest: str,
    fmt: str,
    version: int,
    kind: str,
    label: str,
    inconsistent: Callable[[str], IntegrityError],
) -> tuple[zipfile.ZipFile, dict[str, Any]]:
    """The archive and its manifest, checked to describe format ``fmt`` at ``version`` (``kind`` names the
    format in the error a version from another mlfactory gets)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        described = json.loads(archive.read(manifest))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise inconsistent(str(exc)) from None
    if not isinstance(described, dict) or described.get("format") != fmt:
        raise inconsistent(f"{manifest} does not describe a {fmt} artifact")
    if described.get("version") != version:
        raise IntegrityError(
            f"{label} was saved in {kind} format version {described.get('version')}; this mlfactory reads "
            f"version {version}. Load it with the mlfactory that saved it, or retrain"
        )
    return archive, described
