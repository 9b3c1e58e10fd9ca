"""Stored audits: saved by ``mlfactory audit`` (see :mod:`mlfactory.audit`), listed and read back by the
CLI and the dashboard."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlfactory.entities import AuditRecord
from mlfactory.project.base import ProjectState


class AuditMethods(ProjectState):
    """The Project's methods over stored audits (saved, listed, read back)."""

    def save_audit(self, models: Sequence[str], score: float, report: dict[str, Any]) -> AuditRecord:
        """Store an audit's report (with an ``audit.recorded`` event) so the audit has a history."""
        return self.metadata.add_audit(models=models, score=score, report=report, actor=self.actor)

    def audits(self, models: Sequence[str] | None = None, *, limit: int = 50) -> list[AuditRecord]:
        """Stored audits, newest first, without reports; ``models``: only audits of exactly that scope."""
        return self.metadata.list_audits(models, limit=limit)

    def audit_record(self, audit_id: str) -> AuditRecord:
        """One stored audit with its report (NotFoundError naming how to list them when unknown)."""
        return self.metadata.get_audit(audit_id)
