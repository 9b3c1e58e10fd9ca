"""Content-addressed artifact store: bytes are kept under their SHA-256 and verified on every read.

The store lives in a local (or mounted) folder, or under a bucket prefix on S3, Google Cloud Storage or Azure
Blob through :mod:`mlfactory.stores.fs`. Both keep the same guarantees: a reader never sees a partial object
(rename into place, or one PUT / a completed multipart upload), an object is never overwritten with other
bytes (its key is its hash: two writers of the same content write the same bytes), and every read re-hashes
what it got.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from mlfactory.errors import IntegrityError, NotFoundError
from mlfactory.stores.artifact_cache import ArtifactCache, sha256_file
from mlfactory.stores.fs import StorageLocation, missing_bucket, open_location, put_atomic, storage_error

_CHUNK = 1 << 20
_HEX = frozenset("0123456789abcdef")


def _check(digest: str, actual: str, where: object) -> None:
    if actual != digest:
        raise IntegrityError(
            f"artifact {digest[:12]} at {where} was modified (its bytes now hash to {actual[:12]}); "
            "it will not be loaded. Restore it from a backup or retrain to create a new version"
        )


def _valid(digest: str) -> str:
    if len(digest) != 64 or not set(digest) <= _HEX:
        raise NotFoundError(f"'{digest}' is not an artifact digest (64 lowercase hex characters)")
    return digest


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
    def verify(self, digest: str) -> None:
        """Re-hash the stored bytes of ``digest`` where they are kept (never a cached copy).

        Raises:
            IntegrityError: the bytes no longer match ``digest``.
            NotFoundError: nothing is stored under ``digest``.
        """

    @abstractmethod
    def exists(self, digest: str) -> bool:
        """Whether ``digest`` is stored."""

    @abstractmethod
    def digests(self) -> Iterator[str]:
        """Every stored digest (for `mlfactory verify`)."""

    @abstractmethod
    def leftovers(self) -> list[str]:
        """Temporary files a writer left when it stopped before renaming them (never read)."""

    @abstractmethod
    def describe(self) -> str:
        """Where the store is, as a path or URL without credentials (for messages)."""


class LocalArtifactStore(ArtifactStore):
    """Artifacts in a local (or shared, mounted) folder: ``<root>/ab/cdef…``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, digest: str) -> Path:
        _valid(digest)
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

    def verify(self, digest: str) -> None:
        self._verified(digest)

    def exists(self, digest: str) -> bool:
        return self._path(digest).exists()

    def digests(self) -> Iterator[str]:
        for folder in sorted(self.root.glob("[0-9a-f][0-9a-f]")):
            for path in sorted(folder.iterdir()):
                digest = folder.name + path.name
                if len(digest) == 64 and set(digest) <= _HEX:
                    yield digest

    def leftovers(self) -> list[str]:
        return [str(p) for p in sorted(self.root.glob(".tmp-*"))]

    def describe(self) -> str:
        return str(self.root)


class ObjectArtifactStore(ArtifactStore):
    """Artifacts under a bucket prefix (S3, GCS, Azure Blob, MinIO…): ``<prefix>/ab/cdef…``.

    Objects are written whole (one PUT or a completed multipart upload) and never replaced: a put of a
    digest that exists is skipped, and two writers of the same content write the same bytes to the same key.
    Readers that need a file get a verified copy in a local, content-addressed cache of at most
    ``cache_max_size`` bytes (see :mod:`mlfactory.stores.artifact_cache`).
    """

    def __init__(self, location: StorageLocation, cache: Path, cache_max_size: int | None = None) -> None:
        self.location = location
        self.cache = Path(cache)
        self.copies = ArtifactCache(self.cache, cache_max_size)

    def _key(self, digest: str) -> str:
        _valid(digest)
        return self.location.join(digest[:2], digest[2:])

    def _call(self, fn: Any, *args: Any, key: str | None = None) -> Any:
        try:
            return fn(*args)
        except Exception as exc:  # OSError and backend errors (botocore, aiohttp) share no base class
            raise storage_error(self.location, exc, key) from exc

    def _missing(self, digest: str) -> NotFoundError:
        where = self.location.describe()
        return missing_bucket(self.location) or NotFoundError(
            f"artifact {digest[:12]} is missing from {where}"
        )

    def put_bytes(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        if not self.exists(digest):
            put_atomic(self.location, self._key(digest), data)
        return digest

    def put_file(self, path: Path) -> str:
        digest = sha256_file(path)  # the key must be known before the upload starts
        if not self.exists(digest):
            with open(path, "rb") as f:
                put_atomic(self.location, self._key(digest), f)
        return digest

    def get_bytes(self, digest: str) -> bytes:
        key = self._key(digest)
        try:
            data: bytes = self.location.fs.cat_file(key)
        except FileNotFoundError:
            raise self._missing(digest) from None
        except Exception as exc:  # see _call
            raise storage_error(self.location, exc, key) from exc
        _check(digest, hashlib.sha256(data).hexdigest(), self.location.describe(key))
        return data

    def _stream(self, digest: str, out: BinaryIO | None) -> None:
        """Read the object of ``digest`` in chunks (copying them to ``out``) and check its hash."""
        key = self._key(digest)
        try:
            src = self.location.fs.open(key, "rb")
        except FileNotFoundError:
            raise self._missing(digest) from None
        except Exception as exc:  # see _call
            raise storage_error(self.location, exc, key) from exc
        h = hashlib.sha256()
        with src:
            while chunk := self._call(src.read, _CHUNK, key=key):
                h.update(chunk)
                if out is not None:
                    out.write(chunk)
        _check(digest, h.hexdigest(), self.location.describe(key))

    def local_path(self, digest: str) -> Path:
        self._key(digest)
        return self.copies.get(digest) or self.copies.add(digest, lambda out: self._stream(digest, out))

    def verify(self, digest: str) -> None:
        self._stream(digest, None)

    def exists(self, digest: str) -> bool:
        return bool(self._call(self.location.fs.exists, self._key(digest)))

    def _listing(self) -> list[str]:
        try:
            found: list[str] = self.location.fs.find(self.location.root)
        except FileNotFoundError:
            found = []
        except Exception as exc:  # see _call
            raise storage_error(self.location, exc) from exc
        if not found and (error := missing_bucket(self.location)):
            raise error  # an empty listing of a missing bucket must not pass for an empty store
        prefix = self.location.root + "/"
        return sorted(p.removeprefix(prefix) for p in found if p.startswith(prefix))

    def digests(self) -> Iterator[str]:
        for name in self._listing():
            folder, _, rest = name.partition("/")
            digest = folder + rest
            if len(folder) == 2 and "/" not in rest and len(digest) == 64 and set(digest) <= _HEX:
                yield digest

    def leftovers(self) -> list[str]:
        # uploads become visible only when complete, so nothing is left but what another tool put there
        names = [n for n in self._listing() if n.startswith(".tmp-")]
        return [self.location.describe(self.location.join(n)) for n in names]

    def describe(self) -> str:
        return self.location.describe()


def open_artifact_store(
    url: str,
    base: Path,
    storage_options: Mapping[str, Any] | None = None,
    *,
    cache_max_size: int | None = None,
) -> ArtifactStore:
    """Open the artifact store at a folder path, ``file://`` URL or object storage URL.

    Args:
        url: ``stores.artifacts`` from the project file: a path (relative to ``base``), ``file://…``,
            ``s3://…``, ``gs://…`` or ``az://…``.
        base: the project folder.
        storage_options: ``stores.storage_options`` (non-secret backend settings).
        cache_max_size: bytes a bucket store's local copies may take (``stores.artifact_cache.max_size``),
            the least recently used removed past it; None keeps every copy.

    Returns:
        The store. A bucket store caches verified copies for file readers under
        ``<base>/.mlfactory/cache/artifacts``.

    Raises:
        ConfigError: the scheme is unknown, or its backend package is not installed.
    """
    location = open_location(url, base, storage_options)
    if location.local:
        return LocalArtifactStore(Path(location.root))
    return ObjectArtifactStore(location, base / ".mlfactory" / "cache" / "artifacts", cache_max_size)
