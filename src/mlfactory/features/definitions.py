"""Declarative feature objects: entities, feature views and feature services.

They are keyword-only, validate themselves on construction, and round-trip to dicts (a view's function is
recorded by its code version, the SHA-256 of its source, not by value). A view's ``code_version`` changes
whenever its function's source or any of its settings changes, so lineage can say which feature code a model
was trained with.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pandas as pd

from mlfactory.errors import ConfigError

FEATURE_TYPES = ("number", "integer", "boolean", "category", "text")
RESERVED = frozenset({"_event_ts", "_created_ts", "_avail", "_ord", "_best", "_rid", "_label_ts"})
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TTL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
FeatureFunction = Callable[[pd.DataFrame], pd.DataFrame]


def _check_name(kind: str, name: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"{kind} name {name!r} is not valid; use letters, digits and underscores, "
            "not starting with a digit"
        )
    if name in RESERVED:
        raise ConfigError(f"{kind} name {name!r} is reserved for internal columns; choose another name")


def parse_ttl(value: str | int | float | timedelta | None) -> timedelta | None:
    """A time-to-live from ``"30d"``, ``"12h"``, ``"15m"``, ``"45s"``, ``"2w"``, seconds or a timedelta.

    Args:
        value: the TTL as written; None means values never expire.

    Returns:
        The TTL, or None.

    Raises:
        ConfigError: the value is not one of the accepted forms or is not positive.
    """
    if value is None or isinstance(value, timedelta):
        ttl = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        ttl = timedelta(seconds=float(value))
    elif isinstance(value, str) and (m := _TTL.match(value)):
        ttl = timedelta(**{_UNITS[m.group(2)]: float(m.group(1))})
    else:
        raise ConfigError(
            f"ttl {value!r} is not understood; write a number with a unit (e.g. '30d', '12h', '15m', '45s', "
            "'2w'), a number of seconds, or None for values that never expire"
        )
    if ttl is not None and ttl <= timedelta(0):
        raise ConfigError(f"ttl {value!r} must be positive; use None for values that never expire")
    return ttl


@dataclass(frozen=True, kw_only=True)
class Entity:
    """What features describe (a customer, a sender domain), identified by one or more join keys."""

    name: str
    join_keys: tuple[str, ...]
    description: str = ""

    def __post_init__(self) -> None:
        _check_name("entity", self.name)
        keys = (self.join_keys,) if isinstance(self.join_keys, str) else tuple(self.join_keys)
        if not keys:
            raise ConfigError(
                f"entity '{self.name}' needs at least one join key, e.g. join_keys=['customer_id']"
            )
        for key in keys:
            _check_name(f"entity '{self.name}' join key", key)
        if len(set(keys)) != len(keys):
            raise ConfigError(f"entity '{self.name}' lists a join key twice: {list(keys)}")
        object.__setattr__(self, "join_keys", keys)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "join_keys": list(self.join_keys), "description": self.description}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Entity:
        return cls(
            name=data["name"], join_keys=tuple(data["join_keys"]), description=data.get("description", "")
        )


def _source_of(fn: FeatureFunction) -> str:
    """The function's source; its bytecode and constants when the source cannot be read (a shell session)."""
    try:
        return textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None)
        if code is None:
            return repr(fn)
        return str(code.co_code.hex() + repr(code.co_consts) + repr(code.co_names))


@dataclass(frozen=True, kw_only=True)
class FeatureView:
    """Named features of an entity, computed from one source by one function used offline and online.

    Without a function the view takes the ``features`` columns from the source as they are. With one, the
    function receives the source's dataset as a DataFrame and returns one row per entity and event time: the
    join keys, the ``timestamp`` column (when the values became true), optionally ``created_timestamp`` (when
    they were written; a backfill has a late one), and every declared feature.

    ``per_entity=True`` declares that the function computes each entity's rows from the source rows with that
    entity's join key values alone (no totals, ranks or time spans over all entities): then a large source
    may be split by entity across the project's compute workers, with the same result. It is checked before
    each split, and a view that is not per entity runs in one process (the default).
    """

    name: str
    entity: Entity
    source: str
    timestamp: str
    features: Mapping[str, str]
    ttl: timedelta | None = None
    function: FeatureFunction | None = field(default=None, compare=False, repr=False)
    created_timestamp: str | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    per_entity: bool = False  # how it may be computed, not what: not part of the code version
    code_version: str = field(default="", init=False)

    def __post_init__(self) -> None:
        _check_name("feature view", self.name)
        if not isinstance(self.entity, Entity):
            raise ConfigError(
                f"feature view '{self.name}': entity must be an Entity, got {type(self.entity).__name__}"
            )
        if not isinstance(self.source, str) or not self.source:
            raise ConfigError(f"feature view '{self.name}' needs the name of a source from the project file")
        _check_name(f"feature view '{self.name}' timestamp column", self.timestamp)
        if self.created_timestamp is not None:
            _check_name(f"feature view '{self.name}' created_timestamp column", self.created_timestamp)
        object.__setattr__(self, "ttl", parse_ttl(self.ttl))
        self._check_features()
        if self.function is not None and not callable(self.function):
            raise ConfigError(f"feature view '{self.name}': function must be callable")
        object.__setattr__(self, "code_version", self._hash())

    def _check_features(self) -> None:
        if isinstance(self.features, Sequence) and not isinstance(self.features, str):
            raise ConfigError(
                f"feature view '{self.name}': declare features as a mapping of name to type, e.g. "
                f"{{'orders_7d': 'integer'}}; types: {', '.join(FEATURE_TYPES)}"
            )
        feats = dict(self.features)
        if not feats:
            raise ConfigError(f"feature view '{self.name}' declares no features; add at least one")
        taken = {*self.entity.join_keys, self.timestamp, self.created_timestamp}
        for name, kind in feats.items():
            _check_name(f"feature view '{self.name}' feature", name)
            if name in taken:
                raise ConfigError(
                    f"feature view '{self.name}': feature '{name}' has the name of a join key or timestamp "
                    "column; rename the feature"
                )
            if kind not in FEATURE_TYPES:
                raise ConfigError(
                    f"feature view '{self.name}': feature '{name}' has type {kind!r}; allowed: "
                    f"{', '.join(FEATURE_TYPES)}"
                )
        unknown = sorted(set(self.defaults) - set(feats))
        if unknown:
            raise ConfigError(f"feature view '{self.name}': defaults for undeclared features {unknown}")
        object.__setattr__(self, "features", feats)
        object.__setattr__(self, "defaults", dict(self.defaults))

    def _hash(self) -> str:
        h = hashlib.sha256(json.dumps(self._settings(), sort_keys=True, default=str).encode())
        if self.function is not None:
            h.update(_source_of(self.function).encode())
        return h.hexdigest()[:16]

    def _settings(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "entity": self.entity.to_dict(),
            "source": self.source,
            "timestamp": self.timestamp,
            "created_timestamp": self.created_timestamp,
            "features": dict(self.features),
            "ttl_seconds": self.ttl_seconds,
            "defaults": dict(self.defaults),
            "description": self.description,
            "function": getattr(self.function, "__qualname__", None),
        }

    @property
    def ttl_seconds(self) -> float | None:
        return None if self.ttl is None else self.ttl.total_seconds()

    @property
    def join_keys(self) -> tuple[str, ...]:
        return self.entity.join_keys

    def select(self, *names: str) -> FeatureSelection:
        """Some of this view's features, for a service that needs only those."""
        unknown = [n for n in names if n not in self.features]
        if unknown or not names:
            raise ConfigError(
                f"feature view '{self.name}' has no feature(s) {unknown or '(none named)'}; it has "
                f"{', '.join(self.features)}"
            )
        return FeatureSelection(view=self, names=tuple(names))

    def to_dict(self) -> dict[str, Any]:
        """Everything but the function itself, plus its code version."""
        return {**self._settings(), "per_entity": self.per_entity, "code_version": self.code_version}


@dataclass(frozen=True, kw_only=True)
class FeatureSelection:
    """A view and the names of the features taken from it."""

    view: FeatureView
    names: tuple[str, ...]


def feature_view(
    *,
    entity: Entity,
    source: str,
    timestamp: str,
    features: Mapping[str, str],
    ttl: str | int | float | timedelta | None = None,
    name: str | None = None,
    created_timestamp: str | None = None,
    defaults: Mapping[str, Any] | None = None,
    description: str = "",
    per_entity: bool = False,
) -> Callable[[FeatureFunction], FeatureView]:
    """Decorate a function ``(source_frame) -> feature_frame`` to make it a :class:`FeatureView`.

    The view is named after the function unless ``name`` is given; its docstring is the description.
    """

    def wrap(fn: FeatureFunction) -> FeatureView:
        return FeatureView(
            name=name or fn.__name__,
            entity=entity,
            source=source,
            timestamp=timestamp,
            features=features,
            ttl=ttl,  # type: ignore[arg-type]  # parsed in __post_init__
            function=fn,
            created_timestamp=created_timestamp,
            defaults=dict(defaults or {}),
            description=description or inspect.getdoc(fn) or "",
            per_entity=per_entity,
        )

    return wrap


@dataclass(frozen=True, kw_only=True)
class FeatureService:
    """The named set of features a model uses, drawn from one or more views."""

    name: str
    features: tuple[FeatureView | FeatureSelection, ...]
    description: str = ""

    def __post_init__(self) -> None:
        _check_name("feature service", self.name)
        items = tuple(self.features)
        if not items:
            raise ConfigError(f"feature service '{self.name}' lists no feature views; add at least one")
        seen: dict[str, str] = {}
        views: set[str] = set()
        for item in items:
            if not isinstance(item, FeatureView | FeatureSelection):
                raise ConfigError(
                    f"feature service '{self.name}': {item!r} is not a feature view; list views or "
                    "view.select('feature', …)"
                )
            view = item if isinstance(item, FeatureView) else item.view
            if view.name in views:
                raise ConfigError(f"feature service '{self.name}' lists view '{view.name}' twice")
            views.add(view.name)
            for feat in view.features if isinstance(item, FeatureView) else item.names:
                if feat in seen:
                    raise ConfigError(
                        f"feature service '{self.name}': feature '{feat}' comes from both '{seen[feat]}' and "
                        f"'{view.name}'; rename one of them or take it from one view with view.select(…)"
                    )
                seen[feat] = view.name
        object.__setattr__(self, "features", items)

    def selections(self) -> list[FeatureSelection]:
        """Each view with the feature names taken from it."""
        return [
            i if isinstance(i, FeatureSelection) else FeatureSelection(view=i, names=tuple(i.features))
            for i in self.features
        ]

    @property
    def feature_names(self) -> list[str]:
        return [n for s in self.selections() for n in s.names]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "views": [{"view": s.view.name, "features": list(s.names)} for s in self.selections()],
        }
