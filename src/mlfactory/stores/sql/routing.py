"""Aliases and routing policies; every change is an event in the same transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, or_, select, update

from mlfactory.entities import Event, VersionStatus, gates_from_json
from mlfactory.errors import ConflictError
from mlfactory.stores.metadata.registry import archived_version
from mlfactory.stores.metadata.routing import RoutingState, VersionCheck
from mlfactory.stores.sql import schema as t
from mlfactory.stores.sql.base import DECODE, Prepared, SqlBase, now
from mlfactory.stores.sql.engine import Raced, retry_on_conflict, unavailable_as_error
from mlfactory.stores.sql.registry import missing_version, storable


class RoutingMixin(SqlBase):
    """Aliases and routing policies; every change is an event in the same transaction."""

    def get_aliases(self, name: str | None = None) -> dict[tuple[str, str], int]:
        q = select(t.aliases.c.name, t.aliases.c.alias, t.aliases.c.version)
        if name is not None:
            q = q.where(t.aliases.c.name == name)
        with self._read() as c:
            return {(n, a): v for n, a, v in c.execute(q)}

    def move_alias(
        self,
        name: str,
        alias: str,
        version: int | None,
        *,
        kind: str,
        actor: str,
        reason: str,
        payload: dict[str, Any] | None = None,
        expect: int | bool | None = False,
        check: VersionCheck | None = None,
    ) -> Event:
        def attempt() -> Event:
            with self._tx() as c:
                key = {"name": name, "alias": alias}
                current, row = _read_move(c, key, version)
                if expect is not False and current != expect:
                    raise ConflictError(
                        f"alias '{alias}' of '{name}' moved meanwhile (now version {current}, expected "
                        f"{expect}); look at `mlfactory models history` and try again"
                    )
                extra = {} if version is None else _judge(c, name, alias, version, row, check)
                # change what was read: a concurrent mover makes the update or delete miss, or the insert
                # collide, and the retry reads its result (PostgreSQL's read committed lets both
                # transactions read the same version)
                moved = {**key, "read": current, "version": version, "updated_at": now()}
                write = _INSERT_ALIAS if current is None else _DROP_ALIAS if version is None else _SET_ALIAS
                if (current, version) != (None, None) and write.run(c, moved).rowcount != 1:
                    raise Raced
                return self._insert_event(
                    c,
                    kind,
                    actor,
                    name,
                    {"alias": alias, "from": current, "to": version, **(payload or {}), **extra},
                    reason,
                )

        return retry_on_conflict(attempt)

    def get_routing_policies(self, name: str | None = None) -> dict[str, dict[str, Any]]:
        q = select(t.routing_policies.c.name, t.routing_policies.c.policy)
        if name is not None:
            q = q.where(t.routing_policies.c.name == name)
        with self._read() as c:
            return {n: p for n, p in c.execute(q)}

    def routing_state(self) -> RoutingState:
        with unavailable_as_error(self.url), self._reader.connect() as conn:
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
        def attempt() -> Event:
            with self._tx() as c:
                key = t.routing_policies.c.name == name
                current = c.execute(select(t.routing_policies.c.policy).where(key)).scalar()
                gone = c.execute(delete(t.routing_policies).where(key)).rowcount
                if gone != (current is not None):
                    raise Raced  # a concurrent writer removed or set it since the read: read again
                if policy is not None:
                    c.execute(insert(t.routing_policies).values(name=name, policy=policy, updated_at=now()))
                kind = "routing.set" if policy is not None else "routing.cleared"
                return self._insert_event(c, kind, actor, name, {"from": current, "to": policy}, reason)

        return retry_on_conflict(attempt)


# a move is one read (the alias and the version it is to take), one write and its event
_A, _V = t.aliases.c, t.model_versions.c
_THIS_ALIAS = (_A.name == bindparam("name")) & (_A.alias == bindparam("alias"))
_CURRENT = Prepared(lambda _: select(_A.version).where(_THIS_ALIAS))
_CURRENT_AND_VERSION = Prepared(
    lambda _: select(
        select(_A.version).where(_THIS_ALIAS).scalar_subquery(),
        _V.archived_at,
        _V.archive_reason,
        _V.status,
        _V.gates,
    ).where(_V.name == bindparam("name"), _V.version == bindparam("version"))
)
_INSERT_ALIAS = Prepared(
    lambda _: insert(t.aliases).values(
        name=bindparam("name"),
        alias=bindparam("alias"),
        version=bindparam("version"),
        updated_at=bindparam("updated_at"),
    )
)
_SET_ALIAS = Prepared(
    lambda _: (
        update(t.aliases)
        .where(_THIS_ALIAS, _A.version == bindparam("read"))
        .values(version=bindparam("version"), updated_at=bindparam("updated_at"))
    )
)
_DROP_ALIAS = Prepared(lambda _: delete(t.aliases).where(_THIS_ALIAS, _A.version == bindparam("read")))


def _read_move(c: Connection, key: dict[str, Any], version: int | None) -> tuple[int | None, Any]:
    """Where the alias points (None: nowhere), and the row of the version it is to take (its archive time
    and reason, status and gates; None when there is no such version): one read."""
    if version is not None and storable(version):
        found = _CURRENT_AND_VERSION.rows(c, {**key, "version": version})
        if found:
            return found[0][0], found[0][1:]
    current = _CURRENT.rows(c, key)
    return (current[0][0] if current else None), None


def _judge(
    c: Connection, name: str, alias: str, version: int, row: Any, check: VersionCheck | None
) -> dict[str, Any]:
    """The version may take the alias (it exists, is live, and passes ``check``): the details ``check`` adds
    to the event."""
    if row is None:
        raise missing_version(c, name, version)
    archived_at, archive_reason, status, gates = row
    if archived_at is not None:
        raise archived_version(f"{name}/{version}", archive_reason, f"take '{alias}'")
    if check is None:
        return {}
    return check(VersionStatus(status), gates_from_json(DECODE[c.dialect.name][1](gates)))
