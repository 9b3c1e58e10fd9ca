"""Training runs: params, tags, metric series and artifacts, with filters evaluated in the store."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from mlfactory.entities import Metric, Run, RunClause, RunStatus
from mlfactory.errors import ConfigError

RUN_SORTS = ("started", "name", "status")  # what a page of runs may be ordered by


def check_run_sort(sort: str) -> str:
    """``sort`` when runs can be ordered by it; a ConfigError naming the orders otherwise."""
    if sort not in RUN_SORTS:
        raise ConfigError(f"runs sort by one of {', '.join(RUN_SORTS)}, not '{sort}'")
    return sort


class RunsStore(ABC):
    """Training runs. Runs write no events: they are experiment data, not platform decisions."""

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
        """Start a run in status ``running``.

        Args:
            name: the run's name (usually the model's).
            params: the user's parameters (free-form).
            tags: the user's tags.
            environment: where it ran (Python, packages, host).
            dataset_id: the dataset version it trains on.

        Returns:
            The new run's id (32 hex digits, unique).

        Raises:
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        """Merge parameters into a run (a key given again replaces its value).

        Args:
            run_id: the run's full id.
            params: the parameters (free-form).

        Raises:
            NotFoundError: no run has this id.
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        """Merge tags into a run (a key given again replaces its value).

        Args:
            run_id: the run's full id.
            tags: the tags.

        Raises:
            NotFoundError: no run has this id.
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def log_metrics(self, run_id: str, metrics: Sequence[Metric]) -> None:
        """Append metric values to a run; a run's latest value of a key is the one at the highest step
        (the last logged among equal steps).

        Args:
            run_id: the run's full id.
            metrics: the values; an empty sequence does nothing.

        Raises:
            StoreUnavailableError: the store cannot be reached.

        Guarantees: all values or none are stored (atomic).
        """

    @abstractmethod
    def log_artifact(self, run_id: str, name: str, digest: str) -> None:
        """Attach a stored artifact to a run under a name, replacing one of the same name (idempotent).

        Args:
            run_id: the run's full id.
            name: the artifact's name within the run.
            digest: SHA-256 of the bytes in the artifact store.

        Raises:
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def end_run(self, run_id: str, status: RunStatus, error: str | None = None) -> None:
        """Close a run with its final status and end time.

        Args:
            run_id: the run's full id.
            status: ``finished`` or ``failed``.
            error: why it failed, if it did.

        Raises:
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def get_run(self, run_id: str) -> Run:
        """One run with its latest metric values and its artifacts.

        Args:
            run_id: the full id, or a prefix of exactly one run's id.

        Returns:
            The run (the exact id wins when it is also a prefix of others).

        Raises:
            NotFoundError: no run id starts with ``run_id``.
            ConflictError: the prefix matches several runs and none exactly.
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def list_runs(
        self,
        *,
        name: str | None = None,
        status: RunStatus | None = None,
        limit: int | None = None,
        ids: Sequence[str] | None = None,
        offset: int = 0,
        sort: str = "started",
        descending: bool = True,
    ) -> list[Run]:
        """Runs, newest first (by start time, then id) unless ``sort`` says otherwise: one page of them with
        ``offset`` and ``limit``, cut by the store.

        Args:
            name: only runs of this name.
            status: only runs in this status.
            limit: at most this many (the first in the order).
            ids: only runs with these ids.
            offset: skip this many of the ordered runs first (a page's start).
            sort: ``started`` (the default), ``name`` or ``status``; ties by start time, newest first, then
                id (names and statuses compare in the database's collation).
            descending: the largest first (for ``started``: the newest).

        Returns:
            The runs with their latest metrics and artifacts.

        Raises:
            ConfigError: an unknown ``sort``.
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def find_runs(
        self,
        clauses: Sequence[RunClause],
        *,
        name: str | None = None,
        status: RunStatus | None = None,
        limit: int | None = None,
        offset: int = 0,
        sort: str = "started",
        descending: bool = True,
    ) -> list[Run]:
        """The runs matching every clause, newest first (or as ``sort`` says), filtered, ordered and cut by
        the store (not after loading).

        Args:
            clauses: conditions, each with the typed semantics of :class:`RunClause`: the same answer as
                ``mlfactory.tracking.filter_runs`` over the loaded runs.
            name: only runs of this name.
            status: only runs in this status.
            limit: at most this many (the first matching in the order).
            offset: skip this many of the ordered runs first (a page's start).
            sort: ``started`` (the default), ``name`` or ``status``; ties by start time, newest first, then
                id (names and statuses compare in the database's collation).
            descending: the largest first (for ``started``: the newest).

        Returns:
            The matching runs.

        Raises:
            ConfigError: an unknown ``sort``.
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every logged value of one metric of a run, by step (then in logging order).

        Args:
            run_id: the run's full id.
            key: the metric's name.

        Returns:
            The values (empty for an unknown run or key).

        Raises:
            StoreUnavailableError: the store cannot be reached.
        """
