"""Audits: each one the project's ML Test Score and findings at a moment, kept so the audit has a history."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from mlfactory.entities import AuditRecord


class AuditsStore(ABC):
    """Stored audits, newest first; each one written with its ``audit.recorded`` event."""

    @abstractmethod
    def add_audit(
        self, *, models: Sequence[str], score: float, report: dict[str, Any], actor: str
    ) -> AuditRecord:
        """Store an audit.

        Args:
            models: the models it looked at (its scope; stored sorted).
            score: its ML Test Score.
            report: the whole report as JSON.
            actor: who ran it.

        Returns:
            The stored audit, with its id and time (and without the report).

        Raises:
            StoreUnavailableError: the store cannot be reached.

        Guarantees: the audit and its ``audit.recorded`` event (id, scope, score) are atomic.
        """

    @abstractmethod
    def list_audits(self, models: Sequence[str] | None = None, *, limit: int = 50) -> list[AuditRecord]:
        """Stored audits without their reports, newest first.

        Args:
            models: only audits of exactly this scope (None: every audit).
            limit: at most this many.

        Returns:
            The audits' summaries (``report`` is None).

        Raises:
            StoreUnavailableError: the store cannot be reached.
        """

    @abstractmethod
    def get_audit(self, audit_id: str) -> AuditRecord:
        """One stored audit with its report.

        Args:
            audit_id: the audit's id.

        Returns:
            The audit.

        Raises:
            NotFoundError: no audit has this id (the message says how to list them).
            StoreUnavailableError: the store cannot be reached.
        """
