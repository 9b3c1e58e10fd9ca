"""Aliases and routing policies in memory; every change writes its event under the same lock."""

from __future__ import annotations

from typing import Any

from mlfactory.entities import Event, VersionStatus, gates_from_json
from mlfactory.errors import ConflictError
from mlfactory.stores.memory.base import MemoryBase, copied
from mlfactory.stores.metadata.registry import archived_version
from mlfactory.stores.metadata.routing import RoutingState, VersionCheck


class MemoryRouting(MemoryBase):
    """Aliases and routing policies."""

    def get_aliases(self, name: str | None = None) -> dict[tuple[str, str], int]:
        with self._lock:
            return {k: v for k, v in self._aliases.items() if name is None or k[0] == name}

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
        with self._lock:
            current = self._aliases.get((name, alias))
            if expect is not False and current != expect:
                raise ConflictError(
                    f"alias '{alias}' of '{name}' moved meanwhile (now version {current}, expected "
                    f"{expect}); look at `mlfactory models history` and try again"
                )
            extra = {} if version is None else self._judge(name, alias, version, check)
            body = {"alias": alias, "from": current, "to": version, **(payload or {}), **extra}
            event = self._insert_event(kind, actor, name, body, reason)  # first: if it fails, nothing moved
            if version is None:
                self._aliases.pop((name, alias), None)
            else:
                self._aliases[(name, alias)] = version
            return event

    def _judge(self, name: str, alias: str, version: int, check: VersionCheck | None) -> dict[str, Any]:
        """The version may take the alias (it exists, is live, and passes ``check``): the details ``check``
        adds to the event. Callers hold the lock."""
        if not self._has_version(name, version):
            raise self._missing_version(name, version)
        row = self._versions[name][version - 1]
        if row["archived_at"] is not None:
            raise archived_version(f"{name}/{version}", row["archive_reason"], f"take '{alias}'")
        return {} if check is None else check(VersionStatus(row["status"]), gates_from_json(row["gates"]))

    def get_routing_policies(self, name: str | None = None) -> dict[str, dict[str, Any]]:
        with self._lock:
            return copied({n: p for n, p in self._policies.items() if name is None or n == name})

    def routing_state(self) -> RoutingState:
        with self._lock:  # one lock: the snapshot is consistent by construction
            aliases = dict(self._aliases)
            policies = copied(self._policies)
            names = {n for n, _ in aliases} | set(policies)
            revisions = {n: r for n, r in self._routing_revisions.items() if n in names}
        return RoutingState(aliases, policies, revisions)

    def set_routing_policy(
        self,
        name: str,
        policy: dict[str, Any] | None,
        *,
        actor: str,
        reason: str = "",
    ) -> Event:
        with self._lock:
            current = self._policies.pop(name, None)
            if policy is not None:
                self._policies[name] = copied(policy)
            kind = "routing.set" if policy is not None else "routing.cleared"
            return self._insert_event(kind, actor, name, {"from": current, "to": copied(policy)}, reason)
