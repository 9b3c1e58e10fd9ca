"""The SQL metadata store's base: engine, transactions and the append-only event log."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from sqlalchemy import (
    ClauseElement,
    ColumnElement,
    Connection,
    Dialect,
    Row,
    and_,
    bindparam,
    exists,
    insert,
    or_,
    select,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler

from mlfactory.entities import (
    Event,
)
from mlfactory.stores.sql import schema as t
from mlfactory.stores.sql.engine import READS, make_engine, migrate, unavailable_as_error


def now() -> datetime:
    return datetime.now(UTC)


def _aware(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _sqlite_time(text: str | None) -> datetime | None:
    """A time as SQLite stores it (UTC, as text): parsed by ``fromisoformat``, not SQLAlchemy's pattern (the
    offset appended: parsing it costs less than ``replace`` on the result)."""
    return None if text is None else datetime.fromisoformat(text + "+00:00")


def _as_read(value: Any) -> Any:
    return value


# how each database's driver gives back the times and the JSON a Prepared statement reads: SQLite as text,
# psycopg as values (its JSON read with the engine's deserializer). The JSON these statements read is an
# object or a list, which SQLite gives back as text: parsed by orjson directly (no check for a bare number)
DECODE: dict[str, tuple[Callable[[Any], datetime | None], Callable[[Any], Any]]] = {
    "sqlite": (_sqlite_time, orjson.loads),
    "postgresql": (_aware, _as_read),
}


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


@dataclass(frozen=True)
class _Compiled:
    """A statement's SQL for one kind of database, and how its values are bound there."""

    sql: str
    order: tuple[str, ...] | None  # the values' order when the driver binds by position; None: by name
    defaults: dict[str, Any]  # values the statement itself holds
    converts: tuple[tuple[str, Callable[[Any], Any]], ...]  # the column types' conversions of values

    def bind(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        merged = {**self.defaults, **values}
        for name, convert in self.converts:
            merged[name] = convert(merged[name])
        return merged if self.order is None else tuple(merged[n] for n in self.order)


class Prepared:
    """A statement compiled once per kind of database (not once per engine) and run on the driver's own
    cursor inside the SQLAlchemy transaction: for the small, frequent reads and writes of tracking and the
    registry, SQLAlchemy's work per statement (an execution context, each row processed) costs more than
    the database's. Values are bound by name and converted as the columns' types say; rows come back as
    the driver reads them (on SQLite, times and JSON as text)."""

    def __init__(self, build: Callable[[str], ClauseElement]) -> None:
        self._build = build  # dialect name -> the statement
        self._by_dialect: dict[str, _Compiled] = {}

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = cast(SQLCompiler, self._build(dialect.name).compile(dialect=dialect))
        if "POSTCOMPILE" in compiled.string:
            raise TypeError("a prepared statement binds each value once: no expanding IN lists")
        converts = []
        for name, bind in compiled.binds.items():
            convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if convert is not None:
                converts.append((name, convert))
        order = tuple(compiled.positiontup or ()) if compiled.positional else None
        done = _Compiled(compiled.string, order, dict(compiled.params), tuple(converts))
        self._by_dialect[dialect.name] = done
        return done

    def run(self, c: Connection, values: Mapping[str, Any] | None = None) -> Any:
        """Execute on ``c``'s driver connection; the driver's cursor (``fetchall``, ``rowcount``). A driver
        error is raised as SQLAlchemy's (IntegrityError, OperationalError), as ``c.execute`` raises it."""
        compiled = self._by_dialect.get(c.dialect.name) or self._compile(c.dialect)
        params = compiled.bind(values or {})
        try:
            return c.connection.driver_connection.execute(compiled.sql, params)  # type: ignore[union-attr]
        except c.dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(compiled.sql, params, exc, c.dialect.loaded_dbapi.Error) from exc

    def many(self, c: Connection, names: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Execute once per row of ``rows``, each the values of ``names`` in that order, passed to the driver
        as they are (no conversions: for values of plain types). Only where the driver binds by position
        in that order (SQLite); a TypeError otherwise."""
        compiled = self._by_dialect.get(c.dialect.name) or self._compile(c.dialect)
        if compiled.order != tuple(names):
            raise TypeError(f"the statement binds {compiled.order}, not the rows' {tuple(names)}")
        try:
            c.connection.driver_connection.executemany(compiled.sql, rows)  # type: ignore[union-attr]
        except c.dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(compiled.sql, rows, exc, c.dialect.loaded_dbapi.Error) from exc

    def rows(self, c: Connection, values: Mapping[str, Any] | None = None) -> list[Any]:
        """The rows the statement returns, as tuples."""
        return list(self.run(c, values).fetchall())


_INSERT_EVENT = Prepared(
    lambda _: (
        insert(t.events)
        .values({k: bindparam(k) for k in ("time", "kind", "actor", "model", "payload", "reason")})
        .returning(t.events.c.id)
    )
)


class SqlBase:
    """Connection handling and the event log, shared by every part of the SQL metadata store."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._reader = self.engine.execution_options(**{READS: True})
        with unavailable_as_error(url):
            migrate(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        """A transaction that writes: on SQLite it takes the write lock when it begins (see engine.py)."""
        with unavailable_as_error(self.url), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A transaction that only reads (one snapshot for its statements): on SQLite it takes no write lock,
        so reads never wait for writers nor make them wait. Nothing may be written in it."""
        with unavailable_as_error(self.url), self._reader.begin() as conn:
            yield conn

    # -- events -----------------------------------------------------------------------------------------

    @staticmethod
    def _insert_event(
        c: Connection, kind: str, actor: str, model: str | None, payload: dict[str, Any], reason: str
    ) -> Event:
        values = dict(time=now(), kind=kind, actor=actor, model=model, payload=payload, reason=reason)
        ((event_id,),) = _INSERT_EVENT.rows(c, values)
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
        with self._read() as c:
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
        with self._read() as c:
            row = c.execute(found).one()
        return {k for k, hit in zip(kinds, row, strict=True) if hit}

    def latest_events(self, models: Sequence[str], kinds: Sequence[str]) -> dict[str, Event]:
        e = t.events.c
        newest = select(t.events).order_by(e.time.desc(), e.id.desc()).limit(1)  # ix_events_model_time
        if kinds:
            newest = newest.where(e.kind.in_(list(kinds)))
        out = {}
        with self._read() as c:
            for model in dict.fromkeys(models):
                row = c.execute(newest.where(e.model == model)).first()
                if row is not None:
                    out[model] = _event(row)
        return out
