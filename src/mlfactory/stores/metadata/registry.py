"""Model versions: what was trained, packaged and gated, under a model name."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from mlfactory.entities import Event, Lineage, ModelVersion, Signature, VersionStatus, gates_from_json
from mlfactory.errors import ConflictError

TIMELINE_KINDS = (
    "model.registered",
    "alias.set",
    "alias.rollback",
    "alias.removed",
    "model.archived",
    "model.restored",
)
"""The events of a model's timeline: its registrations, its aliases' moves, its versions archived and
restored."""


def archived_version(ref: str, reason: str | None, doing: str) -> ConflictError:
    """The refusal of ``doing`` (taking an alias, a route) to an archived version, naming the restore."""
    return ConflictError(
        f"{ref} is archived ({reason or 'no reason given'}) and cannot {doing}; bring it back first with "
        f"`mlfactory prune --restore {ref}`"
    )


def model_version(
    row: Mapping[str, Any],
    created_at: datetime,
    aliases: Sequence[str] = (),
    archived_at: datetime | None = None,
) -> ModelVersion:
    """A version from what a backend stores: its columns, with signature, gates and lineage as the JSON
    ``create_model_version`` was given (read back by the records' own ``from_json``), and its archive time
    (UTC-aware, as the backend reads it)."""
    return ModelVersion(
        name=row["name"],
        version=row["version"],
        status=VersionStatus(row["status"]),
        run_id=row["run_id"],
        artifact=row["artifact"],
        flavor=row["flavor"],
        signature=Signature.from_json(row["signature"]),
        metrics=row["metrics"],
        gates=gates_from_json(row["gates"]),
        profile=row["profile"],
        lineage=Lineage.from_json(row["lineage"]),
        card=row["card"],
        created_at=created_at,
        aliases=tuple(sorted(aliases)),
        archived_at=archived_at,
        archive_reason=row.get("archive_reason"),
    )


class RegistryStore(ABC):
    """Registered model versions. Aliases pointing at them belong to :class:`RoutingStore`."""

    @abstractmethod
    def create_model_version(
        self,
        name: str,
        *,
        status: VersionStatus,
        run_id: str | None,
        artifact: str,
        flavor: str,
        signature: dict[str, Any],
        metrics: dict[str, Any],
        gates: list[dict[str, Any]],
        profile: dict[str, Any],
        lineage: dict[str, Any],
        card: str,
        actor: str = "train",
    ) -> ModelVersion:
        """Register the next version number under ``name``.

        Args:
            name: the model's name.
            status: ``ready`` (passed its gates) or ``rejected``.
            run_id: the run that trained it.
            artifact: SHA-256 of the packaged model in the artifact store.
            flavor: how it is packaged (``skops``, ...).
            signature: its inputs and outputs (``Signature.to_json()``).
            metrics: its evaluation metrics.
            gates: one result per quality gate (``GateResult.to_json()``).
            profile: the reference profile of its training data.
            lineage: where it came from (``Lineage.to_json()``).
            card: the model card; ``{version}`` in it is replaced by the new version number.
            actor: who registered it, for the event.

        Returns:
            The new version (without aliases).

        Raises:
            StoreUnavailableError: the store cannot be reached.

        Guarantees: numbers per name are 1, 2, 3, ... with no gap or duplicate under concurrent writers;
        the version and its ``model.registered`` event are written atomically.
        """

    @abstractmethod
    def get_model_version(self, name: str, version: int) -> ModelVersion:
        """One version with the aliases pointing at it.

        Args:
            name: the model.
            version: the version number.

        Returns:
            The version.

        Raises:
            NotFoundError: the model is unknown (the message lists the registered names) or has no such
                version (the message lists its versions); also for numbers no version can have (<= 0 or
                beyond 32 bits).
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def list_model_versions(self, name: str, *, include_archived: bool = False) -> list[ModelVersion]:
        """Every version of a model with its aliases.

        Args:
            name: the model.
            include_archived: archived versions too (hidden by default).

        Returns:
            The versions, oldest first (empty only when every one is archived and they are hidden).

        Raises:
            NotFoundError: the model has no version, archived or not (the message lists the registered
                names).
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def latest_model_version(self, name: str) -> ModelVersion | None:
        """The model's newest version with its aliases, read without loading the whole history.

        Args:
            name: the model.

        Returns:
            The highest-numbered version, or None when the model has none (not an error).

        Raises:
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def model_versions_page(
        self, name: str, *, offset: int = 0, limit: int = 25, include_archived: bool = False
    ) -> list[ModelVersion]:
        """One page of a model's versions with their aliases, newest first, cut by the store: one read of
        the page's rows and one of the model's aliases, whatever the length of its history.

        Args:
            name: the model.
            offset: how many of the newest versions to skip.
            limit: the most versions returned.
            include_archived: archived versions too (hidden by default).

        Returns:
            The versions, highest number first; empty past the oldest.

        Raises:
            NotFoundError: the model has no version (the message lists the registered names).
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def model_timeline(self, name: str, *, offset: int = 0, limit: int = 20) -> list[Event]:
        """One page of a model's registrations and alias moves (:data:`TIMELINE_KINDS`), newest first (by
        time, then by id), read through the events' (model, time) index: the page costs the model's newest
        events, not the whole log.

        Args:
            name: the model.
            offset: how many of the newest timeline events to skip.
            limit: the most events returned.

        Returns:
            The events; empty for a model without any (not an error).

        Raises:
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def list_model_names(self) -> list[str]:
        """The registered models.

        Returns:
            Names with at least one version, sorted.

        Raises:
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def any_version_with_lineage(self) -> bool:
        """Whether some registered version, of any model, records the run that trained it and the dataset
        version it was trained on (an existence test, not a read of the versions).

        Raises:
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def archive_model_versions(self, name: str, versions: Sequence[int], *, reason: str, actor: str) -> Event:
        """Archive versions of a model: they keep every record but leave the listings and cannot take an
        alias or a route until restored.

        Args:
            name: the model.
            versions: the version numbers; versions already archived keep their first time and reason.
            reason: why, stored on each version and in the event.
            actor: who archived them, for the event.

        Returns:
            The ``model.archived`` event; its payload lists the versions archived by this call.

        Raises:
            NotFoundError: the model or one of the versions does not exist (nothing is archived).
            ConflictError: one of the versions holds an alias (nothing is archived).
            StoreUnavailableError: the store cannot be reached.

        Guarantees: the versions, the alias check and the event change in one atomic step, so a version
        given an alias meanwhile is never archived.
        """

    @abstractmethod
    def restore_model_versions(
        self, name: str, versions: Sequence[int], *, actor: str, reason: str = ""
    ) -> Event:
        """Bring archived versions back, with the runs that trained them (a live version's run is never
        archived).

        Args:
            name: the model.
            versions: the version numbers; versions not archived are left as they are.
            actor: who restored them, for the event.
            reason: why.

        Returns:
            The ``model.restored`` event; its payload lists the versions and the runs restored.

        Raises:
            NotFoundError: the model or one of the versions does not exist (nothing is restored).
            StoreUnavailableError: the store cannot be reached.

        Guarantees: the versions, their runs and the event change in one atomic step.
        """
