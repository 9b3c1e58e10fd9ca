"""Monitoring runs: read a window of the prediction log, check it against each version's reference, store
the report and evaluate the alert rules."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from threadpoolctl import threadpool_limits

from mlfactory.config import MonitoringConfig, ProjectConfig
from mlfactory.entities import PRODUCTION, ModelVersion, MonitorReportRecord
from mlfactory.monitoring.alerts import evaluate_alerts
from mlfactory.monitoring.drift import ColumnDrift, column_drift, dataset_drift, window_messages
from mlfactory.monitoring.partial import CountSpec, count_group
from mlfactory.monitoring.reference import ColumnReference, VersionReference, version_reference
from mlfactory.monitoring.report import MonitorReport, ReportMetrics, flat_metrics
from mlfactory.monitoring.window_counts import WindowCounts
from mlfactory.stores.metadata import MetadataStore
from mlfactory.stores.predictions import LogSource, LogWindow, Window

if TYPE_CHECKING:
    from mlfactory.compute import Executor


class ProjectLike(Protocol):
    """What a monitoring run needs from an opened project."""

    metadata: MetadataStore
    config: ProjectConfig
    actor: str


def _label_drift(
    ref: ColumnReference | None, counts: dict[str, int], settings: MonitoringConfig
) -> list[ColumnDrift]:
    if ref is None or ref.kind != "categorical" or not counts:
        return []
    window = WindowCounts({"label": ref})
    acc = window.categorical["label"]
    acc.seen = True
    for key, n in counts.items():
        acc.counts[key] += n
    results = column_drift({"label": ref}, window, settings, role="label")
    return results


def window_labels(metadata: MetadataStore, lw: LogWindow, group: dict[str, Any]) -> dict[str, Any]:
    """The feedback labels of the model's requests, by request id, received since the group's first row
    (less a day, for servers whose clocks disagree): one read of the store per group, handed to every
    slice. Labels of rows outside the window are never looked up, so they change nothing."""
    since = group["first"] - timedelta(days=1) if group.get("first") is not None else None
    return {
        f.request_id: f.label
        for f in metadata.get_feedback(since=since)
        if f.model is None or f.model == lw.model
    }


def _reference_notes(lw: LogWindow, mv: ModelVersion, ref: VersionReference) -> list[str]:
    """What the report cannot check: inputs missing from the log, a reference derived from a profile."""
    notes = []
    missing = [c for c in mv.signature.input_names if c not in lw.inputs]
    if missing:
        notes.append(f"input column(s) {missing} are not in the prediction log, so they are not checked")
    if ref.format == 0:
        notes.append(
            f"{mv.ref} was registered before monitoring references existed: its data profile "
            "is used (10 bins per number, no out-of-vocabulary reference, no calibration); "
            "retrain to get the full reference"
        )
    return notes


def monitor_group(
    metadata: MetadataStore,
    lw: LogWindow,
    group: dict[str, Any],
    settings: MonitoringConfig,
    now: datetime | None = None,
    compute: Executor | None = None,
) -> MonitorReport:
    """Check one (version, route) group of a window against that version's reference (its slices counted on
    ``compute`` when given and the group spans several, see :mod:`mlfactory.monitoring.partial`)."""
    version, route = group["version"], group["route"]
    mv = metadata.get_model_version(lw.model, version)
    ref = version_reference(mv.profile, mv.signature.label)
    classes = tuple(mv.signature.classes) if mv.signature.classes else None
    spec = CountSpec(ref, classes, window_labels(metadata, lw, group), settings.native_threads)
    counts = count_group(spec, lw.parts(version, route, mv.signature.input_names), compute, lw.con)
    report = MonitorReport(
        model=lw.model, version=version, route=route, window=lw.window.to_dict(now), rows=group["rows"]
    )
    columns = column_drift(ref.columns, counts.features, settings, present=set(lw.inputs))
    report.messages = window_messages(report.rows, settings, columns) + _reference_notes(lw, mv, ref)
    report.columns = columns
    output_results = column_drift(
        ref.outputs, counts.outputs, settings, role="output", present=counts.present_outputs
    )
    label_results = _label_drift(ref.label, counts.perf.label_counts, settings)
    window_messages(report.rows, settings, output_results + label_results)
    report.outputs = output_results
    report.label = label_results
    report.drift = dataset_drift(columns, settings.drift_share)
    report.performance = counts.perf.result(settings.performance_min_drop, settings.alpha)
    report.health = {k: v for k, v in group.items() if k not in ("version", "route")}
    if report.rows == 0:
        report.status = "empty"
    elif report.rows < settings.min_rows:
        report.status = "insufficient"
    report.metrics = flat_metrics(report)
    return report


def _empty_report(
    model: str, window: Window, version: int | None, why: str, now: datetime | None
) -> MonitorReport:
    report = MonitorReport(
        model=model,
        version=version,
        route=PRODUCTION,
        window=window.to_dict(now),
        rows=0,
        status="empty",
        messages=[why],
    )
    report.metrics = flat_metrics(report)
    return report


def _no_rows(
    metadata: MetadataStore, model: str, window: Window, version: int | None, route: str | None, now: datetime
) -> MonitorReport:
    """The one report of a window without rows: for the production version, saying why."""
    aliases = metadata.get_aliases(model)
    target = version if version is not None else aliases.get((model, route or PRODUCTION))
    since, until = window.bounds(now)
    span = f"between {since:%Y-%m-%d %H:%M:%S} and {until:%Y-%m-%d %H:%M:%S} UTC" if since else "at all"
    who = f"version {target}" if target is not None else "any version"
    why = (
        f"the prediction log holds no rows of {model} ({who}, route {route or 'any'}) {span}; "
        "is the server running with server.prediction_log.enabled, and is traffic arriving?"
    )
    return _empty_report(model, window, target, why, now)


def _store(metadata: MetadataStore, report: MonitorReport, window: Window, now: datetime, actor: str) -> None:
    """Store a report (with its ``monitor.report`` event) and note its id and time on it."""
    since, until = window.bounds(now)
    report.id = metadata.add_monitor_report(
        model=report.model,
        version=report.version,
        route=report.route,
        window_start=since,
        window_end=until,
        rows=report.rows,
        status=report.status,
        metrics=report.metrics,
        report=report.to_dict(),
        actor=actor,
    )
    report.created_at = now.isoformat()


def run_monitor(
    metadata: MetadataStore,
    log: LogSource,
    settings: MonitoringConfig,
    *,
    model: str,
    window: Window | None = None,
    version: int | None = None,
    route: str | None = None,
    now: datetime | None = None,
    store: bool = True,
    alerts: bool = True,
    actor: str = "monitor",
    compute: Executor | None = None,
) -> list[MonitorReport]:
    """Monitor one model: one report per (version, route) found in the window.

    An empty window still gives one report (status ``empty``) for the production version, saying why, so
    a silent server is noticed rather than mistaken for a healthy one.

    Args:
        metadata: the metadata store (versions, feedback; reports are stored here).
        log: the prediction log.
        settings: the project's monitoring section.
        model: the model name.
        window: which rows (default: ``settings.window`` seconds up to now).
        version, route: only this version or route.
        now: the end of a time window (default: the current time).
        store: store each report (and log a ``monitor.report`` event).
        alerts: evaluate the alert rules on stored reports.
        actor: who ran it, for the audit log.
        compute: where a large group's slices are counted (None: here, one after another); the report is
            the same either way.

    Raises:
        NotFoundError: the model has no registered version.
    """
    now = now or datetime.now(UTC)
    window = window or Window(seconds=settings.window)
    metadata.list_model_versions(model)  # NotFoundError naming the known models
    # native threads capped (monitoring.native_threads): on a busy machine idle BLAS/OpenMP threads spin
    with LogWindow(log, model, window, now) as lw, threadpool_limits(limits=settings.native_threads):
        groups = [
            g
            for g in lw.groups()
            if (version is None or g["version"] == version) and (route is None or g["route"] == route)
        ]
        if groups:
            reports = [monitor_group(metadata, lw, g, settings, now, compute) for g in groups]
        else:
            reports = [_no_rows(metadata, model, window, version, route, now)]
    for report in reports:
        if store:
            _store(metadata, report, window, now, actor)
        if alerts and settings.alerts:
            report.alerts = evaluate_alerts(metadata, settings, report, window=window, now=now, actor=actor)
    return reports


def monitor_project(
    project: ProjectLike,
    log: LogSource,
    *,
    models: Sequence[str] | None = None,
    window: Window | None = None,
    version: int | None = None,
    route: str | None = None,
    store: bool = True,
) -> list[MonitorReport]:
    """Monitor every declared model (or ``models``) over one window; see :func:`run_monitor`."""
    settings = project.config.monitoring
    names = (
        list(models)
        if models
        else [m for m in project.config.models if m in project.metadata.list_model_names()]
    )
    reports: list[MonitorReport] = []
    for name in names:
        reports.extend(
            run_monitor(
                project.metadata,
                log,
                settings,
                model=name,
                window=window,
                version=version,
                route=route,
                store=store,
                actor=project.actor,
            )
        )
    return reports


def report_history(
    metadata: MetadataStore,
    model: str,
    *,
    version: int | None = None,
    route: str | None = None,
    limit: int | None = None,
) -> list[MonitorReportRecord]:
    """Stored reports of a model, oldest first, without their full content (id, time, window, metrics)."""
    metadata.list_model_versions(model)
    return metadata.list_monitor_reports(model, version=version, route=route, limit=limit)


def load_report(metadata: MetadataStore, model: str, report_id: str | None = None) -> MonitorReport:
    """A stored report by id, or the model's newest."""
    if report_id is None:
        newest = metadata.list_monitor_reports(model, limit=1)
        if not newest:
            from mlfactory.errors import NotFoundError

            raise NotFoundError(
                f"model '{model}' has no monitoring report yet; run `mlfactory monitor run "
                f"--model {model}` first"
            )
        report_id = newest[0].id
    return MonitorReport.from_record(metadata.get_monitor_report(report_id))


def drift_streak(
    metadata: MetadataStore, model: str, version: int, *, route: str = PRODUCTION, limit: int = 50
) -> list[dict[str, Any]]:
    """The newest consecutive stored windows of one version and route that showed dataset drift, oldest
    first: each ``{"report", "created_at", "share", "drifted"}`` (drifted column names). Windows without a
    decision (empty or too small) neither extend nor break the streak."""
    rows = metadata.list_monitor_reports(model, version=version, route=route, limit=limit)
    streak: list[dict[str, Any]] = []
    for r in reversed(rows):
        metrics = ReportMetrics.from_flat(r.metrics)
        flag = metrics.dataset_drift
        if flag is None:
            continue
        if not flag:
            break
        report = metadata.get_monitor_report(r.id).report or {}
        streak.append(
            {
                "report": r.id,
                "created_at": r.created_at,
                "share": metrics.drift_share,
                "drifted": report.get("drift", {}).get("columns", []),
            }
        )
    return streak[::-1]
