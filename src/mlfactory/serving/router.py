"""Route tables: for one model, which served versions take which share of the rows.

Assignment is per row. With a routing key (a request field such as ``user_id``), a row's share is a stable
hash of the model name and the key's value, so the same key always lands on the same version for as long as
the weights stay the same (sticky A/B); rows without a key are assigned at random by weight.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlfactory.registry.inputs import InputSpec
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
