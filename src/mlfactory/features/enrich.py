"""Serving-side lookup: complete request rows with a model's features from the online store.

A request carries the entity keys (and request-time values); :func:`enrich` fetches every view of the model's
feature service in one batch per view (one round trip on Redis for all views), gives each row a status
(``present``, ``not_found``, ``stale`` beyond the view's TTL), and applies the model's policy: ``reject``
raises a ValidationError naming the rows, ``defaults`` fills the views' declared defaults (missing ones
become null, which the model's imputer handles).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlfactory.errors import ValidationError
from mlfactory.features.online.base import OnlineStore, entity_key
from mlfactory.features.spec import ServiceSpec

PRESENT, NOT_FOUND, STALE = "present", "not_found", "stale"


@dataclass(frozen=True)
class Lookup:
    """Features per column for every row, each row's status, and per-view statuses of problem rows."""

    columns: dict[str, list[Any]]
    statuses: list[str]
    problems: dict[int, dict[str, str]]


def _key_column(columns: Mapping[str, Sequence[Any]], name: str, n: int) -> Sequence[Any]:
    col = columns.get(name)
    if col is None:
        raise ValidationError(
            f"requests to this model must carry the entity key '{name}' (the feature store looks features "
            "up by it); add it to every row",
            [f"missing column '{name}'"],
        )
    if len(col) != n:
        raise ValidationError(f"column '{name}' has {len(col)} values for {n} rows")
    return col


def lookup(
    spec: ServiceSpec,
    online: OnlineStore,
    columns: Mapping[str, Sequence[Any]],
    n_rows: int,
    *,
    now: float | None = None,
    on_missing: str | None = None,
) -> Lookup:
    """Look up a service's features for ``n_rows`` request rows given as columns.

    Args:
        spec: the model's feature service (from its signature).
        online: the online store.
        columns: request values by column; must include every join key.
        n_rows: number of rows.
        now: current time in seconds since the epoch, for staleness (default: the clock).
        on_missing: ``reject`` or ``defaults``; the spec's policy when None.

    Raises:
        ValidationError: a join key is missing, or (``reject``) some row's entity is unknown or stale.
    """
    policy = on_missing or spec.on_missing
    now_us = int((time.time() if now is None else now) * 1_000_000)
    keys: dict[tuple[str, ...], list[str]] = {}
    for view in spec.views:
        if view.join_keys not in keys:
            cols = [_key_column(columns, k, n_rows) for k in view.join_keys]
            keys[view.join_keys] = [entity_key(v) for v in zip(*cols, strict=True)]
    out: dict[str, list[Any]] = {f: [None] * n_rows for f in spec.features}
    statuses = [PRESENT] * n_rows
    problems: dict[int, dict[str, str]] = {}
    groups: dict[tuple[str, ...], list[str]] = {}
    for view in spec.views:
        groups.setdefault(view.join_keys, []).append(view.name)
    fetched: dict[str, list[Any]] = {}
    for jk, names in groups.items():
        fetched.update(online.read_views(names, keys[jk]))
    for view in spec.views:
        ttl_us = None if view.ttl_seconds is None else int(view.ttl_seconds * 1_000_000)
        for i, rec in enumerate(fetched[view.name]):
            status = (
                NOT_FOUND
                if rec is None
                else (STALE if ttl_us is not None and now_us - rec.event_us > ttl_us else PRESENT)
            )
            if status == PRESENT:
                for f in view.features:
                    out[f][i] = rec.values.get(f)
                continue
            problems.setdefault(i, {})[view.name] = status
            if statuses[i] != NOT_FOUND:
                statuses[i] = status
            for f in view.features:
                out[f][i] = view.defaults.get(f)
    if problems and policy == "reject":
        raise ValidationError(_reject_message(spec, problems, keys), _reasons(problems))
    return Lookup(out, statuses, problems)


def _reasons(problems: dict[int, dict[str, str]]) -> list[str]:
    return [
        f"row {i}: " + ", ".join(f"{v} {s.replace('_', ' ')}" for v, s in p.items())
        for i, p in sorted(problems.items())
    ]


def _reject_message(
    spec: ServiceSpec, problems: dict[int, dict[str, str]], keys: dict[tuple[str, ...], list[str]]
) -> str:
    views = {v.name: v for v in spec.views}
    shown = []
    for i, per in sorted(problems.items())[:5]:
        parts = []
        for name, status in per.items():
            jk = views[name].join_keys
            parts.append(f"{'/'.join(jk)}={keys[jk][i]!r} is {status.replace('_', ' ')} in view '{name}'")
        shown.append(f"row {i}: " + "; ".join(parts))
    more = f" (and {len(problems) - 5} more rows)" if len(problems) > 5 else ""
    return (
        f"{len(problems)} row(s) lack online features of service '{spec.name}': "
        + " | ".join(shown)
        + more
        + ". Run `mlfactory features materialize`, check the keys, or set the model's on_missing_features: "
        "defaults to use declared defaults"
    )


def enrich_records(
    records: Sequence[Mapping[str, Any]],
    spec: ServiceSpec,
    online: OnlineStore,
    *,
    now: float | None = None,
    on_missing: str | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Records completed with their features (request values win on a name clash), and each row's status."""
    n = len(records)
    needed = spec.join_keys
    columns = {k: [r.get(k) if k in r else _missing_key(k, i) for i, r in enumerate(records)] for k in needed}
    found = lookup(spec, online, columns, n, now=now, on_missing=on_missing)
    out = []
    for i, r in enumerate(records):
        row = {f: vals[i] for f, vals in found.columns.items()}
        row.update(r)
        out.append(row)
    return out, found.statuses


def _missing_key(name: str, row: int) -> Any:
    raise ValidationError(
        f"row {row} lacks the entity key '{name}' that the model's feature service looks features up by; "
        "add it to every row",
        [f"row {row}: missing '{name}'"],
    )
