"""The MonitorReport: drift and performance of one window against one model version's reference."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np


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
    drift: dict[str, Any] = field(default_factory=dict)
    columns: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    label: list[dict[str, Any]] = field(default_factory=list)
    performance: dict[str, Any] = field(default_factory=dict)
    health: dict[str, Any] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    created_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))  # type: ignore[no-any-return]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MonitorReport:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> MonitorReport:
        """A report from the metadata store's row (``get_monitor_report``)."""
        report = cls.from_dict(record["report"])
        report.id = record["id"]
        created = record.get("created_at")
        report.created_at = created.isoformat() if isinstance(created, datetime) else created
        return report

    def drifted_columns(self) -> list[str]:
        return [c["column"] for c in self.columns if c.get("drifted")]


FINDINGS = {
    "drift": "drift.dataset",  # the share of drifted features reached monitoring.drift_share
    "prediction_drift": "drift.prediction",  # the model's outputs drifted
    "label_drift": "drift.label",  # the labels drifted
    "degraded": "performance.degraded",  # realized accuracy dropped against the holdout
    "concept_drift": "performance.concept_drift",  # realized below the label-free estimate
}
QUIET_STATUSES = ("empty", "insufficient")


def findings(metrics: dict[str, Any]) -> list[str]:
    """What a report's flat metrics found, in :data:`FINDINGS` order (empty when nothing)."""
    return [name for name, key in FINDINGS.items() if metrics.get(key) == 1.0]


def _flag(value: bool | None) -> float | None:
    return None if value is None else float(bool(value))


def flat_metrics(report: MonitorReport) -> dict[str, Any]:
    """The numbers alert rules and history read, under dotted names.

    It also settles what the report says it found: ``report.findings`` and, unless the window was empty or
    too small, ``report.status`` (``ok`` only when nothing was found), so a report never reads ``ok`` while
    it holds dataset drift, degraded performance or concept drift.
    """
    m: dict[str, Any] = {"rows": report.rows}
    d = report.drift
    m["drift.share"] = d.get("share")
    m["drift.dataset"] = _flag(d.get("drifted"))
    m["drift.columns"] = len(d.get("columns", [])) if d.get("share") is not None else None
    decided_outputs = [o for o in report.outputs if o.get("drifted") is not None]
    m["drift.prediction"] = _flag(any(o["drifted"] for o in decided_outputs)) if decided_outputs else None
    effects = [o["effect_size"] for o in report.outputs if o.get("effect_size") is not None]
    m["drift.prediction_effect"] = max(effects) if effects else None
    decided_labels = [c for c in report.label if c.get("drifted") is not None]
    m["drift.label"] = _flag(any(c["drifted"] for c in decided_labels)) if decided_labels else None
    perf = report.performance
    m["performance.labelled_rows"] = perf.get("labelled_rows", 0)
    for key, value in (perf.get("realized") or {}).items():
        m[f"performance.{key}"] = value
    for key, value in (perf.get("estimated") or {}).items():
        if key != "rows":  # flags as 1.0 / 0.0, so alert rules can compare them like any metric
            m[f"estimated.{key}"] = _flag(value) if isinstance(value, bool) else value
    tests = perf.get("tests") or {}
    if "accuracy_drop" in tests:
        m["performance.accuracy_drop"] = tests["accuracy_drop"]["drop"]
        m["performance.degraded"] = _flag(tests["accuracy_drop"]["drifted"])
    if "below_estimate" in tests:
        m["performance.concept_drift"] = _flag(tests["below_estimate"]["drifted"])
    for key in ("rows", "throughput_rps", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "error_rate"):
        if key in report.health:
            m[f"health.{key}"] = report.health[key]
    m = jsonable(m)
    report.findings = findings(m)
    if report.status not in QUIET_STATUSES:
        report.status = "+".join(report.findings) or "ok"
    return m  # type: ignore[no-any-return]
