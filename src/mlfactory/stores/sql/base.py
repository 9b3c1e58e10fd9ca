"""The SQL metadata store's base: engine, transactions and the append-only event log."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, and_, exists, insert, or_, select

from mlfactory.entities import (
    Event,
)
from mlfactory.stores.sql import schema as t
from mlfactory.stores.sql.engine import make_engine, migrate, unavailable_as_error


def now() -> datetime:
    return datetime.now(UTC)


def _aware(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


EMPTY_JSON = ("", "[]", "{}")  # what a set JSON value is not, as the database renders it to text


def json_set(column: ColumnElement[Any], path: str) -> ColumnElement[bool]:
    """Whether a JSON column sets the dotted ``path``: present, and neither null nor an empty string, list or
    object (the value as text: ``json_extract`` on SQLite, ``#>>`` on PostgreSQL)."""
    value = column[tuple(path.split("."))].as_string()
    return and_(value.is_not(None), value.not_in(EMPTY_JSON))


def _event(row: Row[Any]) -> Event:
    m = row._mapping
    return Event(
        id=m["id"],
        time=_aware(m["time"]),  # type: ignore[arg-type]
        kind=m["kind"],
        actor=m["actor"],
        model=m["model"],
        payload=m["payload"],
        reason=m["reason"],
    )


# built once: building a statement costs several times what executing a cached one does
_INSERT_EVENT = insert(t.events).returning(t.events.c.id)


class SqlBase:
    """Connection handling and the event log, shared by every part of the SQL metadata store."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        with unavailable_as_error(url):
            migrate(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with unavailable_as_error(self.url), self.engine.begin() as conn:
            yield conn

    # -- events -----------------------------------------------------------------------------------------

    @staticmethod
    def _insert_event(
        c: Connection, kind: str, actor: str, model: str | None, payload: dict[str, Any], reason: str
    ) -> Event:
        values = dict(time=now(), kind=kind, actor=actor, model=model, payload=payload, reason=reason)
        event_id = c.execute(_INSERT_EVENT, values).scalar_one()
        return Event(id=event_id, **values)  # type: ignore[arg-type]

    def add_event(
        self,
        kind: str,
        *,
        actor: str,
        model: str | None = None,
        payload: dict[str, Any] | None = None,
        reason: str = "",
    ) -> Event:
        with self._tx() as c:
            return self._insert_event(c, kind, actor, model, payload or {}, reason)

    def list_events(
        self,
        *,
        model: str | None = None,
        since: datetime | None = None,
        kinds: Sequence[str] | None = None,
        limit: int | None = None,
        actor: str | None = None,
        until: datetime | None = None,
        offset: int = 0,
        newest_first: bool = False,
    ) -> list[Event]:
        # newest first in the query, so a page of a long log is cut by the database, not here
        q = select(t.events).order_by(t.events.c.id.desc())
        if model is not None:
            q = q.where(t.events.c.model == model)
        if since is not None:
            q = q.where(t.events.c.time >= since)
        if until is not None:
            q = q.where(t.events.c.time < until)
        if kinds:
            q = q.where(t.events.c.kind.in_(list(kinds)))
        if actor is not None:
            q = q.where(t.events.c.actor == actor)
        q = q.offset(offset) if offset else q
        if limit:
            q = q.limit(limit)
        with self._tx() as c:
            rows = c.execute(q).all()
        events = [_event(r) for r in rows]
        return events if newest_first else events[::-1]

    def kinds_seen(
        self,
        kinds: Sequence[str],
        *,
        actor_prefix: str | None = None,
        payload_set: Sequence[str] = (),
    ) -> set[str]:
        kinds = list(dict.fromkeys(kinds))
        if not kinds:
            return set()
        conditions = []
        if actor_prefix is not None:
            conditions.append(t.events.c.actor.startswith(actor_prefix, autoescape=True))
        if payload_set:
            conditions.append(or_(*(json_set(t.events.c.payload, p) for p in payload_set)))
        # one EXISTS per kind in one statement: each stops at its first matching event
        found = select(*(exists().where(t.events.c.kind == k, *conditions) for k in kinds))
        with self._tx() as c:
            row = c.execute(found).one()
        return {k for k, hit in zip(kinds, row, strict=True) if hit}

    def latest_events(self, models: Sequence[str], kinds: Sequence[str]) -> dict[str, Event]:
        e = t.events.c
        newest = select(t.events).order_by(e.time.desc(), e.id.desc()).limit(1)  # ix_events_model_time
        if kinds:
            newest = newest.where(e.kind.in_(list(kinds)))
        out = {}
        with self._tx() as c:
            for model in dict.fromkeys(models):
                row = c.execute(newest.where(e.model == model)).first()
                if row is not None:
                    out[model] = _event(row)
        return out
