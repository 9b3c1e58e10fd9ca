"""The MonitorReport: drift and performance of one window against one model version's reference."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from mlfactory.entities import MonitorReportRecord
from mlfactory.monitoring.drift import ColumnDrift, DatasetDrift
from mlfactory.monitoring.performance import PerformanceResult, PerformanceTests

# The flat metric names alert rules, history plots and Prometheus read (user-facing: keep them stable).
ROWS = "rows"
DRIFT_SHARE = "drift.share"
DATASET_DRIFT = "drift.dataset"
DRIFT_COLUMNS = "drift.columns"
PREDICTION_DRIFT = "drift.prediction"
PREDICTION_EFFECT = "drift.prediction_effect"
LABEL_DRIFT = "drift.label"
LABELLED_ROWS = "performance.labelled_rows"
ACCURACY_DROP = "performance.accuracy_drop"
DEGRADED = "performance.degraded"
CONCEPT_DRIFT = "performance.concept_drift"
PERFORMANCE_PREFIX = "performance."  # + a realized metric name, e.g. performance.accuracy
ESTIMATED_PREFIX = "estimated."  # + an estimated metric name or flag, e.g. estimated.accuracy
HEALTH_PREFIX = "health."  # + a health figure, e.g. health.latency_p95_ms
ESTIMATE_RELIABLE = ESTIMATED_PREFIX + "reliable"


def jsonable(value: Any) -> Any:
    """Plain JSON values: numpy scalars unwrapped, NaN and infinities as None, datetimes as ISO text."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@dataclass
class MonitorReport:
    """One window of one model version and route, checked against the version's reference.

    ``status`` says what the window showed: ``empty`` (no rows), ``insufficient`` (fewer than
    ``monitoring.min_rows``), else the findings joined by ``+`` (e.g. ``drift+degraded``; each of
    :data:`FINDINGS`, also listed in ``findings``), or ``ok`` when there are none. ``metrics`` is the flat
    view alert rules and history plots read (``drift.share``, ``performance.accuracy``,
    ``estimated.accuracy``, ``health.latency_p95_ms`` …). :func:`flat_metrics` settles both.
    """

    model: str
    version: int | None
    route: str | None
    window: dict[str, Any]
    rows: int
    status: str = "ok"
    findings: list[str] = field(default_factory=list)
    drift: DatasetDrift | None = None  # None when the window was not checked (no rows)
    columns: list[ColumnDrift] = field(default_factory=list)
    outputs: list[ColumnDrift] = field(default_factory=list)
    label: list[ColumnDrift] = field(default_factory=list)
    performance: PerformanceResult | None = None
    health: dict[str, Any] = field(default_factory=dict)  # figures of the log's window: rows, latency, ...
    messages: list[str] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)  # alert state changes, as alerts.py logs them
    metrics: dict[str, float | None] = field(default_factory=dict)
    id: str | None = None
    created_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The report as stored and as ``monitor report --json`` prints it (plain JSON values)."""
        return jsonable(  # type: ignore[no-any-return]
            {
                "model": self.model,
                "version": self.version,
                "route": self.route,
                "window": self.window,
                "rows": self.rows,
                "status": self.status,
                "findings": self.findings,
                "drift": {} if self.drift is None else self.drift.to_json(),
                "columns": [c.to_json() for c in self.columns],
                "outputs": [c.to_json() for c in self.outputs],
                "label": [c.to_json() for c in self.label],
                "performance": {} if self.performance is None else self.performance.to_json(),
                "health": self.health,
                "messages": self.messages,
                "alerts": self.alerts,
                "metrics": self.metrics,
                "id": self.id,
                "created_at": self.created_at,
            }
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MonitorReport:
        """A report read back from its stored JSON (:meth:`to_dict`)."""
        return cls(
            model=data["model"],
            version=data.get("version"),
            route=data.get("route"),
            window=dict(data.get("window") or {}),
            rows=int(data.get("rows") or 0),
            status=data.get("status", "ok"),
            findings=list(data.get("findings") or []),
            drift=DatasetDrift.from_json(data.get("drift") or {}),
            columns=[ColumnDrift.from_json(c) for c in data.get("columns") or []],
            outputs=[ColumnDrift.from_json(c) for c in data.get("outputs") or []],
            label=[ColumnDrift.from_json(c) for c in data.get("label") or []],
            performance=PerformanceResult.from_json(data.get("performance") or {}),
            health=dict(data.get("health") or {}),
            messages=list(data.get("messages") or []),
            alerts=list(data.get("alerts") or []),
            metrics=dict(data.get("metrics") or {}),
            id=data.get("id"),
            created_at=data.get("created_at"),
        )

    @classmethod
    def from_record(cls, record: MonitorReportRecord) -> MonitorReport:
        """A report from the metadata store's record with its payload (``get_monitor_report``)."""
        report = cls.from_dict(record.report or {})
        report.id = record.id
        report.created_at = record.created_at.isoformat()
        return report

    def notes(self) -> list[str]:
        """The report's messages, then its performance's."""
        return [*self.messages, *(self.performance.messages if self.performance is not None else [])]

    def drifted_columns(self) -> list[str]:
        """The input columns whose check found drift."""
        return [c.column for c in self.columns if c.drifted]


FINDINGS = {
    "drift": DATASET_DRIFT,  # the share of drifted features reached monitoring.drift_share
    "prediction_drift": PREDICTION_DRIFT,  # the model's outputs drifted
    "label_drift": LABEL_DRIFT,  # the labels drifted
    "degraded": DEGRADED,  # realized accuracy dropped against the holdout
    "concept_drift": CONCEPT_DRIFT,  # realized below the label-free estimate
}
QUIET_STATUSES = ("empty", "insufficient")


def _as_flag(value: float | None) -> bool | None:
    return None if value is None else bool(value)


@dataclass(frozen=True)
class ReportMetrics:
    """Typed read-back of a report's flat metrics (the stored ``metrics`` of a monitoring report).

    The flat dict stays what is stored and what users name in alert rules; readers in the code go through
    this view so that a renamed key breaks here, in one place. Flags stored as ``1.0`` / ``0.0`` read as
    booleans; a figure the window could not decide (or an older report did not store) reads as ``None``.
    """

    values: Mapping[str, float | None] = field(default_factory=dict)

    @classmethod
    def from_flat(cls, metrics: Mapping[str, float | None]) -> ReportMetrics:
        """The view over a stored flat metrics mapping (``MonitorReport.metrics`` or a store record's)."""
        return cls(dict(metrics))

    def get(self, key: str) -> float | None:
        """Any flat metric by its full dotted name, ``None`` when absent."""
        value = self.values.get(key)
        return float(value) if isinstance(value, int | float) else None  # other JSON reads as absent

    @property
    def dataset_drift(self) -> bool | None:
        """Whether the share of drifted input columns reached ``monitoring.drift_share``."""
        return _as_flag(self.get(DATASET_DRIFT))

    @property
    def drift_share(self) -> float | None:
        """The share of input columns that drifted."""
        return self.get(DRIFT_SHARE)

    @property
    def drifted_column_count(self) -> int | None:
        """How many input columns drifted (``None`` when drift was not decided)."""
        value = self.get(DRIFT_COLUMNS)
        return None if value is None else int(value)

    @property
    def prediction_drift(self) -> bool | None:
        """Whether the model's outputs drifted."""
        return _as_flag(self.get(PREDICTION_DRIFT))

    @property
    def prediction_effect(self) -> float | None:
        """The largest effect size among the model's outputs."""
        return self.get(PREDICTION_EFFECT)

    @property
    def label_drift(self) -> bool | None:
        """Whether the feedback labels drifted."""
        return _as_flag(self.get(LABEL_DRIFT))

    @property
    def labelled_rows(self) -> int:
        """Rows of the window with a feedback label (0 when none or not stored)."""
        return int(self.get(LABELLED_ROWS) or 0)

    @property
    def rows(self) -> int:
        """Rows in the monitored window."""
        return int(self.get(ROWS) or 0)

    @property
    def estimate_reliable(self) -> bool | None:
        """Whether the label-free estimate is reliable (``False`` when inputs left the holdout's range)."""
        return _as_flag(self.get(ESTIMATE_RELIABLE))

    def estimated(self, metric: str) -> float | None:
        """The label-free estimate of ``metric`` (e.g. ``accuracy``), ``None`` when not estimated."""
        return self.get(ESTIMATED_PREFIX + metric)

    def measured(self, metric: str) -> float | None:
        """The realized ``metric`` on labelled rows (e.g. ``accuracy``), ``None`` when not measured."""
        return self.get(PERFORMANCE_PREFIX + metric)

    def health(self, figure: str) -> float | None:
        """A service health figure of the window (e.g. ``latency_p95_ms``)."""
        return self.get(HEALTH_PREFIX + figure)


def findings(metrics: Mapping[str, Any]) -> list[str]:
    """What a report's flat metrics found, in :data:`FINDINGS` order (empty when nothing)."""
    return [name for name, key in FINDINGS.items() if metrics.get(key) == 1.0]


def _flag(value: bool | None) -> float | None:
    return None if value is None else float(bool(value))


def _drift_metrics(report: MonitorReport) -> dict[str, Any]:
    d = report.drift
    m: dict[str, Any] = {
        DRIFT_SHARE: d.share if d else None,
        DATASET_DRIFT: _flag(d.drifted) if d else None,
        DRIFT_COLUMNS: len(d.columns) if d and d.share is not None else None,
    }
    decided_outputs = [o for o in report.outputs if o.drifted is not None]
    m[PREDICTION_DRIFT] = _flag(any(o.drifted for o in decided_outputs)) if decided_outputs else None
    effects = [o.effect_size for o in report.outputs if o.effect_size is not None]
    m[PREDICTION_EFFECT] = max(effects) if effects else None
    decided_labels = [c for c in report.label if c.drifted is not None]
    m[LABEL_DRIFT] = _flag(any(c.drifted for c in decided_labels)) if decided_labels else None
    return m


def _performance_metrics(perf: PerformanceResult) -> dict[str, Any]:
    m: dict[str, Any] = {}
    for key, value in (perf.realized or {}).items():
        m[PERFORMANCE_PREFIX + key] = value
    estimated = perf.estimated.to_json() if perf.estimated is not None else {}
    for key, value in estimated.items():
        if key != "rows":  # flags as 1.0 / 0.0, so alert rules can compare them like any metric
            m[ESTIMATED_PREFIX + key] = _flag(value) if isinstance(value, bool) else value
    tests = perf.tests or PerformanceTests()
    if tests.accuracy_drop is not None:
        m[ACCURACY_DROP] = tests.accuracy_drop.drop
        m[DEGRADED] = _flag(tests.accuracy_drop.drifted)
    if tests.below_estimate is not None:
        m[CONCEPT_DRIFT] = _flag(tests.below_estimate.drifted)
    return m


def flat_metrics(report: MonitorReport) -> dict[str, float | None]:
    """The numbers alert rules and history read, under dotted names.

    It also settles what the report says it found: ``report.findings`` and, unless the window was empty or
    too small, ``report.status`` (``ok`` only when nothing was found), so a report never reads ``ok`` while
    it holds dataset drift, degraded performance or concept drift.
    """
    m: dict[str, Any] = {ROWS: report.rows, **_drift_metrics(report)}
    perf = report.performance
    m[LABELLED_ROWS] = perf.labelled_rows if perf is not None else 0
    if perf is not None:
        m.update(_performance_metrics(perf))
    for key in ("rows", "throughput_rps", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "error_rate"):
        if key in report.health:
            m[HEALTH_PREFIX + key] = report.health[key]
    flat: dict[str, float | None] = jsonable(m)
    report.findings = findings(flat)
    if report.status not in QUIET_STATUSES:
        report.status = "+".join(report.findings) or "ok"
    return flat
