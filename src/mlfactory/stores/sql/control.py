"""SQL storage of the controller's rollouts: compare-and-set on a revision, and per-model leases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Row, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from mlfactory.entities import Event, Rollout
from mlfactory.errors import ConflictError
from mlfactory.stores.sql import schema as t
from mlfactory.stores.sql.base import SqlBase, _aware, now
from mlfactory.stores.sql.engine import retry_on_conflict

IDLE = "idle"


def _rollout(row: Row[Any]) -> Rollout:
    m = row._mapping
    return Rollout(
        model=m["model"],
        state=m["state"],
        revision=m["revision"],
        challenger=m["challenger"],
        champion=m["champion"],
        data=m["data"],
        paused=bool(m["paused"]),
        updated_at=_aware(m["updated_at"]),  # type: ignore[arg-type]
        lease_owner=m["lease_owner"],
        lease_until=_aware(m["lease_until"]),
    )


def _ensure_row(c: Connection, model: str) -> None:
    if c.execute(select(t.rollouts.c.model).where(t.rollouts.c.model == model)).first() is None:
        c.execute(
            insert(t.rollouts).values(
                model=model,
                state=IDLE,
                revision=0,
                challenger=None,
                champion=None,
                data={},
                paused=False,
                updated_at=now(),
                lease_owner=None,
                lease_until=None,
            )
        )


class ControlStoreMixin(SqlBase):
    """The control part of the SQL metadata store."""

    def get_rollout(self, model: str) -> Rollout:
        with self._read() as c:
            row = c.execute(select(t.rollouts).where(t.rollouts.c.model == model)).first()
        if row is None:
            return Rollout(model, IDLE, 0, None, None, {}, False, now())
        return _rollout(row)

    def list_rollouts(self) -> list[Rollout]:
        with self._read() as c:
            return [_rollout(r) for r in c.execute(select(t.rollouts).order_by(t.rollouts.c.model))]

    def save_rollout(
        self,
        model: str,
        *,
        expect_revision: int,
        state: str,
        challenger: int | None,
        champion: int | None,
        data: dict[str, Any],
        event: str,
        actor: str,
        reason: str,
        payload: dict[str, Any] | None = None,
    ) -> Rollout:
        def attempt() -> Rollout:
            with self._tx() as c:
                _ensure_row(c, model)
                row = c.execute(select(t.rollouts).where(t.rollouts.c.model == model)).one()
                current = _rollout(row)
                # the revision in the WHERE makes this a compare-and-set even where the read above saw a
                # snapshot a concurrent writer has since moved (PostgreSQL's read committed)
                moved = c.execute(
                    update(t.rollouts)
                    .where(t.rollouts.c.model == model, t.rollouts.c.revision == expect_revision)
                    .values(
                        state=state,
                        revision=expect_revision + 1,
                        challenger=challenger,
                        champion=champion,
                        data=data,
                        updated_at=now(),
                    )
                )
                if current.revision != expect_revision or moved.rowcount != 1:
                    raise ConflictError(
                        f"rollout of '{model}' changed meanwhile (expected revision {expect_revision}, "
                        f"read {current.revision}); another controller acted first"
                    )
                self._insert_event(
                    c,
                    event,
                    actor,
                    model,
                    {
                        "from_state": current.state,
                        "to_state": state,
                        "challenger": challenger,
                        "champion": champion,
                        **(payload or {}),
                    },
                    reason,
                )
                return _rollout(c.execute(select(t.rollouts).where(t.rollouts.c.model == model)).one())

        return retry_on_conflict(attempt)  # two first moves may both create the row: the loser reads again

    def acquire_lease(self, model: str, owner: str, seconds: float, *, take_over: str | None = None) -> bool:
        at = now()
        held_by = [t.rollouts.c.lease_owner == take_over] if take_over else []
        for _ in range(3):
            try:
                with self._tx() as c:
                    _ensure_row(c, model)
                    taken = c.execute(
                        update(t.rollouts)
                        .where(
                            and_(
                                t.rollouts.c.model == model,
                                or_(
                                    t.rollouts.c.lease_owner.is_(None),
                                    t.rollouts.c.lease_owner == owner,
                                    t.rollouts.c.lease_until < at,
                                    *held_by,
                                ),
                            )
                        )
                        .values(lease_owner=owner, lease_until=at + timedelta(seconds=seconds))
                    )
                    return taken.rowcount == 1
            except SAIntegrityError:  # two controllers created the row at once; try again
                continue
        return False

    def release_lease(self, model: str, owner: str) -> None:
        with self._tx() as c:
            c.execute(
                update(t.rollouts)
                .where(t.rollouts.c.model == model, t.rollouts.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=now())
            )  # kept: when a controller last acted

    def set_paused(self, model: str, paused: bool, *, actor: str, reason: str = "") -> Event:
        def attempt() -> Event:
            with self._tx() as c:
                _ensure_row(c, model)
                c.execute(update(t.rollouts).where(t.rollouts.c.model == model).values(paused=paused))
                kind = "controller.paused" if paused else "controller.resumed"
                return self._insert_event(c, kind, actor, model, {}, reason)

        return retry_on_conflict(attempt)
