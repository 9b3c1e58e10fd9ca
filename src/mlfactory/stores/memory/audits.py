"""Audits in memory."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from mlfactory.entities import AuditRecord
from mlfactory.errors import NotFoundError
from mlfactory.stores.memory.base import MemoryBase, copied, now


class MemoryAudits(MemoryBase):
    """Audits, each with its ``audit.recorded`` event."""

    def add_audit(
        self, *, models: Sequence[str], score: float, report: dict[str, Any], actor: str
    ) -> AuditRecord:
        scope = tuple(sorted(models))
        record = AuditRecord(uuid.uuid4().hex, now(), actor, scope, float(score), copied(report))
        with self._lock:
            self._audits.append(record)
            payload = {"audit": record.id, "models": list(scope), "score": record.score}
            self._insert_event("audit.recorded", actor, None, payload, "")
        return replace(record, report=None)

    def list_audits(self, models: Sequence[str] | None = None, *, limit: int = 50) -> list[AuditRecord]:
        scope = None if models is None else tuple(sorted(models))
        with self._lock:
            found = [a for a in self._audits if scope is None or a.models == scope]
        found.sort(key=lambda a: (a.created_at, a.id), reverse=True)
        return [replace(a, report=None) for a in found[:limit]]

    def get_audit(self, audit_id: str) -> AuditRecord:
        with self._lock:
            for audit in self._audits:
                if audit.id == audit_id:
                    return copied(audit)
        raise NotFoundError(f"no audit '{audit_id}'; list them with `mlfactory audit --history`")
