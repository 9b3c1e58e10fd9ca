"""Verified local copies of bucket artifacts, for readers that need a file, kept under a size limit.

A bucket artifact store (:class:`~mlfactory.stores.artifacts.ObjectArtifactStore`) downloads an artifact once
per machine into ``<project>/.mlfactory/cache/artifacts/ab/cdef…`` and re-hashes the copy on every use. A
long-running server or controller loads every version it is ever asked for, so the cache keeps at most
``stores.artifact_cache.max_size`` bytes: when a new copy takes it past that, the least recently used copies
are removed, never the one just written.

Several processes of a project share the cache with no lock and no index file. The record of use is each
copy's modification time, set from the clock on every use (access times are often not kept by the mount, and
the kernel's own "now" is too coarse to order two uses a few microseconds apart). A copy removed while another
process has it open stays readable by that process (POSIX); a process whose copy vanished before it got to
it downloads it again. Copies appear by rename, so a reader never sees a partial one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_CHUNK = 1 << 20

# a download that has not written for this long belongs to a process that died: its temporary file goes
STALE_DOWNLOAD_NS = 24 * 3600 * 10**9


@dataclass(frozen=True)
class _Entry:
    path: Path
    size: int
    used_ns: int
    partial: bool  # a download under way (or abandoned): a temporary name, never handed to a reader


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in chunks (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _mark_used(path: Path) -> None:
    now = time.time_ns()
    os.utime(path, ns=(now, now))


class ArtifactCache:
    """Local copies of artifacts by digest, least recently used removed past ``max_size`` bytes.

    Args:
        root: the cache folder (``<project>/.mlfactory/cache/artifacts``).
        max_size: the bytes the copies may take; None keeps every copy.
    """

    def __init__(self, root: Path, max_size: int | None) -> None:
        self.root = Path(root)
        self.max_size = max_size

    def path(self, digest: str) -> Path:
        """Where the copy of ``digest`` is kept (whether or not it is there)."""
        return self.root / digest[:2] / digest[2:]

    def get(self, digest: str) -> Path | None:
        """The copy of ``digest``, re-hashed and marked used; None when there is none, another process removed
        it meanwhile, or its bytes no longer match (the caller downloads it again, replacing it)."""
        path = self.path(digest)
        try:
            if sha256_file(path) != digest:
                return None
            _mark_used(path)
        except FileNotFoundError:
            return None
        return path

    def add(self, digest: str, write: Callable[[BinaryIO], None]) -> Path:
        """Keep a new copy of ``digest``, then make room for it.

        Args:
            digest: the artifact's SHA-256.
            write: writes the artifact's bytes to the file it is given, checking them against ``digest``
                (raising leaves no copy behind).

        Returns:
            The copy, whole and verified by ``write``.
        """
        path = self.path(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                write(out)
            os.replace(name, path)  # the cache, too, only ever holds whole, verified files
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
            raise
        _mark_used(path)
        self._make_room(keep=path)
        return path

    def _entries(self) -> Iterator[_Entry]:
        if not self.root.is_dir():
            return
        for folder in os.scandir(self.root):
            if not (folder.is_dir() and len(folder.name) == 2):
                continue
            for item in os.scandir(folder.path):
                try:
                    st = item.stat()
                except FileNotFoundError:  # removed by another process while we looked
                    continue
                yield _Entry(Path(item.path), st.st_size, st.st_mtime_ns, item.name.startswith(".tmp-"))

    def _make_room(self, keep: Path) -> None:
        """Remove abandoned downloads, then the least recently used copies (never ``keep``) until the cache
        fits its limit."""
        stale = time.time_ns() - STALE_DOWNLOAD_NS
        entries = []
        for entry in self._entries():
            if entry.partial and entry.used_ns < stale:
                with contextlib.suppress(FileNotFoundError):
                    entry.path.unlink()
            else:
                entries.append(entry)
        if self.max_size is None:
            return
        total = sum(e.size for e in entries)
        for entry in sorted(entries, key=lambda e: e.used_ns):
            if total <= self.max_size:
                break
            if entry.partial or entry.path == keep:
                continue
            with contextlib.suppress(FileNotFoundError):  # another process removed it first
                entry.path.unlink()
            total -= entry.size
