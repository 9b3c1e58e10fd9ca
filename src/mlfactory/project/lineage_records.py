"""What a lineage query answers (:class:`~mlfactory.project.lineage.LineageMethods`): typed records of where a
model version came from and went, and of how one logged prediction was made.

The CLI prints them (``mlfactory lineage``), the dashboard draws them, scripts read them as JSON; each is
built in exactly one place, so the three always agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlfactory.entities import Event, FeedbackRecord, GateResult, MonitorReportRecord


@dataclass(frozen=True)
class VersionSummary:
    """A version named in another's lineage: enough to find it and see how it ended."""

    name: str
    version: int
    status: str
    created_at: datetime

    @property
    def ref(self) -> str:
        return f"{self.name}/{self.version}"


@dataclass(frozen=True)
class DataUsed:
    """The source snapshot a version was trained on. ``found`` is False when the dataset version is no longer
    stored (deleted, or from another project): its id and hash still come from the version's own record."""

    source: str | None
    dataset: str | None
    content_hash: str | None
    rows: int | None
    valid: bool | None
    ingested_at: datetime | None
    found: bool


@dataclass(frozen=True)
class FeatureViewUsed:
    """A feature view a version's training set joined: its code version and the dataset its table came from
    (None when the version does not record it)."""

    view: str
    code_version: str
    dataset: str | None


@dataclass(frozen=True)
class TrainingSetUsed:
    """The point-in-time training set of a version with store features (``rows`` None when not stored)."""

    id: str
    feature_service: str
    rows: int | None


@dataclass(frozen=True)
class RunUsed:
    """The run that trained a version. ``params_digest`` is the SHA-256 of its params as sorted JSON, so two
    runs with the same settings show the same digest; ``found`` is False when the run is no longer stored."""

    id: str
    name: str | None
    status: str | None
    params_digest: str | None
    environment: dict[str, Any]  # free-form: what the run recorded about its machine and packages
    found: bool


@dataclass(frozen=True)
class Upstream:
    """Where a version came from: its data, features, training set, run, rows, the champion it was judged
    against with its gate results, and the labelled requests it trained on.

    Attributes:
        feedback_rows: labelled rows from the prediction log that training added.
        feedback_requests: the artifact digest of those rows' request ids (None without feedback).
        model_module, model_module_sha256: for a model class written in the project, its module's file and
            the SHA-256 of the text it was trained with (and runs with); None for any other model.
    """

    data: DataUsed
    feature_views: list[FeatureViewUsed]
    training_set: TrainingSetUsed | None
    run: RunUsed | None
    train_rows: int | None
    holdout_rows: int | None
    champion: str | None
    gates: list[GateResult]
    feedback_rows: int
    feedback_requests: str | None
    model_module: str | None = None
    model_module_sha256: str | None = None


@dataclass(frozen=True)
class AliasSpan:
    """One stretch during which an alias pointed at the version: from ``since`` (None: before the history
    read) to ``until`` (None: it still does), set by ``actor``."""

    alias: str
    since: datetime | None
    until: datetime | None
    actor: str


@dataclass(frozen=True)
class RouteShare:
    """A routing part the version takes now: ``canary`` or ``ab`` with its percent of traffic, or
    ``shadow`` (scored on every request, answering none: ``weight`` None)."""

    kind: str
    weight: float | None


@dataclass(frozen=True)
class ReportsOf:
    """Monitoring reports of the version: how many (``capped``: at least that many; the count stops at the
    read's bound) and the newest, newest first."""

    count: int
    capped: bool
    newest: list[MonitorReportRecord]


@dataclass(frozen=True)
class TrafficOf:
    """Rows the prediction log holds for the version in [since, until), per route."""

    since: datetime
    until: datetime
    rows: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.rows.values())


@dataclass(frozen=True)
class Downstream:
    """Where a version went: aliases (now, and every span in the history read), routes now, monitoring,
    the retrains triggered after it was registered, the versions judged against it, and what it answered.

    Attributes:
        retrains: ``rollout.retraining`` events of the model since the version was registered, newest first.
        traffic: None when the prediction log was not read.
    """

    aliases: list[str]
    alias_history: list[AliasSpan]
    routes: list[RouteShare]
    reports: ReportsOf
    retrains: list[Event]
    judged: list[VersionSummary]
    traffic: TrafficOf | None = None


@dataclass(frozen=True)
class VersionLineage:
    """A version's whole lineage (``mlfactory lineage NAME/VERSION``)."""

    version: VersionSummary
    upstream: Upstream
    downstream: Downstream


@dataclass(frozen=True)
class FeatureLookedUp:
    """A served input the version's feature service supplies from the online store (a caller may pin such a
    value in the request instead; the log does not say which happened).

    Attributes:
        value: the value the model saw, from the log.
        event_time: when that value was true, when the log records it (None: the log does not).
    """

    name: str
    view: str
    code_version: str
    value: Any
    event_time: datetime | None = None


@dataclass(frozen=True)
class ShadowAnswer:
    """What a shadow version answered to the same request (never returned to the caller)."""

    version: int
    prediction: Any
    probabilities: list[float] | None
    latency_ms: float


@dataclass(frozen=True)
class RequestLineage:
    """One logged prediction traced (``mlfactory lineage --request ID``).

    Attributes:
        inputs: the input vector as the model saw it (after coercion and feature lookup), in the version's
            input order; free-form by design, every model has its own inputs.
        features: the inputs among them that were looked up online.
        route_revision: the revision of the routing state that routed the answer, when the log records it.
        routing_change: the newest alias or routing change of the model before the request, from the event
            log: the routing state in force (a server applies a change within ``server.reload_interval``).
        label: the true label sent for the request, who sent it and when; None before any arrives.
    """

    request_id: str
    time: datetime
    model: str
    version: int
    route: str
    prediction: Any
    classes: list[Any] | None
    probabilities: list[float] | None
    latency_ms: float
    inputs: dict[str, Any]
    features: list[FeatureLookedUp]
    violations: str | None
    route_revision: int | None
    routing_change: Event | None
    label: FeedbackRecord | None
    shadow: list[ShadowAnswer] = field(default_factory=list)
