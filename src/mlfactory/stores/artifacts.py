"""Content-addressed artifact store: bytes are kept under their SHA-256 and verified on every read."""

from __future__ import annotations

import hashlib
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

from mlfactory.errors import ConfigError, IntegrityError, NotFoundError

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _check(digest: str, actual: str, path: Path) -> None:
    if actual != digest:
        raise IntegrityError(
            f"artifact {digest[:12]} at {path} was modified (its bytes now hash to {actual[:12]}); "
            "it will not be loaded. Restore it from a backup or retrain to create a new version"
        )


class ArtifactStore(ABC):
    """Immutable blobs addressed by the SHA-256 of their bytes."""

    @abstractmethod
    def put_bytes(self, data: bytes) -> str:
        """Store ``data`` and return its SHA-256; storing the same bytes twice is a no-op."""

    @abstractmethod
    def put_file(self, path: Path) -> str:
        """Store a file's bytes and return their SHA-256."""

    @abstractmethod
    def get_bytes(self, digest: str) -> bytes:
        """Return the bytes stored under ``digest``, refusing them if they no longer match it."""

    @abstractmethod
    def local_path(self, digest: str) -> Path:
        """A verified local file holding the bytes of ``digest`` (for readers that need a path)."""

    @abstractmethod
    def exists(self, digest: str) -> bool:
        """Whether ``digest`` is stored."""

    @abstractmethod
    def digests(self) -> Iterator[str]:
        """Every stored digest (for `mlfactory verify`)."""

    @abstractmethod
    def leftovers(self) -> list[Path]:
        """Temporary files a writer left when it stopped before renaming them (never read)."""


class LocalArtifactStore(ArtifactStore):
    """Artifacts in a local (or shared, mounted) folder: ``<root>/ab/cdef…``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, digest: str) -> Path:
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise NotFoundError(f"'{digest}' is not an artifact digest (64 lowercase hex characters)")
        return self.root / digest[:2] / digest[2:]

    def _commit(self, tmp: Path, digest: str) -> str:
        final = self._path(digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            tmp.unlink()
        else:
            os.replace(tmp, final)  # atomic: readers see the whole file or none
        return digest

    def _tmp(self) -> tuple[int, Path]:
        fd, name = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
        return fd, Path(name)

    def put_bytes(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        if self._path(digest).exists():
            return digest
        fd, tmp = self._tmp()
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return self._commit(tmp, digest)

    def put_file(self, path: Path) -> str:
        h = hashlib.sha256()
        fd, tmp = self._tmp()
        with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
            while chunk := src.read(_CHUNK):
                h.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        return self._commit(tmp, h.hexdigest())

    def _verified(self, digest: str) -> Path:
        path = self._path(digest)
        if not path.exists():
            raise NotFoundError(f"artifact {digest[:12]} is missing from {self.root}")
        _check(digest, sha256_file(path), path)
        return path

    def get_bytes(self, digest: str) -> bytes:
        path = self._path(digest)
        if not path.exists():
            raise NotFoundError(f"artifact {digest[:12]} is missing from {self.root}")
        data = path.read_bytes()
        _check(digest, hashlib.sha256(data).hexdigest(), path)
        return data

    def local_path(self, digest: str) -> Path:
        return self._verified(digest)

    def exists(self, digest: str) -> bool:
        return self._path(digest).exists()

    def digests(self) -> Iterator[str]:
        for folder in sorted(self.root.glob("[0-9a-f][0-9a-f]")):
            for path in sorted(folder.iterdir()):
                digest = folder.name + path.name
                if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest):
                    yield digest

    def leftovers(self) -> list[Path]:
        return sorted(self.root.glob(".tmp-*"))


def open_artifact_store(location: str, root: Path) -> ArtifactStore:
    """Pick the artifact backend from its location: a plain or ``file://`` path."""
    if "://" in location and not location.startswith("file://"):
        scheme = location.split("://", 1)[0]
        raise ConfigError(
            f"artifact store scheme '{scheme}://' is not supported; use a folder path or file://"
        )
    path = Path(location.removeprefix("file://"))
    return LocalArtifactStore(path if path.is_absolute() else root / path)
