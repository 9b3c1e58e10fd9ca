"""Feedback labels by request id, summarized in the audit log at most once an hour per model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from mlfactory.entities import FeedbackRecord
from mlfactory.stores.metadata.feedback import FEEDBACK_SUMMARY_SECONDS
from mlfactory.stores.sql import schema as t
from mlfactory.stores.sql.base import SqlBase, _aware, now


class FeedbackMixin(SqlBase):
    """Feedback labels by request id."""

    def add_feedback(
        self,
        labels: Sequence[tuple[str, Any]],
        *,
        actor: str,
        model: str | None = None,
        problems: Mapping[str, str] | None = None,
    ) -> int:
        latest = dict(labels)  # a request id given twice keeps its last label
        if not latest:
            return 0
        problems = problems or {}
        ids = list(latest)
        stamp = now()
        with self._tx() as c:
            for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
                c.execute(delete(t.feedback).where(t.feedback.c.request_id.in_(chunk)))
            rows = [
                {
                    "request_id": rid,
                    "label": latest[rid],
                    "model": model,
                    "received_at": stamp,
                    "actor": actor,
                    "problem": problems[rid][:500] if rid in problems else None,
                }
                for rid in ids
            ]
            c.execute(insert(t.feedback), rows)
            self._summarize_feedback(c, model, actor, stamp)
        return sum(1 for rid in ids if rid not in problems)

    def _summarize_feedback(self, c: Connection, model: str | None, actor: str, stamp: datetime) -> None:
        """At most one ``feedback.received`` event per model and FEEDBACK_SUMMARY_SECONDS, counting every
        label stored since the previous one: labels are data, the audit log is for decisions."""
        ev = t.events.c
        last = _aware(
            c.execute(
                select(ev.time)
                .where(ev.kind == "feedback.received", ev.model == model)
                .order_by(ev.id.desc())
                .limit(1)
            ).scalar()
        )
        if last is not None and (stamp - last).total_seconds() < FEEDBACK_SUMMARY_SECONDS:
            return
        fb = t.feedback.c
        q = select(func.count(), func.count(fb.problem)).where(fb.model == model)
        if last is not None:
            q = q.where(fb.received_at > last)
        total, invalid = c.execute(q).one()
        since = f"since {last:%Y-%m-%d %H:%M:%S} UTC" if last else "so far"
        self._insert_event(
            c,
            "feedback.received",
            actor,
            model,
            {"labels": total - invalid, "invalid": invalid, "since": last.isoformat() if last else None},
            f"{total - invalid} label(s) stored {since}"
            + (f", {invalid} kept aside as not fitting the model" if invalid else ""),
        )

    def get_feedback(
        self,
        request_ids: Sequence[str] | None = None,
        *,
        since: datetime | None = None,
        include_invalid: bool = False,
    ) -> list[FeedbackRecord]:
        base = select(t.feedback)
        if not include_invalid:
            base = base.where(t.feedback.c.problem.is_(None))
        if since is not None:
            base = base.where(t.feedback.c.received_at >= since)
        with self._read() as c:
            if request_ids is None:
                rows = c.execute(base).all()
            else:
                ids = list(request_ids)
                rows = []
                for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
                    rows.extend(c.execute(base.where(t.feedback.c.request_id.in_(chunk))).all())
        return [FeedbackRecord(**{**r._mapping, "received_at": _aware(r.received_at)}) for r in rows]
