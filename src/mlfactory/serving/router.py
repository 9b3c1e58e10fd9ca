"""Route tables: for one model, which served versions take which share of the rows.

:func:`plan_routes` is the pure part of a refresh: given every alias, routing policy and revision read in
one snapshot, the tables served so far and a way to load a version, it returns the tables to swap in. A
model whose versions do not all load keeps the table it had; a fresh server (no table yet) answers with the
production version alone rather than not at all.

Assignment is per row. With a routing key (a request field such as ``user_id``), a row's share is a stable
hash of the model name and the key's value, so the same key always lands on the same version for as long as
the weights stay the same (sticky A/B); rows without a key are assigned at random by weight.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from mlfactory.entities import PRODUCTION
from mlfactory.errors import MLFactoryError
from mlfactory.inputs import InputSpec
from mlfactory.serving.policy import RoutingPolicy
from mlfactory.serving.served import ServedVersion

_SCALE = float(2**64)


def stable_bucket(model: str, key: Any) -> float:
    """A number in [0, 1) fixed by (model, key): the same on every server process and machine."""
    digest = hashlib.blake2b(f"{model}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


@dataclass(frozen=True)
class Route:
    """One destination: a served version, the route's name in the log, and its cumulative share."""

    served: ServedVersion
    name: str
    upper: float


@dataclass(frozen=True)
class RouteTable:
    """Everything one model's live traffic needs, swapped in as a whole by a refresh."""

    model: str
    production: int | None
    policy: RoutingPolicy
    routes: tuple[Route, ...]
    shadow: ServedVersion | None = None
    records_spec: InputSpec | None = None  # decodes every request's records straight into numbers, when set
    revision: int = 0  # the id of the newest alias or routing event of the model the table was built from

    def versions(self) -> set[int]:
        out = {r.served.number for r in self.routes}
        if self.shadow is not None:
            out.add(self.shadow.number)
        return out

    def assign(self, n: int, keys: Sequence[Any] | None, rng: np.random.Generator) -> np.ndarray:
        """The index into :attr:`routes` for each of ``n`` rows."""
        u = rng.random(n)
        if keys is not None:
            for i, k in enumerate(keys):
                if k is not None:
                    u[i] = stable_bucket(self.model, k)
        uppers = np.array([r.upper for r in self.routes])
        return np.minimum(np.searchsorted(uppers, u, side="right"), len(self.routes) - 1)


def build_table(
    model: str,
    policy: RoutingPolicy,
    production: int | None,
    served: dict[int, ServedVersion],
    shadow: ServedVersion | None,
    revision: int = 0,
) -> RouteTable:
    """The route table for a policy over loaded versions (every routed version must be in ``served``);
    ``revision`` names the routing state it serves (see :class:`RouteTable`)."""
    routes: list[Route] = []
    if policy.ab:
        total = 0.0
        for version, weight in policy.ab:
            total += weight / 100
            routes.append(Route(served[version], f"ab-v{version}", total))
    else:
        if production is None:
            raise ValueError(f"model '{model}' has no production version to route to")
        if policy.canary is not None:
            routes.append(Route(served[policy.canary], "canary", policy.canary_weight / 100))
        routes.append(Route(served[production], "production", 1.0))
    last = routes[-1]
    routes[-1] = Route(last.served, last.name, 1.0)
    spec = _records_spec(routes, shadow, policy)
    return RouteTable(model, production, policy, tuple(routes), shadow, spec, revision)


def _records_spec(
    routes: Sequence[Route], shadow: ServedVersion | None, policy: RoutingPolicy
) -> InputSpec | None:
    """The spec that may decode every request's records straight into numbers: when each version the rows may
    reach takes the same numeric inputs, and nothing is looked up by another field of the rows (an A/B key,
    online features)."""
    served = [r.served for r in routes] + ([shadow] if shadow is not None else [])
    first = served[0]
    if policy.key or not first.spec.numeric_only:
        return None
    if any(sv.features is not None or not sv.same_inputs(first) for sv in served):
        return None
    return first.spec


class Loader(Protocol):
    """Loads a version, or records why it cannot under ``failures["model/version"]`` and gives None."""

    def __call__(self, name: str, version: int, failures: dict[str, str], /) -> ServedVersion | None: ...


@dataclass(frozen=True)
class RoutePlan:
    """What a refresh swaps in: the route tables, the models the store says to serve, and load failures."""

    tables: dict[str, RouteTable]
    wanted: frozenset[str]
    failures: dict[str, str]


def plan_routes(
    aliases: Mapping[tuple[str, str], int],
    policies: Mapping[str, dict[str, Any]],
    revisions: Mapping[str, int],
    current: Mapping[str, RouteTable],
    load: Loader,
) -> RoutePlan:
    """The route table of every model with a ``production`` alias or a routing policy.

    Args:
        aliases: (model, alias) → version, from the snapshot.
        policies: model → stored routing policy, from the snapshot.
        revisions: model → id of its newest alias or routing event in the snapshot (absent: 0).
        current: the tables served until now; a table that would not change is kept as the same object.
        load: loads the versions a table routes to.
    """
    names = {n for (n, a) in aliases if a == PRODUCTION} | set(policies)
    tables: dict[str, RouteTable] = {}
    failures: dict[str, str] = {}
    for name in sorted(names):
        table = table_for(
            name,
            aliases.get((name, PRODUCTION)),
            policies.get(name),
            revisions.get(name, 0),
            current.get(name),
            _Recording(load, failures),
        )
        if table is not None:
            tables[name] = table
        elif name in current:
            tables[name] = current[name]  # keep serving what we served
    return RoutePlan(tables, frozenset(names), failures)


@dataclass(frozen=True)
class _Recording:
    """A loader bound to the failures of one refresh."""

    load: Loader
    failures: dict[str, str]

    def __call__(self, name: str, version: int) -> ServedVersion | None:
        return self.load(name, version, self.failures)


def table_for(
    name: str,
    production: int | None,
    stored: dict[str, Any] | None,
    revision: int,
    old: RouteTable | None,
    load: _Recording,
) -> RouteTable | None:
    """One model's new table, ``old`` itself when nothing changed, or None to keep serving ``old``."""
    try:
        policy = RoutingPolicy.from_dict(stored)
    except MLFactoryError as exc:
        load.failures[name] = f"stored routing policy is invalid: {exc}"
        return None
    if not policy.ab and production is None:
        if policy.canary is not None:
            load.failures[name] = f"a canary is set but '{name}' has no production alias"
        return None
    served = {v: load(name, v) for v in sorted(_routed(policy, production))}
    if any(sv is None for sv in served.values()):
        primary = served.get(production) if production is not None else None
        if old is not None or primary is None or production is None:
            return None  # keep serving what we served
        # nothing served yet (a fresh server): answer with production alone rather than not at all
        return build_table(name, RoutingPolicy(), production, {production: primary}, None, revision)
    loaded = {v: sv for v, sv in served.items() if sv is not None}
    shadow = load(name, policy.shadow) if policy.shadow is not None else None
    if old is not None and _same(old, production, policy, shadow, loaded):
        return old if old.revision == revision else replace(old, revision=revision)
    return build_table(name, policy, production, loaded, shadow, revision)


def _routed(policy: RoutingPolicy, production: int | None) -> set[int]:
    """The versions live traffic goes to (the shadow is loaded on its own: its failure never blocks)."""
    needed = {production} if production is not None and not policy.ab else set()
    needed |= {v for v, _ in policy.ab}
    if policy.canary is not None:
        needed.add(policy.canary)
    return needed


def _same(
    old: RouteTable,
    production: int | None,
    policy: RoutingPolicy,
    shadow: ServedVersion | None,
    served: dict[int, ServedVersion],
) -> bool:
    """Whether ``old`` routes exactly as a new table would, over the very same loaded versions."""
    return (
        old.production == production
        and old.policy == policy
        and old.shadow is shadow
        and all(served.get(r.served.number) is r.served for r in old.routes)
    )


def describe_routes(tables: Mapping[str, RouteTable]) -> dict[str, dict[str, Any]]:
    """Per model: its production version, routes with their percent of rows, routing key, shadow, revision."""
    models: dict[str, dict[str, Any]] = {}
    for name, t in sorted(tables.items()):
        prev = 0.0
        routes = []
        for r in t.routes:
            share = round((r.upper - prev) * 100, 4)
            routes.append({"route": r.name, "version": r.served.number, "percent": share})
            prev = r.upper
        models[name] = {
            "production": t.production,
            "routes": routes,
            "key": t.policy.key,
            "shadow": t.shadow.number if t.shadow else None,
            "revision": t.revision,
        }
    return models
