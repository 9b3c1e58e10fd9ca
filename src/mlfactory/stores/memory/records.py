"""Feature metadata and monitoring reports in memory."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

from mlfactory.entities import (
    FeatureTable,
    FeatureViewRecord,
    MonitorReportRecord,
    SkewReportRecord,
    TrainingSetRecord,
)
from mlfactory.errors import NotFoundError
from mlfactory.stores.memory.base import MemoryBase, aware, copied, now


class MemoryRecords(MemoryBase):
    """Feature views, feature tables, training sets, skew reports and monitoring reports."""

    # -- features -----------------------------------------------------------------------------------------

    def register_feature_view(
        self,
        name: str,
        code_version: str,
        *,
        entity: str,
        source: str,
        definition: dict[str, Any],
    ) -> bool:
        with self._lock:
            if (name, code_version) in self._views:
                return False
            record = FeatureViewRecord(name, code_version, entity, source, copied(definition), now())
            self._views[(name, code_version)] = record
            return True

    def list_feature_views(self, name: str | None = None) -> list[FeatureViewRecord]:
        with self._lock:
            views = [v for v in self._views.values() if name is None or v.name == name]
            return copied(sorted(views, key=lambda v: (v.created_at, v.name)))

    def get_feature_table(self, view: str, code_version: str, dataset_id: str) -> FeatureTable | None:
        with self._lock:
            return self._tables.get((view, code_version, dataset_id))

    def add_feature_table(
        self,
        view: str,
        code_version: str,
        dataset_id: str,
        *,
        digest: str,
        n_rows: int,
        backfills: bool,
    ) -> None:
        key = (view, code_version, dataset_id)
        with self._lock:
            if key not in self._tables:
                self._tables[key] = FeatureTable(*key, digest, n_rows, backfills, now())

    def add_training_set(
        self,
        training_set_id: str,
        *,
        digest: str,
        n_rows: int,
        spec: dict[str, Any],
    ) -> bool:
        with self._lock:
            if training_set_id in self._training_sets:
                return False
            record = TrainingSetRecord(training_set_id, digest, n_rows, copied(spec), now())
            self._training_sets[training_set_id] = record
            return True

    def get_training_set(self, training_set_id: str) -> TrainingSetRecord:
        with self._lock:
            record = self._training_sets.get(training_set_id)
            if record is None:
                raise NotFoundError(f"no training set '{training_set_id}'")
            return copied(record)

    def add_skew_report(self, model: str, report: dict[str, Any], *, actor: str) -> int:
        with self._lock:
            rid = len(self._skew) + 1
            self._skew.append(SkewReportRecord(rid, model, now(), copied(report)))
            summary = {
                "report": rid,
                "rows": report.get("rows"),
                "max_mismatch_rate": report.get("max_mismatch_rate"),
            }
            self._insert_event("features.skew", actor, model, summary, "")
            return rid

    def list_skew_reports(self, model: str, limit: int | None = None) -> list[SkewReportRecord]:
        with self._lock:
            found = sorted(
                (r for r in self._skew if r.model == model), key=lambda r: (r.created_at, r.id), reverse=True
            )
            return copied(found[:limit] if limit else found)

    # -- monitoring ---------------------------------------------------------------------------------------

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
        record = MonitorReportRecord(
            id=report_id,
            model=model,
            version=version,
            route=route,
            created_at=now(),
            window_start=window_start,
            window_end=window_end,
            rows=rows,
            status=status,
            metrics=copied(metrics),
            report=copied(report),
        )
        with self._lock:
            self._reports[report_id] = record
            body = {
                "report": report_id,
                "version": version,
                "route": route,
                "rows": rows,
                "status": status,
                "drift_share": metrics.get("drift.share"),
                "dataset_drift": metrics.get("drift.dataset"),
            }
            self._insert_event("monitor.report", actor, model, body, "")
        return report_id

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
        since = aware(since)
        with self._lock:
            found = [
                r
                for r in self._reports.values()
                if (model is None or r.model == model)
                and (version is None or r.version == version)
                and (route is None or r.route == route)
                and (since is None or r.created_at >= since)
            ]
            found.sort(key=lambda r: (r.created_at, r.id))
            found = found[-limit:] if limit else found
            return copied(found if full else [replace(r, report=None) for r in found])

    def get_monitor_report(self, report_id: str) -> MonitorReportRecord:
        with self._lock:
            record = self._reports.get(report_id)
            if record is None:
                raise NotFoundError(
                    f"no monitoring report '{report_id}'; list them with `mlfactory monitor history MODEL`"
                )
            return copied(record)
