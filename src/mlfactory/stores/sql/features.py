"""Feature view registrations, feature tables, training sets and skew reports."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select

from mlfactory.entities import FeatureTable, FeatureViewRecord, SkewReportRecord, TrainingSetRecord
from mlfactory.errors import NotFoundError
from mlfactory.stores.sql import schema as t
from mlfactory.stores.sql.base import SqlBase, _aware, now
from mlfactory.stores.sql.engine import retry_on_conflict


class FeaturesMixin(SqlBase):
    """Feature view registrations, feature tables, training sets and skew reports."""

    def register_feature_view(
        self,
        name: str,
        code_version: str,
        *,
        entity: str,
        source: str,
        definition: dict[str, Any],
    ) -> bool:
        def attempt() -> bool:
            with self._tx() as c:
                key = (t.feature_views.c.name == name) & (t.feature_views.c.code_version == code_version)
                if c.execute(select(t.feature_views.c.name).where(key)).first():
                    return False
                c.execute(
                    insert(t.feature_views).values(
                        name=name,
                        code_version=code_version,
                        entity=entity,
                        source=source,
                        definition=definition,
                        created_at=now(),
                    )
                )
                return True

        return retry_on_conflict(attempt)

    def list_feature_views(self, name: str | None = None) -> list[FeatureViewRecord]:
        q = select(t.feature_views).order_by(t.feature_views.c.created_at, t.feature_views.c.name)
        if name is not None:
            q = q.where(t.feature_views.c.name == name)
        with self._read() as c:
            rows = c.execute(q).all()
        return [FeatureViewRecord(**{**r._mapping, "created_at": _aware(r.created_at)}) for r in rows]

    def get_feature_table(self, view: str, code_version: str, dataset_id: str) -> FeatureTable | None:
        ft = t.feature_tables.c
        with self._read() as c:
            key = (ft.view == view) & (ft.code_version == code_version) & (ft.dataset_id == dataset_id)
            r = c.execute(select(t.feature_tables).where(key)).first()
        if r is None:
            return None
        return FeatureTable(
            **{**r._mapping, "backfills": bool(r.backfills), "created_at": _aware(r.created_at)}
        )

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
        def attempt() -> None:
            if self.get_feature_table(view, code_version, dataset_id) is not None:
                return
            with self._tx() as c:
                c.execute(
                    insert(t.feature_tables).values(
                        view=view,
                        code_version=code_version,
                        dataset_id=dataset_id,
                        digest=digest,
                        n_rows=n_rows,
                        backfills=backfills,
                        created_at=now(),
                    )
                )

        retry_on_conflict(attempt)

    def add_training_set(
        self,
        training_set_id: str,
        *,
        digest: str,
        n_rows: int,
        spec: dict[str, Any],
    ) -> bool:
        def attempt() -> bool:
            with self._tx() as c:
                ts = t.training_sets.c
                if c.execute(select(ts.id).where(ts.id == training_set_id)).first():
                    return False
                c.execute(
                    insert(t.training_sets).values(
                        id=training_set_id, digest=digest, n_rows=n_rows, spec=spec, created_at=now()
                    )
                )
                return True

        return retry_on_conflict(attempt)

    def get_training_set(self, training_set_id: str) -> TrainingSetRecord:
        with self._tx() as c:
            r = c.execute(select(t.training_sets).where(t.training_sets.c.id == training_set_id)).first()
        if r is None:
            raise NotFoundError(f"no training set '{training_set_id}'")
        return TrainingSetRecord(**{**r._mapping, "created_at": _aware(r.created_at)})

    def add_skew_report(self, model: str, report: dict[str, Any], *, actor: str) -> int:
        with self._tx() as c:
            row = insert(t.feature_skew_reports).values(model=model, created_at=now(), report=report)
            rid = c.execute(row.returning(t.feature_skew_reports.c.id)).scalar_one()
            summary = {
                "report": rid,
                "rows": report.get("rows"),
                "max_mismatch_rate": report.get("max_mismatch_rate"),
            }
            self._insert_event(c, "features.skew", actor, model, summary, "")
        return int(rid)

    def list_skew_reports(self, model: str, limit: int | None = None) -> list[SkewReportRecord]:
        s = t.feature_skew_reports.c
        q = select(t.feature_skew_reports).where(s.model == model).order_by(s.created_at.desc(), s.id.desc())
        if limit:
            q = q.limit(limit)
        with self._read() as c:
            rows = c.execute(q).all()
        return [SkewReportRecord(**{**r._mapping, "created_at": _aware(r.created_at)}) for r in rows]

    # -- end features -----------------------------------------------------------------------------------
