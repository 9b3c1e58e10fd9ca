"""Routing policies: which versions of a model take live traffic besides ``production``, and how much.

A policy is either a canary (one version takes ``weight`` percent of rows) or an A/B split (two or more
versions share all traffic by weight, sticky by a request key), plus optionally a shadow version that sees a
copy of the traffic and whose answers are logged, never returned. Policies live in the metadata store;
every change is an event (``routing.set`` / ``routing.cleared``) written in the same transaction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mlfactory.entities import PRODUCTION, Event, VersionStatus
from mlfactory.errors import ConfigError, ConflictError, NotFoundError
from mlfactory.stores.metadata import MetadataStore
from mlfactory.stores.metadata.registry import archived_version

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$")


@dataclass(frozen=True, kw_only=True)
class RoutingPolicy:
    """How one model's traffic is split. Validates itself and round-trips to a dict.

    Args:
        canary: version that takes ``canary_weight`` percent of rows (the rest go to ``production``).
        canary_weight: percent of rows, in (0, 100].
        ab: (version, weight percent) pairs sharing all traffic; weights sum to 100.
        key: request field whose value makes the assignment sticky (required for A/B, optional for a
            canary); rows without it are assigned at random.
        shadow: version that sees a copy of every request; its answers are only logged.
    """

    canary: int | None = None
    canary_weight: float = 0.0
    ab: tuple[tuple[int, float], ...] = field(default_factory=tuple)
    key: str | None = None
    shadow: int | None = None

    def __post_init__(self) -> None:
        if self.canary is not None and self.ab:
            raise ConfigError("a model takes either a canary or an A/B split, not both; clear one first")
        if self.canary is not None and not 0 < self.canary_weight <= 100:
            raise ConfigError(f"canary weight must be a percent in (0, 100], got {self.canary_weight}")
        if self.ab:
            versions = [v for v, _ in self.ab]
            if len(self.ab) < 2 or len(set(versions)) != len(versions):
                raise ConfigError(f"an A/B split needs two or more distinct versions, got {versions}")
            if any(w <= 0 for _, w in self.ab) or abs(sum(w for _, w in self.ab) - 100) > 1e-6:
                raise ConfigError(
                    f"A/B weights must be positive and sum to 100, got {[w for _, w in self.ab]}"
                )
            if not self.key:
                raise ConfigError(
                    "an A/B split needs --key: the request field that keeps each user on one variant"
                )
        if self.key is not None and not _KEY.match(self.key):
            raise ConfigError(
                f"routing key '{self.key}' must be a field name (letters, digits, '_', '.', '-')"
            )

    @property
    def empty(self) -> bool:
        return self.canary is None and not self.ab and self.shadow is None

    def versions(self) -> set[int]:
        """Every version this policy sends traffic (or a shadow copy) to."""
        out = {v for v, _ in self.ab}
        out.update(v for v in (self.canary, self.shadow) if v is not None)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "canary": self.canary,
            "canary_weight": self.canary_weight,
            "ab": [[v, w] for v, w in self.ab],
            "key": self.key,
            "shadow": self.shadow,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RoutingPolicy:
        """A stored policy; ConfigError naming the policy when a stored value has the wrong type (a policy
        edited by hand), so a server keeps its routes and reports it instead of failing its refresh."""
        if not data:
            return cls()
        try:
            weight = float(data.get("canary_weight") or 0.0)
            ab = tuple((int(v), float(w)) for v, w in data.get("ab") or ())
        except (TypeError, ValueError):
            raise ConfigError(
                f"stored routing policy {data!r} has a non-numeric canary_weight or A/B variant; "
                "set it again with `mlfactory deploy`"
            ) from None
        return cls(
            canary=data.get("canary"),
            canary_weight=weight,
            ab=ab,
            key=data.get("key"),
            shadow=data.get("shadow"),
        )


def parse_variants(text: str) -> list[tuple[int, float]]:
    """``"6:50,7:50"`` → ``[(6, 50.0), (7, 50.0)]``, with an error naming the bad part."""
    out = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        version, sep, weight = part.partition(":")
        try:
            out.append((int(version), float(weight)))
        except ValueError:
            raise ConfigError(
                f"cannot read A/B variant '{part}'; write VERSION:WEIGHT, e.g. 6:50,7:50"
            ) from None
        if not sep:
            raise ConfigError(f"A/B variant '{part}' lacks a weight; write VERSION:WEIGHT, e.g. 6:50,7:50")
    return out


def current_policy(metadata: MetadataStore, name: str) -> RoutingPolicy:
    """The stored policy of a model (an empty one when none is set)."""
    return RoutingPolicy.from_dict(metadata.get_routing_policies(name).get(name))


def _check_version(metadata: MetadataStore, name: str, version: int, force: bool, role: str) -> None:
    mv = metadata.get_model_version(name, version)  # NotFoundError names the known versions
    if mv.archived:
        raise archived_version(mv.ref, mv.archive_reason, f"take {role} traffic")
    if mv.status == VersionStatus.REJECTED and not force:
        raise ConflictError(
            f"{mv.ref} was rejected by its gates; it cannot take {role} traffic. Pass --force to override"
        )


def _store(metadata: MetadataStore, name: str, policy: RoutingPolicy, actor: str, reason: str) -> Event:
    return metadata.set_routing_policy(
        name, None if policy.empty else policy.to_dict(), actor=actor, reason=reason
    )


def deploy_canary(
    metadata: MetadataStore,
    name: str,
    version: int,
    *,
    weight: float,
    actor: str,
    reason: str = "",
    key: str | None = None,
    force: bool = False,
) -> Event:
    """Send ``weight`` percent of ``name``'s rows to ``version``; the rest stay on ``production``."""
    _check_version(metadata, name, version, force, "canary")
    if (name, PRODUCTION) not in metadata.get_aliases(name):
        raise ConflictError(
            f"model '{name}' has no '{PRODUCTION}' alias for the rest of the traffic; "
            f"promote a version first with `mlfactory models promote {name} VERSION`"
        )
    old = current_policy(metadata, name)
    if old.ab:
        raise ConflictError(
            f"model '{name}' has an A/B split; clear it first with `mlfactory deploy clear {name}`"
        )
    new = RoutingPolicy(canary=version, canary_weight=weight, key=key, shadow=old.shadow)
    return _store(metadata, name, new, actor, reason)


def deploy_ab(
    metadata: MetadataStore,
    name: str,
    variants: Sequence[tuple[int, float]],
    *,
    key: str,
    actor: str,
    reason: str = "",
    force: bool = False,
) -> Event:
    """Split all of ``name``'s traffic between versions by weight, sticky by the request field ``key``."""
    for version, _ in variants:
        _check_version(metadata, name, version, force, "A/B")
    old = current_policy(metadata, name)
    if old.canary is not None:
        raise ConflictError(
            f"model '{name}' has a canary; clear it first with `mlfactory deploy clear {name}`"
        )
    new = RoutingPolicy(ab=tuple((int(v), float(w)) for v, w in variants), key=key, shadow=old.shadow)
    return _store(metadata, name, new, actor, reason)


def deploy_shadow(
    metadata: MetadataStore,
    name: str,
    version: int | None,
    *,
    actor: str,
    reason: str = "",
    force: bool = True,
) -> Event:
    """Give ``version`` a copy of ``name``'s traffic (None stops the shadow). Rejected versions may shadow."""
    if version is not None:
        _check_version(metadata, name, version, force, "shadow")
    old = current_policy(metadata, name)
    new = RoutingPolicy(
        canary=old.canary, canary_weight=old.canary_weight, ab=old.ab, key=old.key, shadow=version
    )
    return _store(metadata, name, new, actor, reason)


def deploy_clear(metadata: MetadataStore, name: str, *, actor: str, reason: str = "") -> Event:
    """Remove canary, A/B split and shadow: all traffic goes to ``production`` again."""
    if name not in metadata.get_routing_policies(name):
        metadata.list_model_versions(name)  # unknown model → NotFoundError
        raise NotFoundError(f"model '{name}' has no routing policy to clear")
    return metadata.set_routing_policy(name, None, actor=actor, reason=reason)


def deploy_status(metadata: MetadataStore, name: str) -> dict[str, Any]:
    """A model's aliases, routing policy and the share of traffic each version gets."""
    metadata.list_model_versions(name)  # unknown model → NotFoundError
    aliases = {a: v for (_, a), v in metadata.get_aliases(name).items()}
    policy = current_policy(metadata, name)
    production = aliases.get(PRODUCTION)
    shares: dict[str, float] = {}
    if policy.ab:
        shares = {f"v{v}": w for v, w in policy.ab}
    elif production is not None:
        shares = {f"v{production}": 100.0 - (policy.canary_weight if policy.canary is not None else 0.0)}
        if policy.canary is not None:
            shares[f"v{policy.canary}"] = shares.get(f"v{policy.canary}", 0.0) + policy.canary_weight
    return {
        "model": name,
        "aliases": aliases,
        "policy": policy.to_dict(),
        "traffic_percent": shares,
        "shadow": policy.shadow,
    }
