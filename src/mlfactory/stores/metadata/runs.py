"""Training runs: params, tags, metric series and artifacts, with filters evaluated in the store."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mlfactory.entities import Event, Metric, Run, RunClause, RunStatus
from mlfactory.errors import ConfigError, ConflictError, NotFoundError

RUN_SORTS = ("started", "name", "status")  # what a page of runs may be ordered by, besides metrics.KEY
# ``metrics.KEY``: by the latest value of KEY, then the runs whose latest is NaN, then those without it
METRIC_SORT = "metrics."


def check_run_sort(sort: str) -> str:
    """``sort`` when runs can be ordered by it; a ConfigError naming the orders otherwise."""
    if sort not in RUN_SORTS and not (sort.startswith(METRIC_SORT) and sort != METRIC_SORT):
        raise ConfigError(f"runs sort by one of {', '.join(RUN_SORTS)} or metrics.KEY, not '{sort}'")
    return sort


def check_most(most: int | None) -> int | None:
    """``most`` when a history may be cut to it (None: keep every value); a ConfigError otherwise."""
    if most is not None and most < 2:
        raise ConfigError(f"a metric history keeps at least 2 values (its first and last), not {most}")
    return most


def resolve_run_id(given: str, matching: Sequence[str]) -> str:
    """The run ``given`` names, from the stored ids starting with it: itself when it is one, else the only
    one.

    Raises:
        NotFoundError: no stored id starts with ``given``.
        ConflictError: several do and none is ``given`` exactly.
    """
    if given in matching:
        return given
    if not matching:
        raise NotFoundError(f"no run '{given}'; `mlfactory runs list` shows them")
    if len(matching) > 1:
        raise ConflictError(f"run id prefix '{given}' matches {len(matching)} runs; give more characters")
    return matching[0]


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
        """Append metric values to a run; a run's latest value of a key is the one at the highest step, of
        equal steps the one with the latest timestamp, of equal timestamps the last logged. A NaN is stored
        and read back as NaN; as in Python, it compares unequal to everything (a ``metrics.*`` clause holds
        for it only with ``!=``).

        Args:
            run_id: the run's full id.
            metrics: the values; an empty sequence does nothing.

        Raises:
            StoreUnavailableError: the store cannot be reached.

        Guarantees: all values or none are stored (atomic), and the run's latest values (what
        :meth:`get_run` and the lists show, and ``metrics.*`` clauses compare) change in the same
        transaction.
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
    def get_runs(self, run_ids: Sequence[str]) -> list[Run]:
        """Many runs at once, each as :meth:`get_run` gives it (params, tags, latest metric values,
        artifacts), read in a few queries whatever their number (what a comparison of runs loads).

        Args:
            run_ids: full ids or prefixes of exactly one run's id; a run named twice comes twice.

        Returns:
            The runs, one per given id, in the given order.

        Raises:
            NotFoundError: no run id starts with one of ``run_ids`` (the message names it).
            ConflictError: one prefix matches several runs and none exactly.
            StoreUnavailableError: the store cannot be reached.

        Guarantees: one run per given id, in the given order; each as :meth:`get_run` gives it alone.
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
        include_archived: bool = False,
    ) -> list[Run]:
        """Runs, newest first (by start time, then id) unless ``sort`` says otherwise: one page of them with
        ``offset`` and ``limit``, cut by the store.

        Args:
            name: only runs of this name.
            status: only runs in this status.
            limit: at most this many (the first in the order).
            ids: only runs with these ids.
            offset: skip this many of the ordered runs first (a page's start).
            sort: ``started`` (the default), ``name``, ``status`` or ``metrics.KEY`` (the latest value of
                KEY; runs whose latest is NaN, then runs without it, come last either way); ties by start
                time, newest first, then id (names and statuses compare in the database's collation).
            descending: the largest first (for ``started``: the newest).
            include_archived: archived runs too (hidden by default).

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
        include_archived: bool = False,
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
            sort: ``started`` (the default), ``name``, ``status`` or ``metrics.KEY`` (the latest value of
                KEY; runs whose latest is NaN, then runs without it, come last either way); ties by start
                time, newest first, then id (names and statuses compare in the database's collation).
            descending: the largest first (for ``started``: the newest).
            include_archived: archived runs too (hidden by default).

        Returns:
            The matching runs.

        Raises:
            ConfigError: an unknown ``sort``.
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every logged value of one metric of a run, by step, then timestamp, then logging order (so the
        last is the latest value).

        Args:
            run_id: the run's full id.
            key: the metric's name.

        Returns:
            The values (empty for an unknown run or key).

        Raises:
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def metric_histories(
        self, run_ids: Sequence[str], keys: Sequence[str], *, most: int | None = None
    ) -> dict[str, dict[str, list[Metric]]]:
        """The logged values of several metrics of several runs, read in one query per 500 runs, each series
        cut by the store to at most ``most`` values (what a chart of them shows) instead of every step.

        Args:
            run_ids: the runs' full ids.
            keys: the metrics' names.
            most: at most this many values per run and key: all of a series that has no more, else every
                ``ceil((n - 1) / (most - 1))``-th of its ``n`` values from the first, and the last (evenly
                spread, first and last kept). None keeps every value.

        Returns:
            run id -> key -> values by step, timestamp, then logging order, for every given run and key
            (an empty list for an unknown run or key).

        Raises:
            ConfigError: ``most`` is under 2.
            StoreUnavailableError: the store cannot be reached.

        Guarantees: the same values, in the same order, as :meth:`metric_history` for each run and key (when
        ``most`` is None); a cut series still holds its first and last value.
        """

    @abstractmethod
    def unregistered_runs(self, *, started_before: datetime, limit: int | None = None) -> list[Run]:
        """The runs that ended (finished or failed), started before a time, are not archived and trained no
        model version (archived or not), oldest first: what `mlfactory prune` weighs as dead experiments,
        read through the store's indexes instead of loading every run.

        Args:
            started_before: only runs started before this time.
            limit: at most this many (the oldest).

        Returns:
            The runs with their latest metrics and artifacts.

        Raises:
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def archive_runs(self, run_ids: Sequence[str], *, reason: str, actor: str) -> Event:
        """Archive runs: they keep every record but leave the listings, until restored.

        Args:
            run_ids: the runs' full ids; runs already archived keep their first archive time and reason.
            reason: why, stored on each run and in the event.
            actor: who archived them, for the event.

        Returns:
            The ``runs.archived`` event; its payload lists the runs archived by this call.

        Raises:
            NotFoundError: one of the ids names no run (nothing is archived).
            ConflictError: one of the runs trained a model version that is not archived: lineage still
                needs it (nothing is archived).
            StoreUnavailableError: the store cannot be reached.

        Guarantees: the runs, the checks and the event change in one atomic step.
        """

    @abstractmethod
    def restore_runs(self, run_ids: Sequence[str], *, actor: str, reason: str = "") -> Event:
        """Bring archived runs back into the listings.

        Args:
            run_ids: the runs' full ids; runs not archived are left as they are.
            actor: who restored them, for the event.
            reason: why.

        Returns:
            The ``runs.restored`` event; its payload lists the runs restored by this call.

        Raises:
            NotFoundError: one of the ids names no run (nothing is restored).
            StoreUnavailableError: the store cannot be reached.

        Guarantees: the runs and the event change in one atomic step.
        """
