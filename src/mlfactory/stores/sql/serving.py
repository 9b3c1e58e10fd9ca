"""Routing policies and feedback labels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select

from mlfactory.entities import (
    Event,
)
from mlfactory.stores.metadata import RoutingState
from mlfactory.stores.sql import schema as t
from mlfactory.stores.sql.base import SqlBase, _aware, now
from mlfactory.stores.sql.engine import unavailable_as_error

FEEDBACK_SUMMARY_SECONDS = 3600.0


class ServingMixin(SqlBase):
    """Routing policies and feedback labels."""

    def get_routing_policies(self, name: str | None = None) -> dict[str, dict[str, Any]]:
        q = select(t.routing_policies.c.name, t.routing_policies.c.policy)
        if name is not None:
            q = q.where(t.routing_policies.c.name == name)
        with self._tx() as c:
            return {n: p for n, p in c.execute(q)}

    def routing_state(self) -> RoutingState:
        with unavailable_as_error(self.url), self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":  # its default (read committed) snapshots each statement
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                aliases = {
                    (n, a): v
                    for n, a, v in conn.execute(
                        select(t.aliases.c.name, t.aliases.c.alias, t.aliases.c.version)
                    )
                }
                policies = {
                    n: p
                    for n, p in conn.execute(select(t.routing_policies.c.name, t.routing_policies.c.policy))
                }
                names = sorted({n for n, _ in aliases} | set(policies))
                ev = t.events.c
                # through the (model, time) index: only the events of the models that have routes
                newest = (
                    select(ev.model, func.max(ev.id))
                    .where(ev.model.in_(names), or_(ev.kind.like("alias.%"), ev.kind.like("routing.%")))
                    .group_by(ev.model)
                )
                revisions = {n: int(r) for n, r in conn.execute(newest)} if names else {}
        return RoutingState(aliases, policies, revisions)

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
    ) -> list[dict[str, Any]]:
        base = select(t.feedback)
        if not include_invalid:
            base = base.where(t.feedback.c.problem.is_(None))
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
