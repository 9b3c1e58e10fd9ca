"""Monitoring served models: check windows of the prediction log, read stored reports, render them (see
:mod:`mlfactory.monitoring`, which owns the statistics and the report's content)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlfactory.project.base import ProjectState

if TYPE_CHECKING:
    from mlfactory.config import LoadedConfig
    from mlfactory.entities import MonitorReportRecord
    from mlfactory.monitoring import LogSource, MonitorReport, Window


def _window(seconds: float | None, last: int | None) -> Window | None:
    from mlfactory.monitoring import Window

    if last is not None:
        return Window(last=last)
    return None if seconds is None else Window(seconds=seconds)


class MonitorMethods(ProjectState):
    """The Project's monitoring methods."""

    def monitor(
        self,
        models: str | Sequence[str] | None = None,
        *,
        seconds: float | None = None,
        last: int | None = None,
        version: int | None = None,
        route: str | None = None,
        store: bool = True,
        alerts: bool = True,
        log: LogSource | None = None,
    ) -> list[MonitorReport]:
        """Check a window of the prediction log: one report per model version and route found in it (an
        ``empty`` report, saying why, when the window holds no rows).

        Args:
            models: a model, several, or None for every declared model that has versions.
            seconds: the time window up to now (default: ``monitoring.window``).
            last: the last N logged rows instead of a time window.
            version, route: only this version or route.
            store: store each report (and log a ``monitor.report`` event); False answers without a trace.
            alerts: evaluate the alert rules on the reports.
            log: the prediction log to read (default: the project's; a server passes its own writer).

        A window spanning several slices of the log's files (a million rows of files each) is counted on the
        project's executor (``compute``), slice by slice side by side; the report is the same as counting
        it here.

        Raises:
            NotFoundError: a named model has no versions.
        """
        from mlfactory.monitoring import run_monitor

        if isinstance(models, str):
            names = [models]
        elif models:
            names = list(models)
        else:
            known = set(self.metadata.list_model_names())
            names = [m for m in self.config.models if m in known]
        source = log if log is not None else self.predictions
        spec = _window(seconds, last)
        reports: list[MonitorReport] = []
        for name in names:
            reports += run_monitor(
                self.metadata,
                source,
                self.config.monitoring,
                model=name,
                window=spec,
                version=version,
                route=route,
                store=store,
                alerts=alerts,
                actor=self.actor,
                compute=self.compute,
            )
        return reports

    def monitor_history(
        self, model: str, *, version: int | None = None, route: str | None = None, limit: int | None = None
    ) -> list[MonitorReportRecord]:
        """Stored reports of a model, oldest first, without their full content (id, time, window, version,
        route, rows, status, metrics).

        Raises:
            NotFoundError: no such model.
        """
        self.metadata.list_model_versions(model)  # an unknown model is an error here, not an empty history
        return self.monitor_reports(model, version=version, route=route, limit=limit)

    def monitor_reports(
        self,
        model: str,
        *,
        version: int | None = None,
        route: str | None = None,
        limit: int | None = None,
    ) -> list[MonitorReportRecord]:
        """Like :meth:`monitor_history`, but an unknown model simply has no reports."""
        return self.metadata.list_monitor_reports(model, version=version, route=route, limit=limit)

    def monitor_report(self, model: str, report_id: str | None = None) -> MonitorReport:
        """A stored report by id, or the model's newest.

        Raises:
            NotFoundError: no such report, or the model has none yet.
        """
        from mlfactory.monitoring import load_report

        return load_report(self.metadata, model, report_id)

    def latest_monitor_reports(
        self, model: str, *, version: int | None = None, route: str | None = None, scan: int = 50
    ) -> list[dict[str, Any]]:
        """The newest stored report of each version and route among the model's last ``scan`` reports, as
        stored (the report's JSON plus its ``id``), oldest first.

        Raises:
            NotFoundError: no such model.
        """
        rows = self.monitor_history(model, version=version, route=route, limit=scan)
        newest = {(r.version, r.route): r.id for r in rows}  # oldest first: the newest of each pair wins
        return [(self.metadata.get_monitor_report(i).report or {}) | {"id": i} for i in newest.values()]

    def monitor_html(self, report: MonitorReport) -> str:
        """A report as one self-contained HTML page, with its version's stored history plotted."""
        from mlfactory.monitoring import render_html

        return render_html(report, self.monitor_reports(report.model, version=report.version))

    def write_monitor_html(self, report: MonitorReport, target: str) -> str:
        """Write a report's page (:meth:`monitor_html`) whole, as :func:`write_page` does.

        Args:
            report: the report.
            target: a file path (relative to the working folder) or an object URL such as
                ``s3://bucket/reports/spam.html`` (reached with ``stores.storage_options``).

        Returns:
            Where it was written (a URL without credentials for a bucket).
        """
        return write_page(target, self.monitor_html(report), self.loaded)


def write_page(target: str, page: str, loaded: LoadedConfig | None) -> str:
    """Write an HTML page to a file or an object, whole: readers see the previous page or this one, never a
    part (a temporary file renamed into place, or one PUT).

    Args:
        target: a file path (relative to the working folder), ``file://…``, or ``s3://…``, ``gs://…``,
            ``az://…`` with an object name.
        page: the HTML.
        loaded: the project whose ``stores.storage_options`` reach the bucket (None outside a project).

    Returns:
        Where it was written.

    Raises:
        ConfigError: the target names a folder or bucket, or an unsupported scheme.
        MLFactoryError: the storage refused the write (missing bucket, access denied, unreachable).
    """
    from mlfactory.stores.fs import put_url

    options = loaded.config.stores.storage_options if loaded is not None else None
    return put_url(target, page.encode("utf-8"), Path.cwd(), options)


def _project_here() -> LoadedConfig | None:
    """The project of the working folder, or None outside one."""
    from mlfactory.config import load_project_config
    from mlfactory.errors import ConfigError

    try:
        return load_project_config()
    except ConfigError:
        return None


def compare_data(reference: Path, current: Path) -> dict[str, Any]:
    """A plain drift report of two data files (Parquet or CSV; the current one read in chunks), with the
    monitoring settings of the project in the working folder, or the defaults outside one."""
    from mlfactory.config import MonitoringConfig
    from mlfactory.monitoring import compare_files

    loaded = _project_here()
    return compare_files(reference, current, loaded.config.monitoring if loaded else MonitoringConfig())


def compare_html(result: dict[str, Any], *, title: str) -> str:
    """A :func:`compare_data` result as one self-contained HTML page."""
    from mlfactory.monitoring import render_compare_html

    return render_compare_html(result, title=title)


def write_compare_html(result: dict[str, Any], target: str, *, title: str) -> str:
    """Write a :func:`compare_data` result's page whole to a file or object (see :func:`write_page`), with
    the storage options of the project in the working folder; returns where."""
    return write_page(target, compare_html(result, title=title), _project_here())
