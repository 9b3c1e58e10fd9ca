"""Reads for pages: one page of runs or events at a time, live traffic from the prediction log, a canary's
progress, and who a token belongs to.

The dashboard (:mod:`mlfactory.dashboard`) reads the project only through these methods and the other
Project methods, so it shows what the CLI shows. Every list here is one page, cut by the store (offset and
limit in the query), never a whole table filtered afterwards; every traffic figure is aggregated by DuckDB
over the prediction log's segments.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Generic, TypeVar

from mlfactory.config import LOWER_IS_BETTER
from mlfactory.entities import PRODUCTION, ApiToken, Event, Metric, ModelVersion, Role, Run, RunStatus
from mlfactory.errors import ConfigError
from mlfactory.project.base import ProjectState
from mlfactory.stores.metadata.runs import check_run_sort

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from mlfactory.config import RolloutConfig

T = TypeVar("T")
MAX_PAGE = 500  # rows one page may hold
CANARY_STARTS_LOOKED_AT = 20  # routing changes searched for the one that started a canary
CANARY_ROUTE = "canary"  # the route the servers log a canary's answers under
Group = tuple[str, int, str]  # (model, version, route) of the prediction log
MAX_TRIALS = 500  # trials of one search read and shown (the first by start)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a longer list: its items, where it starts, its size, and whether more follow."""

    items: list[T]
    offset: int
    limit: int
    has_more: bool

    @property
    def next_offset(self) -> int | None:
        return self.offset + self.limit if self.has_more else None

    @property
    def previous_offset(self) -> int | None:
        return max(self.offset - self.limit, 0) if self.offset > 0 else None


@dataclass(frozen=True)
class RouteTraffic:
    """What one version answered on one route of a model in a time window (from the prediction log)."""

    version: int
    route: str
    rows: int
    rate_per_s: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    error_rate: float | None


@dataclass(frozen=True)
class LiveTraffic:
    """Traffic read in one scan of the prediction log (:meth:`ViewMethods.live_traffic`).

    Attributes:
        routes: each model's versions and routes that answered in the window.
        rows_since: the rows each (model, version, route) asked for answered since its own start.
    """

    routes: dict[str, list[RouteTraffic]]
    rows_since: dict[Group, int]


@dataclass(frozen=True)
class CanaryProgress:
    """A running canary: its version and weight, rows logged on its route since it started, and the rows the
    controller's policy needs before it decides (None for a canary set by hand on an unmanaged model)."""

    model: str
    version: int
    weight: float
    started: datetime | None
    rows: int
    min_rows: int | None

    @property
    def percent(self) -> float | None:
        """How far along the minimum rows are, 0-100 (None without a minimum)."""
        if not self.min_rows:
            return None
        return min(100.0, 100.0 * self.rows / self.min_rows)


@dataclass(frozen=True)
class RouteTable:
    """How a model's traffic is split now: where its aliases point, the routing policy's parts, and the
    percent of rows each version takes (``v3`` -> 80.0)."""

    model: str
    aliases: dict[str, int]
    canary: int | None
    canary_weight: float
    ab: list[tuple[int, float]]
    key: str | None
    shadow: int | None
    traffic_percent: dict[str, float]


@dataclass(frozen=True)
class Trial:
    """One trial of a parameter search: its nested run, number, state (complete, pruned or failed), score
    (the mean of the folds it ran; None for a failed one) and each fold's score."""

    run: Run
    number: int
    state: str
    score: float | None
    folds: list[float]


@dataclass(frozen=True)
class SearchView:
    """A search's trials by number, as the run that searched recorded them (:meth:`ViewMethods.search`).

    Attributes:
        metric: the score the search ranked trials by; ``maximize`` says which way is better.
        best: the winning trial's number (None when no trial completed).
        searched: the params the trials varied, sorted.
        has_more: more than :data:`MAX_TRIALS` trials ran; ``trials`` holds the first of them.
    """

    metric: str
    maximize: bool
    trials: list[Trial]
    best: int | None
    searched: list[str]
    has_more: bool


def _page(items: list[T], offset: int, limit: int) -> Page[T]:
    """A page from ``limit + 1`` fetched items: the extra one only says that more follow."""
    return Page(items[:limit], offset, limit, len(items) > limit)


def _status(text: str | None) -> RunStatus | None:
    if not text:
        return None
    try:
        return RunStatus(text)
    except ValueError:
        raise ConfigError(f"a run's status is one of {', '.join(RunStatus)}, not '{text}'") from None


def _sets_canary(event: Event, version: int) -> bool:
    """Whether a routing change left ``version`` as the canary."""
    return (event.payload.get("to") or {}).get("canary") == version


def _bounded(offset: int, limit: int) -> tuple[int, int]:
    if offset < 0:
        raise ConfigError(f"a page's offset must be 0 or more, got {offset}")
    if not 1 <= limit <= MAX_PAGE:
        raise ConfigError(f"a page holds 1 to {MAX_PAGE} rows, {limit} asked for")
    return offset, limit


class ViewMethods(ProjectState):
    """The Project's paged and aggregated reads (the dashboard's, and any client's)."""

    def runs_page(
        self,
        *,
        where: str | None = None,
        name: str | None = None,
        status: str | None = None,
        sort: str = "started",
        descending: bool = True,
        offset: int = 0,
        limit: int = 50,
        archived: bool = False,
    ) -> Page[Run]:
        """One page of runs, filtered with the language of ``runs list --where`` and ordered by the store.

        Args:
            where: clauses such as ``metrics.f1 > 0.9 and params.C = 1``.
            name, status: only runs of this name, in this status.
            archived: archived runs too (`mlfactory prune` hides them by default).
            sort: ``started``, ``name``, ``status`` or ``metrics.KEY`` (ties by start time, newest first).
            descending: the largest first.
            offset, limit: which page (at most :data:`MAX_PAGE` rows).

        Raises:
            ConfigError: a clause, sort or page that does not parse (the message says what would).
        """
        from mlfactory.tracking import search_runs

        offset, limit = _bounded(offset, limit)
        check_run_sort(sort)  # before any query: a wrong sort is the caller's error, named
        state = _status(status)
        if where and where.strip():
            runs = search_runs(
                self.metadata,
                where,
                name=name,
                status=state,
                sort=sort,
                descending=descending,
                offset=offset,
                limit=limit + 1,  # one more than shown: it says whether another page follows
                include_archived=archived,
            )
        else:
            runs = self.metadata.list_runs(
                name=name,
                status=state,
                sort=sort,
                descending=descending,
                offset=offset,
                limit=limit + 1,
                include_archived=archived,
            )
        return _page(runs, offset, limit)

    def versions_page(
        self, name: str, *, offset: int = 0, limit: int = 25, archived: bool = False
    ) -> Page[ModelVersion]:
        """One page of a model's versions with their aliases, newest first, cut by the store (see
        :meth:`~mlfactory.stores.metadata.registry.RegistryStore.model_versions_page`), so a model with
        thousands of versions costs a page, not its whole history.

        Raises:
            NotFoundError: no such model (the message names the registered ones).
            ConfigError: a page out of bounds (at most :data:`MAX_PAGE` rows).
        """
        offset, limit = _bounded(offset, limit)
        page = self.metadata.model_versions_page(
            name, offset=offset, limit=limit + 1, include_archived=archived
        )  # archived ones (`mlfactory prune`) only when asked for
        return _page(page, offset, limit)

    def timeline_page(self, name: str, *, offset: int = 0, limit: int = 20) -> Page[Event]:
        """One page of a model's registrations and alias moves, newest first, read through the events'
        (model, time) index (see :meth:`~mlfactory.stores.metadata.registry.RegistryStore.model_timeline`).

        Raises:
            ConfigError: a page out of bounds (at most :data:`MAX_PAGE` rows).
        """
        offset, limit = _bounded(offset, limit)
        return _page(self.metadata.model_timeline(name, offset=offset, limit=limit + 1), offset, limit)

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every logged value of one metric of a run, by step (empty for an unknown key)."""
        return self.metadata.metric_history(self.metadata.get_run(run_id).id, key)

    def metric_histories(
        self, run_ids: Sequence[str], keys: Sequence[str], *, most: int | None = None
    ) -> dict[str, dict[str, list[Metric]]]:
        """The values of some metrics of some runs (full ids), at most ``most`` per run and key, evenly
        spread with the first and last kept, read in one query (see
        :meth:`~mlfactory.stores.metadata.runs.RunsStore.metric_histories`)."""
        return self.metadata.metric_histories(run_ids, keys, most=most)

    def search(self, run: Run) -> SearchView | None:
        """The trials of the search ``run`` ran (None for a run that searched nothing), read in two queries
        whatever their number: the trials' runs (tag ``parent_run``), then their fold scores."""
        from mlfactory.tracking import search_runs

        if "search.metric" not in run.params:
            return None
        metric = str(run.params["search.metric"])
        found = search_runs(
            self.metadata,
            f"tags.parent_run = {run.id}",
            sort="started",
            descending=False,
            limit=MAX_TRIALS + 1,
        )
        runs = sorted(found[:MAX_TRIALS], key=lambda t: int(t.tags.get("search.trial", -1)))
        folds = self.metadata.metric_histories([t.id for t in runs], [f"fold.{metric}"]) if runs else {}
        trials = [
            Trial(
                run=t,
                number=int(t.tags.get("search.trial", -1)),
                state=t.tags.get("search.state", ""),
                score=t.metrics.get(metric),
                folds=[m.value for m in folds.get(t.id, {}).get(f"fold.{metric}", [])],
            )
            for t in runs
        ]
        best = run.tags.get("search.best_trial")
        return SearchView(
            metric=metric,
            maximize=metric not in LOWER_IS_BETTER,
            trials=trials,
            best=int(best) if best is not None else None,
            searched=sorted({k for t in runs for k in t.params}),
            has_more=len(found) > MAX_TRIALS,
        )

    def events_page(
        self,
        *,
        model: str | None = None,
        kinds: Sequence[str] | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> Page[Event]:
        """One page of the audit log, newest first.

        Args:
            model, kinds, actor: only this model's events, of these kinds, by this actor.
            since, until: only events in [since, until).
            offset, limit: which page (at most :data:`MAX_PAGE` rows).
        """
        offset, limit = _bounded(offset, limit)
        found = self.metadata.list_events(
            model=model,
            kinds=kinds,
            actor=actor,
            since=since,
            until=until,
            newest_first=True,
            offset=offset,
            limit=limit + 1,
        )
        return _page(found, offset, limit)

    def live_traffic(
        self,
        *,
        model: str | None = None,
        seconds: float = 3600.0,
        starts: Mapping[Group, datetime] | None = None,
    ) -> LiveTraffic:
        """Every model's traffic of the last ``seconds`` (one model's with ``model``) and the rows each
        (model, version, route) of ``starts`` answered since its own start, read in one DuckDB scan of the
        prediction log on one connection (see
        :meth:`~mlfactory.stores.predictions.PredictionReader.traffic`)."""
        until = datetime.now(UTC)
        since = until - timedelta(seconds=seconds)
        routes: dict[str, list[RouteTraffic]] = {}
        rows_since: dict[Group, int] = {}
        for g in self.predictions.traffic(since, until, model=model, starts=starts):
            rows_since[(g.model, g.version, g.route)] = g.rows_since
            if g.rows:
                routes.setdefault(g.model, []).append(
                    RouteTraffic(
                        version=g.version,
                        route=g.route,
                        rows=g.rows,
                        rate_per_s=g.rows / seconds,
                        latency_p50_ms=g.latencies.get("latency_p50_ms"),
                        latency_p95_ms=g.latencies.get("latency_p95_ms"),
                        latency_p99_ms=g.latencies.get("latency_p99_ms"),
                        error_rate=g.error_rate,
                    )
                )
        return LiveTraffic(routes, rows_since)

    def route_table(self, model: str) -> RouteTable:
        """A model's live route table, from its aliases and routing policy only (unlike :meth:`routing`, it
        reads no version, so a page refreshing it every few seconds stays cheap at any number of versions)."""
        from mlfactory.serving import RoutingPolicy

        aliases = {alias: v for (_, alias), v in self.metadata.get_aliases(model).items()}
        policy = RoutingPolicy.from_dict(self.metadata.get_routing_policies(model).get(model))
        production = aliases.get(PRODUCTION)
        shares: dict[str, float] = {}
        if policy.ab:  # the same split the servers apply (mlfactory.serving.deploy_status)
            shares = {f"v{v}": w for v, w in policy.ab}
        elif production is not None:
            canary = policy.canary_weight if policy.canary is not None else 0.0
            shares = {f"v{production}": 100.0 - canary}
            if policy.canary is not None:
                shares[f"v{policy.canary}"] = shares.get(f"v{policy.canary}", 0.0) + canary
        return RouteTable(
            model=model,
            aliases=aliases,
            canary=policy.canary,
            canary_weight=policy.canary_weight,
            ab=list(policy.ab),
            key=policy.key,
            shadow=policy.shadow,
            traffic_percent=shares,
        )

    def rollout_rules(self, model: str) -> RolloutConfig | None:
        """The model's declared rollout rules (the controller's thresholds), None for a model without a
        controller policy."""
        declared = self.config.models.get(model)
        return declared.policy.rollout if declared is not None and declared.policy is not None else None

    def canary_started(self, model: str, version: int, recorded: datetime | None = None) -> datetime | None:
        """When the canary of ``version`` went live: ``recorded`` (the controller's record, when it runs this
        canary), else the newest routing change that set it (a canary set by hand, or one the controller did
        not record). The newest change is one read through the event log's (model, time) index and is
        usually the one; otherwise the last :data:`CANARY_STARTS_LOOKED_AT` changes are searched."""
        if recorded is not None:
            return recorded
        newest = self.metadata.latest_events([model], ["routing.set"]).get(model)
        events = [newest] if newest is not None else []
        if not any(_sets_canary(e, version) for e in events):
            events = self.metadata.list_events(
                model=model, kinds=["routing.set"], newest_first=True, limit=CANARY_STARTS_LOOKED_AT
            )
        return next((e.time for e in events if _sets_canary(e, version)), None)

    # -- access --------------------------------------------------------------------------------------------

    def tokens_configured(self, shared: str | None) -> bool:
        """Whether callers must show a token: the shared one (``server.token`` of the settings in force) is
        set, or a named token was ever made (revoking every named token does not open the project again)."""
        return bool(shared) or bool(self.metadata.list_tokens())

    def identify_token(self, secret: str, shared: str | None) -> ApiToken | None:
        """The active named token a secret belongs to, or None. ``shared`` (``server.token`` of the settings
        in force, which acts as ``admin``) is compared in constant time and answers ``server-token``."""
        if shared and hmac.compare_digest(secret.encode(), shared.encode()):
            return ApiToken("server-token", Role.ADMIN, datetime.now(UTC), "project file")
        return self.metadata.active_tokens().get(ApiToken.digest(secret))
