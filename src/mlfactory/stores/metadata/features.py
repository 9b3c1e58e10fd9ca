"""Feature metadata: view versions, cached feature tables, training sets and skew reports."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from mlfactory.entities import FeatureTable, FeatureViewRecord, SkewReportRecord, TrainingSetRecord


class FeaturesStore(ABC):
    """What the feature store records; the tables themselves live in the artifact store."""

    @abstractmethod
    def register_feature_view(
        self,
        name: str,
        code_version: str,
        *,
        entity: str,
        source: str,
        definition: dict[str, Any],
    ) -> bool:
        """Record a feature view's definition under its code version.

        Args:
            name: the view's name.
            code_version: the hash of the view's code and definition.
            entity: the entity it is keyed by.
            source: the source it is computed from.
            definition: the view's ``to_dict()``.

        Returns:
            True when recorded now, False when this (name, code_version) was recorded before.

        Raises:
            StoreUnavailableError: the store cannot be reached.

        Guarantees: idempotent, also under concurrent writers (the first definition stays).
        """

    @abstractmethod
    def list_feature_views(self, name: str | None = None) -> list[FeatureViewRecord]:
        """Recorded view versions, oldest first (then by name).

        Args:
            name: only this view's versions (all views when None).

        Returns:
            The recorded versions (empty for an unknown view; not an error).

        Raises:
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def get_feature_table(self, view: str, code_version: str, dataset_id: str) -> FeatureTable | None:
        """The cached feature table of a view version over a dataset version.

        Args:
            view: the view's name.
            code_version: the view's code version.
            dataset_id: the dataset version the table was computed from.

        Returns:
            The table's record, or None when it was not computed yet (not an error).

        Raises:
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def add_feature_table(
        self,
        view: str,
        code_version: str,
        dataset_id: str,
        *,
        digest: str,
        n_rows: int,
        backfills: bool,
    ) -> None:
        """Cache a computed feature table, stored in the artifact store under ``digest``.

        Args:
            view: the view's name.
            code_version: the view's code version.
            dataset_id: the dataset version it was computed from.
            digest: SHA-256 of its Parquet file in the artifact store.
            n_rows: its rows.
            backfills: whether some rows were created after their event time.

        Raises:
            StoreUnavailableError: the store cannot be reached.

        Guarantees: idempotent on (view, code_version, dataset_id), also under concurrent writers: the
        first record stays.
        """

    @abstractmethod
    def add_training_set(
        self,
        training_set_id: str,
        *,
        digest: str,
        n_rows: int,
        spec: dict[str, Any],
    ) -> bool:
        """Record a training set built by a point-in-time join.

        Args:
            training_set_id: the hash of its inputs.
            digest: SHA-256 of its Parquet file in the artifact store.
            n_rows: its rows.
            spec: what it was built from.

        Returns:
            True when recorded now, False when it existed (the first record stays; idempotent).

        Raises:
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def get_training_set(self, training_set_id: str) -> TrainingSetRecord:
        """One training set.

        Args:
            training_set_id: its id.

        Returns:
            The training set's record.

        Raises:
            NotFoundError: no training set has this id.
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def add_skew_report(self, model: str, report: dict[str, Any], *, actor: str) -> int:
        """Store a training/serving skew report of a model.

        Args:
            model: the model.
            report: the report's JSON; its ``rows`` and ``max_mismatch_rate`` go into the event.
            actor: who ran the check.

        Returns:
            The report's id (growing integers).

        Raises:
            StoreUnavailableError: the store cannot be reached.

        Guarantees: the report and its ``features.skew`` event are atomic.
        """

    @abstractmethod
    def list_skew_reports(self, model: str, limit: int | None = None) -> list[SkewReportRecord]:
        """A model's skew reports, newest first.

        Args:
            model: the model.
            limit: at most this many (the newest).

        Returns:
            The reports (empty for a model without any; not an error).

        Raises:
            StoreUnavailableError: the store cannot be reached.
        """
