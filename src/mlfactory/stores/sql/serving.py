"""Routing policies and feedback labels."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select

from mlfactory.entities import (
    Event,
)
from mlfactory.stores.sql import schema as t
from mlfactory.stores.sql.base import SqlBase, _aware, now


class ServingMixin(SqlBase):
    """Routing policies and feedback labels."""

    def get_routing_policies(self, name: str | None = None) -> dict[str, dict[str, Any]]:
        q = select(t.routing_policies.c.name, t.routing_policies.c.policy)
        if name is not None:
            q = q.where(t.routing_policies.c.name == name)
        with self._tx() as c:
            return {n: p for n, p in c.execute(q)}

    def set_routing_policy(
        self,
        name: str,
        policy: dict[str, Any] | None,
        *,
        actor: str,
        reason: str = "",
    ) -> Event:
        with self._tx() as c:
            current = c.execute(
                select(t.routing_policies.c.policy).where(t.routing_policies.c.name == name)
            ).scalar()
            c.execute(delete(t.routing_policies).where(t.routing_policies.c.name == name))
            if policy is not None:
                c.execute(insert(t.routing_policies).values(name=name, policy=policy, updated_at=now()))
            kind = "routing.set" if policy is not None else "routing.cleared"
            return self._insert_event(c, kind, actor, name, {"from": current, "to": policy}, reason)

    def add_feedback(
        self,
        labels: Sequence[tuple[str, Any]],
        *,
        actor: str,
        model: str | None = None,
    ) -> int:
        latest = dict(labels)  # a request id given twice keeps its last label
        if not latest:
            return 0
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
                }
                for rid in ids
            ]
            c.execute(insert(t.feedback), rows)
            self._insert_event(c, "feedback.received", actor, model, {"labels": len(ids)}, "")
        return len(ids)

    def get_feedback(
        self,
        request_ids: Sequence[str] | None = None,
        *,
        since: datetime | None = None,
    ) -> list[dict[str, Any]]:
        base = select(t.feedback)
        if since is not None:
            base = base.where(t.feedback.c.received_at >= since)
        out: list[dict[str, Any]] = []
        with self._tx() as c:
            if request_ids is None:
                rows = c.execute(base).all()
            else:
                ids = list(request_ids)
                rows = []
                for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
                    rows.extend(c.execute(base.where(t.feedback.c.request_id.in_(chunk))).all())
            for r in rows:
                m = dict(r._mapping)
                m["received_at"] = _aware(m["received_at"])
                out.append(m)
        return out
