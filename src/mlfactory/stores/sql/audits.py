"""Audits: scope, score and report, each written with its ``audit.recorded`` event."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, insert, select

from mlfactory.entities import AuditRecord
from mlfactory.errors import NotFoundError
from mlfactory.stores.sql import schema as t
from mlfactory.stores.sql.base import SqlBase, _aware, now


def scope_key(models: Sequence[str]) -> str:
    return ",".join(sorted(models))


def _audit(row: Row[Any], full: bool) -> AuditRecord:
    m = row._mapping
    return AuditRecord(
        id=m["id"],
        created_at=_aware(m["created_at"]),  # type: ignore[arg-type]
        actor=m["actor"],
        models=tuple(m["scope"].split(",")) if m["scope"] else (),
        score=float(m["score"]),
        report=m["report"] if full else None,
    )


class AuditsMixin(SqlBase):
    """Audits."""

    def add_audit(
        self, *, models: Sequence[str], score: float, report: dict[str, Any], actor: str
    ) -> AuditRecord:
        audit_id, scope = uuid.uuid4().hex, scope_key(models)
        with self._tx() as c:
            values = dict(id=audit_id, created_at=now(), actor=actor, scope=scope, score=score, report=report)
            c.execute(insert(t.audits).values(**values))
            payload = {"audit": audit_id, "models": sorted(models), "score": score}
            self._insert_event(c, "audit.recorded", actor, None, payload, "")
            summary = [col for col in t.audits.c if col.name != "report"]
            return _audit(c.execute(select(*summary).where(t.audits.c.id == audit_id)).one(), False)

    def list_audits(self, models: Sequence[str] | None = None, *, limit: int = 50) -> list[AuditRecord]:
        summary = [col for col in t.audits.c if col.name != "report"]
        q = select(*summary).order_by(t.audits.c.created_at.desc(), t.audits.c.id.desc()).limit(limit)
        if models is not None:
            q = q.where(t.audits.c.scope == scope_key(models))
        with self._read() as c:
            return [_audit(r, False) for r in c.execute(q).all()]

    def get_audit(self, audit_id: str) -> AuditRecord:
        with self._read() as c:
            row = c.execute(select(t.audits).where(t.audits.c.id == audit_id)).first()
        if row is None:
            raise NotFoundError(f"no audit '{audit_id}'; list them with `mlfactory audit --history`")
        return _audit(row, True)
