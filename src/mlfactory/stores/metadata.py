"""The metadata store interface: datasets, runs, model versions, aliases and the event log.

Backends are chosen by URL scheme in :func:`open_metadata_store`. Every method is one transaction, so a
process killed at any point leaves either the whole change or none of it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from mlfactory.entities import (
    ApiToken,
    DatasetVersion,
    Event,
    Metric,
    ModelVersion,
    Role,
    Rollout,
    Run,
    RunClause,
    RunStatus,
    VersionStatus,
)


class RoutingState(NamedTuple):
    """Every alias and routing policy as of one moment, with each model's routing revision."""

    aliases: dict[tuple[str, str], int]  # (model, alias) -> version
    policies: dict[str, dict[str, Any]]  # model -> stored routing policy
    revisions: dict[str, int]  # model -> id of its newest alias or routing event (absent: none yet)


class MetadataStore(ABC):
    """Where mlfactory keeps everything except bytes."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    # events
    @abstractmethod
    def add_event(
        self,
        kind: str,
        *,
        actor: str,
        model: str | None = None,
        payload: dict[str, Any] | None = None,
        reason: str = "",
    ) -> Event:
        """Append an event to the audit log."""

    @abstractmethod
    def list_events(
        self,
        *,
        model: str | None = None,
        since: datetime | None = None,
        kinds: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """Events in the order they happened, optionally for one model, since a time, of some kinds; with
        ``limit``, the newest ``limit`` of them."""

    # datasets
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
        """Record a snapshot; returns (version, created). Identical content returns the existing version."""

    @abstractmethod
    def get_dataset(self, dataset_id: str) -> DatasetVersion:
        """One dataset version by id; NotFoundError when unknown."""

    @abstractmethod
    def list_datasets(self, source: str | None = None) -> list[DatasetVersion]:
        """Dataset versions by source and version number."""

    # runs
    @abstractmethod
    def create_run(
        self,
        name: str,
        *,
        params: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
        environment: dict[str, Any] | None = None,
        dataset_id: str | None = None,
    ) -> str:
        """Start a run and return its id."""

    @abstractmethod
    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        """Merge parameters into a run."""

    @abstractmethod
    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        """Merge tags into a run."""

    @abstractmethod
    def log_metrics(self, run_id: str, metrics: Sequence[Metric]) -> None:
        """Append many metric values in one transaction."""

    @abstractmethod
    def log_artifact(self, run_id: str, name: str, digest: str) -> None:
        """Attach a stored artifact to a run under a name."""

    @abstractmethod
    def end_run(self, run_id: str, status: RunStatus, error: str | None = None) -> None:
        """Close a run with its final status."""

    @abstractmethod
    def get_run(self, run_id: str) -> Run:
        """One run by id or unique id prefix, with its latest metrics and artifacts."""

    @abstractmethod
    def list_runs(
        self,
        *,
        name: str | None = None,
        status: RunStatus | None = None,
        limit: int | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[Run]:
        """Runs, newest first; optionally only those with the given ids."""

    @abstractmethod
    def find_runs(
        self,
        clauses: Sequence[RunClause],
        *,
        name: str | None = None,
        status: RunStatus | None = None,
        limit: int | None = None,
    ) -> list[Run]:
        """The runs matching every clause (see :class:`RunClause`), newest first, filtered in the database."""

    @abstractmethod
    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every logged value of one metric of a run, by step."""

    # registry
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
        """Register the next version number under ``name`` (``{version}`` in the card is filled in)."""

    @abstractmethod
    def get_model_version(self, name: str, version: int) -> ModelVersion:
        """One version; NotFoundError naming the known versions when unknown."""

    @abstractmethod
    def list_model_versions(self, name: str) -> list[ModelVersion]:
        """Every version of a model, oldest first."""

    @abstractmethod
    def latest_model_version(self, name: str) -> ModelVersion | None:
        """The model's newest version (one row read, not the whole history), or None without versions."""

    @abstractmethod
    def list_model_names(self) -> list[str]:
        """Names with at least one version."""

    @abstractmethod
    def get_aliases(self, name: str | None = None) -> dict[tuple[str, str], int]:
        """(model, alias) -> version, for one model or all."""

    @abstractmethod
    def move_alias(
        self,
        name: str,
        alias: str,
        version: int | None,
        *,
        kind: str,
        actor: str,
        reason: str,
        payload: dict[str, Any] | None = None,
        expect: int | bool | None = False,
    ) -> Event:
        """Point an alias at a version (None removes it) and log the move as one event, atomically.

        ``expect`` (when not False) is the version the alias must hold now, else ConflictError: two
        concurrent movers cannot both act on the same state.
        """

    # serving
    @abstractmethod
    def get_routing_policies(self, name: str | None = None) -> dict[str, dict[str, Any]]:
        """Model name -> stored routing policy (as a dict), for one model or all."""

    @abstractmethod
    def routing_state(self) -> RoutingState:
        """Every alias and routing policy, and per model the id of its newest ``alias.*`` or ``routing.*``
        event, read from one snapshot (one transaction, repeatable read): the revision names exactly the
        aliases and policy read with it, since every alias move and routing change writes its event in the
        same transaction."""

    @abstractmethod
    def set_routing_policy(
        self,
        name: str,
        policy: dict[str, Any] | None,
        *,
        actor: str,
        reason: str = "",
    ) -> Event:
        """Store a model's routing policy (None removes it) and log the change as one event, atomically.

        The event (``routing.set`` or ``routing.cleared``) carries the previous and the new policy.
        """

    @abstractmethod
    def add_feedback(
        self,
        labels: Sequence[tuple[str, Any]],
        *,
        actor: str,
        model: str | None = None,
        problems: Mapping[str, str] | None = None,
    ) -> int:
        """Store true labels by request id in one transaction (a later label replaces an earlier one).

        Args:
            labels: (request id, label) pairs, labels already in the model's label type.
            actor: who sent them.
            model: the model whose predictions they label.
            problems: request id -> why its label does not fit the model; those are stored, marked, and
                never returned by :meth:`get_feedback` unless asked for.

        Returns:
            How many usable labels were stored. The audit log gets at most one ``feedback.received`` event
            per model and hour, counting every label stored since the previous one.
        """

    @abstractmethod
    def get_feedback(
        self,
        request_ids: Sequence[str] | None = None,
        *,
        since: datetime | None = None,
        include_invalid: bool = False,
    ) -> list[dict[str, Any]]:
        """Stored labels as dicts (request_id, label, model, received_at, actor, problem), for some request
        ids, received since a time, or all; labels marked with a problem only with ``include_invalid``."""

    # control: the controller's rollout state per model, with leases so one controller acts at a time
    @abstractmethod
    def get_rollout(self, model: str) -> Rollout:
        """The model's rollout (``idle`` at revision 0 when the controller never touched it)."""

    @abstractmethod
    def list_rollouts(self) -> list[Rollout]:
        """Every stored rollout."""

    @abstractmethod
    def save_rollout(
        self,
        model: str,
        *,
        expect_revision: int,
        state: str,
        challenger: int | None,
        champion: int | None,
        data: dict[str, Any],
        event: str,
        actor: str,
        reason: str,
        payload: dict[str, Any] | None = None,
    ) -> Rollout:
        """Move a rollout and log the move as one event, atomically; ConflictError when the stored revision
        is not ``expect_revision`` (another controller acted first)."""

    @abstractmethod
    def acquire_lease(self, model: str, owner: str, seconds: float, *, take_over: str | None = None) -> bool:
        """Take (or renew) the right to act on a model for ``seconds``; False while another owner holds it.

        ``take_over`` names a holder known to be gone (its process ended): the lease is taken from it at
        once, in the same compare-and-set, and only if that holder still has it."""

    @abstractmethod
    def release_lease(self, model: str, owner: str) -> None:
        """Give the lease back, if ``owner`` holds it."""

    @abstractmethod
    def set_paused(self, model: str, paused: bool, *, actor: str, reason: str = "") -> Event:
        """Pause or resume the controller for one model, as an event."""

    # tokens: named API tokens with a role; only the SHA-256 of each secret is kept
    @abstractmethod
    def add_token(self, name: str, role: Role, secret_sha256: str, *, actor: str) -> ApiToken:
        """Store a new token's name, role and secret hash, with a ``token.created`` event; ConflictError
        when the name was ever used."""

    @abstractmethod
    def list_tokens(self) -> list[ApiToken]:
        """Every token, active and revoked, oldest first (never a secret)."""

    @abstractmethod
    def revoke_token(self, name: str, *, actor: str, reason: str = "") -> Event:
        """Revoke an active token at once, with a ``token.revoked`` event; NotFoundError if none is active."""

    @abstractmethod
    def active_tokens(self) -> dict[str, ApiToken]:
        """Every active token by the SHA-256 of its secret (what a server checks bearer tokens against)."""

    # -- features (issue 4) ------------------------------------------------------------------------------
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
        """Record a feature view's definition under its code version; False when already recorded."""

    @abstractmethod
    def list_feature_views(self, name: str | None = None) -> list[dict[str, Any]]:
        """Recorded view versions as dicts (name, code_version, entity, source, definition, created_at),
        oldest first."""

    @abstractmethod
    def get_feature_table(self, view: str, code_version: str, dataset_id: str) -> dict[str, Any] | None:
        """The cached feature table of a view version over a dataset version (digest, n_rows, backfills)."""

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
        """Cache a computed feature table (stored in the artifact store under ``digest``); idempotent."""

    @abstractmethod
    def add_training_set(
        self,
        training_set_id: str,
        *,
        digest: str,
        n_rows: int,
        spec: dict[str, Any],
    ) -> bool:
        """Record a training set built by a point-in-time join; False when it exists already."""

    @abstractmethod
    def get_training_set(self, training_set_id: str) -> dict[str, Any]:
        """One training set (id, digest, n_rows, spec, created_at); NotFoundError when unknown."""

    @abstractmethod
    def add_skew_report(self, model: str, report: dict[str, Any], *, actor: str) -> int:
        """Store a skew report and log a ``features.skew`` event, atomically; returns the report id."""

    @abstractmethod
    def list_skew_reports(self, model: str, limit: int | None = None) -> list[dict[str, Any]]:
        """A model's skew reports (id, model, created_at, report), newest first."""

    # -- end features -----------------------------------------------------------------------------------

    # -- monitoring (issue 5) -----------------------------------------------------------------------------
    @abstractmethod
    def add_monitor_report(
        self,
        *,
        model: str,
        version: int | None,
        route: str | None,
        window_start: datetime | None,
        window_end: datetime | None,
        rows: int,
        status: str,
        metrics: dict[str, Any],
        report: dict[str, Any],
        actor: str,
    ) -> str:
        """Store a monitoring report and log a ``monitor.report`` event, atomically; returns the report id."""

    @abstractmethod
    def list_monitor_reports(
        self,
        model: str | None = None,
        *,
        version: int | None = None,
        route: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        full: bool = False,
    ) -> list[dict[str, Any]]:
        """Reports as dicts (id, model, version, route, created_at, window_start, window_end, rows, status,
        metrics, and ``report`` when ``full``), oldest first; with ``limit``, the newest ``limit``."""

    @abstractmethod
    def get_monitor_report(self, report_id: str) -> dict[str, Any]:
        """One report with its full content; NotFoundError when unknown."""

    # -- end monitoring -----------------------------------------------------------------------------------


def open_metadata_store(url: str) -> MetadataStore:
    """Open (and migrate) the metadata store for a URL: ``sqlite:///…`` or ``postgresql+psycopg://…``."""
    from mlfactory.stores.sql.store import SqlMetadataStore

    return SqlMetadataStore(url)
