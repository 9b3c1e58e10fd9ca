"""Upkeep of the project's object storage: incomplete multipart uploads under its prefixes (`mlfactory storage
cleanup`), thin calls into :mod:`mlfactory.stores.fs`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from mlfactory.config import parse_duration
from mlfactory.errors import ConfigError
from mlfactory.project.base import ProjectState

if TYPE_CHECKING:
    from mlfactory.stores.fs import IncompleteUpload, StorageLocation


@dataclass(frozen=True)
class StaleUpload:
    """An incomplete upload found under one of the project's prefixes.

    Attributes:
        store: which of the project's places it is under (``artifacts``, ``datasets``, ``prediction log``).
        url: the object it would have become, without credentials.
        upload_id: the storage's id of the upload.
        started: when it was started (UTC).
    """

    store: str
    url: str
    upload_id: str
    started: datetime


@dataclass(frozen=True)
class UploadCleanup:
    """What `mlfactory storage cleanup` found and did.

    Attributes:
        checked: the bucket prefixes searched (local folders have no incomplete uploads).
        stale: the uploads older than the threshold, oldest first.
        aborted: whether they were aborted (False for a dry run).
        recent: incomplete uploads younger than the threshold, left alone as possibly still under way.
    """

    checked: list[str]
    stale: list[StaleUpload]
    aborted: bool
    recent: int


class StorageMethods(ProjectState):
    """The Project's methods over its object storage."""

    def _storage_places(self) -> dict[str, StorageLocation]:
        """Every place the project writes objects, by name (the prediction log's module is imported here)."""
        from mlfactory.stores.fs import open_location
        from mlfactory.stores.predictions import log_location

        stores = self.config.stores
        return {
            "artifacts": open_location(stores.artifacts, self.loaded.root, stores.storage_options),
            "datasets": open_location(stores.datasets, self.loaded.root, stores.storage_options),
            "prediction log": log_location(self.loaded),
        }

    def cleanup_uploads(
        self, older_than: float | str = "1d", *, dry_run: bool = False, now: datetime | None = None
    ) -> UploadCleanup:
        """Find, and abort, incomplete multipart uploads under the project's prefixes.

        A writer killed mid-upload leaves its parts stored (and billed) but invisible; no reader ever sees
        them. Only uploads started before ``older_than`` are aborted, so an upload under way is left to
        finish; nothing outside the artifact store, the dataset scratch space and the prediction log is
        touched.

        Args:
            older_than: the age an upload must have (seconds, or a duration such as ``1d``).
            dry_run: only report what would be aborted.
            now: the current time (default: the clock).

        Raises:
            ConfigError: ``older_than`` is not a duration.
            MLFactoryError: the storage refused the listing or an abort (missing bucket, access denied,
                unreachable endpoint).
        """
        from mlfactory.stores.fs import abort_upload, incomplete_uploads

        try:
            age = timedelta(seconds=parse_duration(older_than))
        except ValueError as exc:
            raise ConfigError(f"--older-than: {exc}") from None
        cutoff = (now or datetime.now(UTC)) - age
        checked: list[str] = []
        found: dict[tuple[str, str], tuple[str, StorageLocation, IncompleteUpload]] = {}
        for store, location in self._storage_places().items():
            if location.local or location.describe() in checked:
                continue
            checked.append(location.describe())
            for upload in incomplete_uploads(location):  # nested prefixes list an upload once
                found.setdefault((upload.key, upload.upload_id), (store, location, upload))
        stale = [(s, loc, u) for s, loc, u in found.values() if u.started < cutoff]
        if not dry_run:
            for _, location, upload in stale:
                abort_upload(location, upload)
        return UploadCleanup(
            checked=checked,
            stale=sorted(
                (StaleUpload(s, u.url, u.upload_id, u.started) for s, _, u in stale), key=lambda x: x.started
            ),
            aborted=not dry_run,
            recent=len(found) - len(stale),
        )
