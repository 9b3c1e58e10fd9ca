"""Feedback labels in memory, summarized in the event log as the SQL stores do."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from mlfactory.entities import FeedbackRecord
from mlfactory.stores.memory.base import MemoryBase, aware, copied, now
from mlfactory.stores.metadata.feedback import FEEDBACK_SUMMARY_SECONDS


class MemoryFeedback(MemoryBase):
    """True labels by request id."""

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
        stamp = now()
        with self._lock:
            for rid, label in latest.items():
                self._feedback.pop(rid, None)  # re-inserted: the newest label comes last, as a new row
                problem = problems[rid][:500] if rid in problems else None
                self._feedback[rid] = FeedbackRecord(rid, copied(label), model, stamp, actor, problem)
            self._summarize_feedback(model, actor, stamp)
        return sum(1 for rid in latest if rid not in problems)

    def _summarize_feedback(self, model: str | None, actor: str, stamp: datetime) -> None:
        last = next(
            (e.time for e in reversed(self._events) if e.kind == "feedback.received" and e.model == model),
            None,
        )
        if last is not None and (stamp - last).total_seconds() < FEEDBACK_SUMMARY_SECONDS:
            return
        rows = [
            f for f in self._feedback.values() if f.model == model and (last is None or f.received_at > last)
        ]
        total, invalid = len(rows), sum(1 for f in rows if f.problem is not None)
        since = f"since {last:%Y-%m-%d %H:%M:%S} UTC" if last else "so far"
        self._insert_event(
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
        since = aware(since)
        with self._lock:
            rows = (
                list(self._feedback.values())
                if request_ids is None
                else [self._feedback[r] for r in dict.fromkeys(request_ids) if r in self._feedback]
            )
            return copied(
                [
                    f
                    for f in rows
                    if (include_invalid or f.problem is None) and (since is None or f.received_at >= since)
                ]
            )
