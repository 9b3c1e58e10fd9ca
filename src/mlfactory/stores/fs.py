"""The one filesystem layer: a folder or a bucket by URL, through fsspec.

Everything the factory keeps as bytes (artifacts, dataset snapshots, the prediction log, reports, file
sources) reaches storage through a :class:`StorageLocation`. Credentials come from each cloud's standard chain
(environment, profile, instance role), never from the project file: ``storage_options`` carries non-secret
settings only, such as an S3-compatible endpoint URL.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit, urlunsplit

import fsspec
from fsspec.implementations.local import LocalFileSystem

from mlfactory.errors import ConfigError, MLFactoryError, NotFoundError, StorageError, StoreUnavailableError

_CHUNK = 8 << 20

# scheme -> (fsspec protocol, the package that implements it, the mlfactory extra that installs it)
_BACKENDS: dict[str, tuple[str, str, str]] = {
    "s3": ("s3", "s3fs", "s3"),
    "s3a": ("s3", "s3fs", "s3"),
    "gs": ("gcs", "gcsfs", "gcs"),
    "gcs": ("gcs", "gcsfs", "gcs"),
    "az": ("abfs", "adlfs", "azure"),
    "abfs": ("abfs", "adlfs", "azure"),
    "abfss": ("abfs", "adlfs", "azure"),
}


@dataclass(frozen=True)
class StorageLocation:
    """A folder on some filesystem: a local path or a prefix in a bucket.

    Attributes:
        url: the location as configured (may be relative for a local folder).
        fs: the fsspec filesystem that reaches it.
        root: the folder's path inside ``fs`` (no trailing slash; no scheme for buckets).
        local: whether ``fs`` is the local disk (so atomic renames and fsync are available).
    """

    url: str
    fs: Any  # fsspec.AbstractFileSystem: fsspec ships no type information
    root: str
    local: bool

    def join(self, *parts: str) -> str:
        """A path under the root, as ``fs`` understands it.

        Args:
            *parts: path segments below the root (``/`` separated).

        Returns:
            The joined path.
        """
        tail = "/".join(p.strip("/") for p in parts if p.strip("/"))
        return f"{self.root}/{tail}" if tail else self.root

    def describe(self, path: str | None = None) -> str:
        """The location (or one path in it) as a URL fit for messages and logs: no credentials, no query.

        Args:
            path: a path returned by :meth:`join`; the root when omitted.

        Returns:
            The URL without user information or query string.
        """
        where = self.root if path is None else path
        if self.local:
            return where
        scheme = urlsplit(self.url).scheme or "s3"
        return f"{scheme}://{where}"


def _backend(location: StorageLocation) -> str:
    """The fsspec protocol of a bucket location ("s3", "gcs", "abfs"); empty for a local folder."""
    scheme = urlsplit(location.url).scheme.lower()
    return "" if location.local else _BACKENDS.get(scheme, ("",))[0]


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if not parts.scheme:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _backend_options(scheme: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Translate the friendly, backend-neutral names and keep listings fresh across processes."""
    out = dict(options)
    if scheme in ("s3", "s3a"):
        if "region" in out:
            out.setdefault("client_kwargs", {})["region_name"] = out.pop("region")
        if "anonymous" in out:
            out["anon"] = out.pop("anonymous")
        # a down endpoint is reported in seconds, not after botocore's default minute of retries; the
        # callers that must survive an outage (the prediction log) hold rows and try again themselves
        out.setdefault(
            "config_kwargs", {"connect_timeout": 5, "retries": {"max_attempts": 2, "mode": "standard"}}
        )
    elif scheme in ("gs", "gcs") and "anonymous" in out:
        if out.pop("anonymous"):
            out["token"] = "anon"  # gcsfs's spelling of unauthenticated access
    elif "anonymous" in out:
        out["anon"] = out.pop("anonymous")
    # another process may have written since we last listed: never answer from a stale listing
    out.setdefault("use_listings_cache", False)
    return out


def open_location(
    url_or_path: str, base: Path, storage_options: Mapping[str, Any] | None = None
) -> StorageLocation:
    """Open a folder or bucket prefix by URL.

    Args:
        url_or_path: a relative or absolute path, ``file://…``, ``s3://bucket/prefix``, ``gs://…``,
            ``az://container/prefix`` or ``abfs://…``.
        base: the folder relative paths resolve against (the project folder).
        storage_options: non-secret backend settings (``endpoint_url``, ``region``, ``anonymous``, or the
            backend's own keyword arguments); ignored for local paths.

    Returns:
        The location. Nothing is created or contacted yet.

    Raises:
        ConfigError: the scheme is unknown, or its backend package is not installed.
    """
    if "://" not in url_or_path or url_or_path.startswith("file://"):
        path = Path(url_or_path.removeprefix("file://"))
        path = path if path.is_absolute() else base / path
        return StorageLocation(url_or_path, LocalFileSystem(), str(path), True)
    scheme = url_or_path.split("://", 1)[0].lower()
    if scheme not in _BACKENDS:
        known = ", ".join(f"{s}://" for s in _BACKENDS)
        raise ConfigError(
            f"storage URL '{_redact(url_or_path)}' has an unsupported scheme '{scheme}://'; use a folder "
            f"path, file://, or one of {known}"
        )
    protocol, package, extra = _BACKENDS[scheme]
    try:
        fs = fsspec.filesystem(protocol, **_backend_options(scheme, storage_options or {}))
    except ImportError:
        raise ConfigError(
            f"storage URL '{_redact(url_or_path)}' needs the {package} package; install it with "
            f'pip install "mlfactory[{extra}]"'
        ) from None
    except TypeError as exc:  # an option the backend does not know
        raise ConfigError(f"stores.storage_options do not fit {scheme}://: {exc}") from None
    root = url_or_path.split("://", 1)[1].split("?", 1)[0].rstrip("/")
    if "@" in root.split("/", 1)[0]:  # user information before the bucket is never a path
        root = root.split("@", 1)[1]
    return StorageLocation(url_or_path, fs, root, False)


def scan_filesystem(location: StorageLocation) -> Any:
    """The bucket's filesystem as DuckDB should scan Parquet through it: the same backend and settings, its
    files opened without a read cache.

    DuckDB asks for the byte ranges it needs; a read-ahead cache (s3fs fetches 50 MiB past every read) would
    pull whole files into memory instead, and a query over many files would hold them all at once, so its
    memory would grow with the files it scans.

    Args:
        location: a bucket location (not a local folder, which DuckDB reads itself).

    Returns:
        The fsspec filesystem to register with DuckDB (``register_filesystem``).
    """
    protocol = location.fs.protocol
    name = protocol if isinstance(protocol, str) else protocol[0]
    return fsspec.filesystem(name, **{**location.fs.storage_options, "default_cache_type": "none"})


def missing_bucket(location: StorageLocation) -> NotFoundError | None:
    """The error to raise when the location's bucket does not exist, else None (always for local folders).

    Object stores answer "no such key" and "no such bucket" alike to many calls; callers that found nothing
    ask this before saying an object is missing, so a wrong bucket name is reported as such.

    Args:
        location: the location to check.

    Returns:
        A NotFoundError naming the bucket, or None when it exists (or cannot be checked).
    """
    if location.local:
        return None
    bucket = location.root.split("/", 1)[0]
    try:
        if location.fs.exists(bucket):
            return None
    except Exception:  # an unreachable endpoint or a refusal is reported by the call that failed
        return None
    return _no_bucket(location, location.describe())


def _no_bucket(location: StorageLocation, where: str) -> NotFoundError:
    kind = "container" if _backend(location) == "abfs" else "bucket"  # Azure Blob's word for it
    return NotFoundError(
        f"{kind} '{location.root.split('/', 1)[0]}' of {where} does not exist; create it, or fix the URL in "
        "the project file"
    )


def _chain(exc: BaseException) -> list[BaseException]:
    """The failure and those it wraps (causes and contexts, a few levels deep: the backends wrap theirs)."""
    found: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo and len(found) < 8:
        e = todo.pop(0)
        if e is not None and all(e is not f for f in found):
            found.append(e)
            todo += [e.__cause__, e.__context__]
    return found


def _status(exc: BaseException) -> tuple[str, str]:
    """(error code, message) of a botocore ClientError or an Azure HttpResponseError, or of one it wraps;
    empty when there is none."""
    for e in _chain(exc):
        response = getattr(e, "response", None)
        if isinstance(response, dict):
            err = response.get("Error", {})
            return str(err.get("Code", "")), str(err.get("Message", ""))
        code = getattr(e, "error_code", None)  # Azure's: a StorageErrorCode, a str enum
        if code:
            return str(getattr(code, "value", code)), str(getattr(e, "reason", "") or "")
    return "", ""


# the codes of a refused request: S3's, and Azure Blob's (a wrong key, a token without the role, and the like)
_DENIED = frozenset(
    {
        "AccessDenied",
        "403",
        "InvalidAccessKeyId",
        "AuthenticationFailed",
        "AuthorizationFailure",
        "AuthorizationPermissionMismatch",
        "InsufficientAccountPermissions",
    }
)


def _unreachable(exc: BaseException) -> bool:
    names = {type(e).__name__ for e in _chain(exc)}
    return bool(
        names
        & {
            "EndpointConnectionError",
            "ConnectTimeoutError",
            "ReadTimeoutError",
            "ClientConnectorError",
            "ServerDisconnectedError",
            "ConnectionRefusedError",
            "ConnectionError",
            "TimeoutError",
            "ServiceUnavailableError",
        }
    )


def storage_error(location: StorageLocation, exc: BaseException, path: str | None = None) -> MLFactoryError:
    """Map a storage failure to the error tree, naming the URL (without secrets) and the fix.

    Args:
        location: where it happened.
        exc: the failure from fsspec, the backend or the OS.
        path: the object or file concerned, when it is more than the root.

    Returns:
        NotFoundError (bucket or object missing), StoreUnavailableError (endpoint unreachable) or StorageError
        (access denied, anything else); an MLFactoryError is returned unchanged.
    """
    if isinstance(exc, MLFactoryError):
        return exc
    where = location.describe(path)
    code, message = _status(exc)
    text = f"{code} {message} {exc}".lower()
    if (
        code in ("NoSuchBucket", "ContainerNotFound")
        or "bucket does not exist" in text
        or "nosuchbucket" in text
    ):
        return _no_bucket(location, where)
    if isinstance(exc, PermissionError) or code in _DENIED:
        return StorageError(
            f"access denied to {where}; check the credentials the environment, profile or instance role "
            "provides (never the project file) and that they may read and write there"
        )
    if _unreachable(exc):
        return StoreUnavailableError(
            f"storage at {where} cannot be reached ({type(exc).__name__}); check the endpoint "
            "(stores.storage_options.endpoint_url) and the network, or retry when it is back"
        )
    if isinstance(exc, FileNotFoundError):
        return NotFoundError(f"{where} does not exist")
    return StorageError(f"storage at {where} failed: {type(exc).__name__}: {str(exc)[:300]}")


def _put_local(path: str, data: bytes | BinaryIO) -> None:
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            if isinstance(data, bytes):
                out.write(data)
            else:
                while chunk := data.read(_CHUNK):
                    out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)  # atomic: readers see the whole file or none
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _guarded(location: StorageLocation, path: str | None, fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # OSError, and backend errors (botocore, aiohttp) that share no base class
        raise storage_error(location, exc, path) from exc


def _put_stream(location: StorageLocation, path: str, data: BinaryIO) -> None:
    # parts of 8 MiB: S3 wants 5 MiB or more per part
    out = _guarded(location, path, location.fs.open, path, "wb", block_size=_CHUNK)
    try:
        while chunk := data.read(_CHUNK):  # the source's own errors pass through as they are
            _guarded(location, path, out.write, chunk)
        _guarded(location, path, out.close)  # completes the upload: the object appears whole
    except BaseException:
        # s3fs aborts a failed upload of its own (put_file, pipe_file), but a file opened for writing
        # completes whatever it holds when closed or collected, and leaves the upload behind when its last
        # part or the completion fails: abort it here, so nothing becomes visible and no parts are kept
        with contextlib.suppress(Exception):
            out.discard()
        out.closed = True  # a discarded file must not try to finish itself when collected
        raise


def put_atomic(location: StorageLocation, path: str, data: bytes | BinaryIO) -> None:
    """Write a whole object or file that no reader ever sees partially.

    Local folders get a temporary file in the same folder, fsync, and an atomic rename. Object stores get one
    PUT, or a multipart upload (a list of blocks on Azure Blob) that becomes visible only when completed (an
    interrupted one is aborted, or never completes after a kill). Of two writers of one object at once, one
    whole object stays; neither fails for the other.

    Args:
        location: the location ``path`` belongs to.
        path: the final path (from :meth:`StorageLocation.join`).
        data: the bytes, or a binary file object read to its end.

    Raises:
        MLFactoryError: mapped by :func:`storage_error` when the storage refuses the write; an error of the
            ``data`` file object itself passes through unchanged (and nothing is written).
    """
    if location.local:
        try:
            _put_local(path, data)
        except OSError as exc:
            raise storage_error(location, exc, path) from exc
        return
    try:
        if isinstance(data, bytes):
            _guarded(location, path, location.fs.pipe_file, path, data)
        else:
            _put_stream(location, path, data)
    except MLFactoryError as exc:
        if not _superseded(location, exc, path):
            raise


def _superseded(location: StorageLocation, exc: MLFactoryError, path: str) -> bool:
    """Whether a failed Azure Blob upload lost only to another writer's whole upload of the same blob.

    Committing a blob's blocks discards every uncommitted block of that blob, another writer's too: of two
    writers uploading one blob at once, the later to commit finds its blocks gone (InvalidBlockList) while
    the blob holds the other's whole object. That is what two whole writes one after the other leave (ours,
    then theirs), so the write is done; any other failure stays one.
    """
    if _status(exc)[0] != "InvalidBlockList":
        return False
    try:
        return bool(location.fs.exists(path))
    except Exception:  # the original failure is the one to report
        return False


def put_url(
    url_or_path: str, data: bytes, base: Path, storage_options: Mapping[str, Any] | None = None
) -> str:
    """Write one whole file or object named by a path or URL (a report page, say), as :func:`put_atomic` does.

    Args:
        url_or_path: a file path (relative to ``base``), ``file://…``, or an object URL such as
            ``s3://bucket/reports/drift.html``.
        data: the bytes.
        base: the folder a relative path resolves against.
        storage_options: non-secret backend settings for an object URL (``stores.storage_options``).

    Returns:
        Where the bytes were written: the path, or the URL without credentials.

    Raises:
        ConfigError: the target names a folder or a bucket rather than a file, or its scheme is unsupported.
        MLFactoryError: mapped by :func:`storage_error` when the storage refuses the write.
    """
    if "://" in url_or_path and not url_or_path.startswith("file://"):
        scheme, rest = url_or_path.split("?", 1)[0].split("://", 1)
        folder, _, name = rest.rpartition("/")
        if not folder or not name:
            raise ConfigError(
                f"'{_redact(url_or_path)}' names a bucket or a folder, not an object; add a file name, e.g. "
                f"{scheme}://{rest.rstrip('/')}/report.html"
            )
        location = open_location(f"{scheme}://{folder}", base, storage_options)
    else:
        path = Path(url_or_path.removeprefix("file://"))
        path = path if path.is_absolute() else base / path
        if url_or_path.endswith("/") or path.is_dir():
            raise ConfigError(
                f"'{path}' is a folder, not a file; add a file name, e.g. {path / 'report.html'}"
            )
        location, name = open_location(str(path.parent), base), path.name
    target = location.join(name)
    put_atomic(location, target, data)
    return location.describe(target)


@dataclass(frozen=True)
class IncompleteUpload:
    """A multipart upload that was started and never completed nor aborted (its writer was killed, say).

    Its parts are stored, and billed, but no listing shows them and no reader ever sees them.

    Attributes:
        url: the object it would have become, without credentials.
        key: that object's path inside the location's filesystem (``bucket/key``).
        upload_id: the storage's id of the upload.
        started: when it was started (UTC).
    """

    url: str
    key: str
    upload_id: str
    started: datetime


def _s3(location: StorageLocation) -> bool:
    return _backend(location) == "s3"


def incomplete_uploads(location: StorageLocation) -> list[IncompleteUpload]:
    """The incomplete multipart uploads under a location, oldest first.

    Only S3 and S3-compatible stores keep them until told otherwise; Google Cloud Storage expires an
    abandoned resumable upload after a week and Azure Blob drops uncommitted blocks after a week, and a local
    folder has none, so those answer an empty list.

    Args:
        location: a folder or bucket prefix; only uploads of keys under it are listed.

    Returns:
        The uploads, oldest first.

    Raises:
        MLFactoryError: mapped by :func:`storage_error` (missing bucket, access denied, unreachable).
    """
    if not _s3(location):
        return []
    bucket, _, prefix = location.root.partition("/")
    query = {"Bucket": bucket, "Prefix": f"{prefix}/" if prefix else ""}
    found: list[IncompleteUpload] = []
    while True:
        page = _guarded(location, None, location.fs.call_s3, "list_multipart_uploads", **query)
        for u in page.get("Uploads", []):
            key = f"{bucket}/{u['Key']}"
            started = u["Initiated"].astimezone(UTC)
            found.append(IncompleteUpload(location.describe(key), key, u["UploadId"], started))
        if not page.get("IsTruncated"):
            break
        query.update(KeyMarker=page["NextKeyMarker"], UploadIdMarker=page["NextUploadIdMarker"])
    return sorted(found, key=lambda u: u.started)


def abort_upload(location: StorageLocation, upload: IncompleteUpload) -> None:
    """Abort an incomplete multipart upload, deleting its parts (one that has just ended is left alone).

    Args:
        location: the location it was listed under (:func:`incomplete_uploads`).
        upload: the upload.

    Raises:
        MLFactoryError: mapped by :func:`storage_error` when the storage refuses.
    """
    bucket, _, key = upload.key.partition("/")
    try:
        location.fs.call_s3("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload.upload_id)
    except Exception as exc:  # see _guarded
        if _status(exc)[0] == "NoSuchUpload" or isinstance(exc, FileNotFoundError):
            return  # completed or aborted by its writer or another cleanup meanwhile
        raise storage_error(location, exc, upload.key) from exc
