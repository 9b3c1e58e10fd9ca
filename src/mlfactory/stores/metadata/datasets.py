"""Dataset versions: immutable snapshots of a source, identified by the hash of their content."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from mlfactory.entities import DatasetVersion


class DatasetsStore(ABC):
    """Dataset versions by source."""

    @abstractmethod
    def add_dataset(
        self,
        *,
        source: str,
        content_hash: str,
        artifact: str,
        n_rows: int,
        schema: dict[str, Any],
        profile: dict[str, Any],
        validation: dict[str, Any],
        valid: bool,
    ) -> tuple[DatasetVersion, bool]:
        """Record a snapshot of a source as its next version.

        Args:
            source: the source's name.
            content_hash: SHA-256 of the snapshot's content; names the version with the source.
            artifact: SHA-256 of the Parquet file in the artifact store.
            n_rows: rows in the snapshot.
            schema: the inferred column schema (free-form JSON).
            profile: the reference profile (free-form JSON).
            validation: the validation result; its ``reasons`` become the event's reason when invalid.
            valid: whether the snapshot passed validation.

        Returns:
            (version, created): the new version and True, or the existing version with identical content
            and False.

        Raises:
            StoreUnavailableError: the store cannot be reached.

        Guarantees: idempotent on (source, content_hash); version numbers per source are 1, 2, 3, ... even
        under concurrent writers; a new version and its ``dataset.ingested`` event are written atomically.
        """

    @abstractmethod
    def get_dataset(self, dataset_id: str) -> DatasetVersion:
        """One dataset version by id.

        Args:
            dataset_id: the version's id (``<source>-<hash prefix>``).

        Returns:
            The dataset version.

        Raises:
            NotFoundError: no version has this id.
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def list_datasets(self, source: str | None = None) -> list[DatasetVersion]:
        """Dataset versions, ordered by source and then version number.

        Args:
            source: only this source's versions (all sources when None).

        Returns:
            The versions (empty when there are none; an unknown source is not an error).

        Raises:
            StoreUnavailableError: the store cannot be reached.
        """
