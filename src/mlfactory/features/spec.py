"""What serving needs to know about a model's feature service, stored in the model version's signature.

The server never runs project code: it reads this spec (join keys, features and their types, TTLs, defaults,
code versions) from the signature and looks the values up in the online store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlfactory.features.definitions import FeatureService

ON_MISSING = ("reject", "defaults")


@dataclass(frozen=True, kw_only=True)
class ViewSpec:
    """One view as a model uses it."""

    name: str
    join_keys: tuple[str, ...]
    features: dict[str, str]
    ttl_seconds: float | None
    defaults: dict[str, Any]
    code_version: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "join_keys": list(self.join_keys),
            "features": dict(self.features),
            "ttl_seconds": self.ttl_seconds,
            "defaults": dict(self.defaults),
            "code_version": self.code_version,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ViewSpec:
        return cls(
            name=d["name"],
            join_keys=tuple(d["join_keys"]),
            features=dict(d["features"]),
            ttl_seconds=d.get("ttl_seconds"),
            defaults=dict(d.get("defaults") or {}),
            code_version=d["code_version"],
        )


@dataclass(frozen=True, kw_only=True)
class ServiceSpec:
    """A feature service as recorded with a model version."""

    name: str
    views: tuple[ViewSpec, ...]
    on_missing: str = "reject"
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, service: FeatureService, on_missing: str = "reject") -> ServiceSpec:
        views = []
        for sel in service.selections():
            v = sel.view
            views.append(
                ViewSpec(
                    name=v.name,
                    join_keys=v.join_keys,
                    features={n: v.features[n] for n in sel.names},
                    ttl_seconds=v.ttl_seconds,
                    defaults={n: v.defaults[n] for n in sel.names if n in v.defaults},
                    code_version=v.code_version,
                )
            )
        return cls(name=service.name, views=tuple(views), on_missing=on_missing)

    @property
    def join_keys(self) -> list[str]:
        """Every join key any view needs, in first-seen order."""
        return list(dict.fromkeys(k for v in self.views for k in v.join_keys))

    @property
    def features(self) -> dict[str, str]:
        """Feature name -> type, across views."""
        return {n: t for v in self.views for n, t in v.features.items()}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "on_missing": self.on_missing, "views": [v.to_dict() for v in self.views]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ServiceSpec:
        return cls(
            name=d["name"],
            on_missing=d.get("on_missing", "reject"),
            views=tuple(ViewSpec.from_dict(v) for v in d["views"]),
        )

    @classmethod
    def from_signature(cls, signature: dict[str, Any]) -> ServiceSpec | None:
        """The spec a model version was trained with, or None when it uses no feature service."""
        raw = signature.get("feature_service")
        return cls.from_dict(raw) if raw else None
