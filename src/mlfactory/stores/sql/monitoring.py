"""Stored monitoring reports."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select

from mlfactory.entities import MonitorReportRecord
from mlfactory.errors import NotFoundError
from mlfactory.stores.sql import schema as t
from mlfactory.stores.sql.base import SqlBase, _aware, now


class MonitoringMixin(SqlBase):
    """Stored monitoring reports."""

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
        report_id = uuid.uuid4().hex
        with self._tx() as c:
            c.execute(
                insert(t.monitor_reports).values(
                    id=report_id,
                    model=model,
                    version=version,
                    route=route,
                    created_at=now(),
                    window_start=window_start,
                    window_end=window_end,
                    rows=rows,
                    status=status,
                    metrics=metrics,
                    report=report,
                )
            )
            self._insert_event(
                c,
                "monitor.report",
                actor,
                model,
                {
                    "report": report_id,
                    "version": version,
                    "route": route,
                    "rows": rows,
                    "status": status,
                    "drift_share": metrics.get("drift.share"),
                    "dataset_drift": metrics.get("drift.dataset"),
                },
                "",
            )
        return report_id

    @staticmethod
    def _monitor_row(r: Row[Any], full: bool) -> MonitorReportRecord:
        m = dict(r._mapping)
        for k in ("created_at", "window_start", "window_end"):
            m[k] = _aware(m[k])
        if not full:
            m.pop("report", None)
        return MonitorReportRecord(**m)

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
        s = t.monitor_reports.c
        cols = list(t.monitor_reports.c) if full else [c for c in t.monitor_reports.c if c.name != "report"]
        q = select(*cols).order_by(s.created_at.desc(), s.id.desc())
        for column, value in ((s.model, model), (s.version, version), (s.route, route)):
            if value is not None:
                q = q.where(column == value)
        if since is not None:
            q = q.where(s.created_at >= since)
        if limit:
            q = q.limit(limit)
        with self._read() as c:
            rows = [self._monitor_row(r, full) for r in c.execute(q).all()]
        return rows[::-1]

    def get_monitor_report(self, report_id: str) -> MonitorReportRecord:
        with self._read() as c:
            r = c.execute(select(t.monitor_reports).where(t.monitor_reports.c.id == report_id)).first()
        if r is None:
            raise NotFoundError(
                f"no monitoring report '{report_id}'; list them with `mlfactory monitor history MODEL`"
            )
        return self._monitor_row(r, True)

    # -- end monitoring -----------------------------------------------------------------------------------
