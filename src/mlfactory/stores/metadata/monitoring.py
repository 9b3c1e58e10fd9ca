"""Stored monitoring reports: a summary with flat metrics for history and alerts, and the full payload."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any

from mlfactory.entities import MonitorReportRecord


class MonitoringStore(ABC):
    """Monitoring reports of served models."""

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
        """Store a monitoring report.

        Args:
            model: the model.
            version: the version it monitored, if one.
            route: the route it monitored, if one.
            window_start: the first logged row's time.
            window_end: the last logged row's time.
            rows: rows in the window.
            status: the report's status (``ok``, ``drift``, ``empty``, ...).
            metrics: flat dotted metrics (``drift.share``, ``drift.dataset``, ...).
            report: the full report's JSON.
            actor: who ran it.

        Returns:
            The new report's id (32 hex digits).

        Raises:
            StoreUnavailableError: the store cannot be reached.

        Guarantees: the report and its ``monitor.report`` event (with ``drift_share`` and
        ``dataset_drift`` from the metrics) are atomic.
        """

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
    ) -> list[MonitorReportRecord]:
        """Stored reports, oldest first (by creation time, then id).

        Args:
            model: only this model's reports.
            version: only reports of this version.
            route: only reports of this route.
            since: only reports created at or after this time.
            limit: only the newest ``limit`` matching reports (still oldest first).
            full: include each report's full payload (``report`` is None otherwise).

        Returns:
            The matching reports (empty when none match; an unknown model is not an error).

        Raises:
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def get_monitor_report(self, report_id: str) -> MonitorReportRecord:
        """One report with its full payload.

        Args:
            report_id: the report's full id.

        Returns:
            The report, ``report`` holding its full JSON.

        Raises:
            NotFoundError: no report has this id.
            StoreUnavailableError: the store cannot be reached.
        """
