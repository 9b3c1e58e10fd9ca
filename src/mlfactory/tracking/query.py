"""Filtering and comparing runs with small expressions like ``metrics.f1 > 0.9 and params.C = 1``."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from typing import Any

from mlfactory.entities import Run
from mlfactory.errors import ConfigError

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "!=": operator.ne,
    "=": operator.eq,
    "==": operator.eq,
    ">": operator.gt,
    "<": operator.lt,
}
_CLAUSE = re.compile(
    r"^\s*(metrics|params|tags|status|name|dataset)(?:\.([\w.\-/]+))?\s*(>=|<=|!=|==|=|>|<)\s*(.+?)\s*$"
)


def _value(run: Run, field: str, key: str | None) -> Any:
    if field == "metrics":
        return run.metrics.get(key or "")
    if field == "params":
        return run.params.get(key or "")
    if field == "tags":
        return run.tags.get(key or "")
    if field == "status":
        return run.status.value
    if field == "dataset":
        return run.dataset_id
    return run.name


def _coerce(raw: str, current: Any) -> Any:
    raw = raw.strip("'\"")
    if isinstance(current, bool):
        return raw.lower() in ("true", "1", "yes")
    if isinstance(current, int | float):
        try:
            return float(raw)
        except ValueError:
            return raw
    return raw


def filter_runs(runs: Sequence[Run], expression: str) -> list[Run]:
    """Keep the runs matching every ``field[.key] op value`` clause joined by ``and``.

    Fields: ``metrics.KEY``, ``params.KEY``, ``tags.KEY``, ``status``, ``name``, ``dataset``. Runs missing
    the key do not match.
    """
    clauses = []
    for part in re.split(r"\s+and\s+", expression.strip(), flags=re.IGNORECASE):
        match = _CLAUSE.match(part)
        if not match:
            raise ConfigError(
                f"cannot read filter clause '{part}'; write e.g. \"metrics.accuracy >= 0.9 and params.C = 1 "
                'and status = finished" (fields: metrics.*, params.*, tags.*, status, name, dataset)'
            )
        clauses.append(match.groups())
    kept = []
    for run in runs:
        ok = True
        for field, key, op, raw in clauses:
            current = _value(run, field, key)
            if current is None:
                ok = False
                break
            try:
                ok = _OPS[op](current, _coerce(raw, current))
            except TypeError:
                ok = False
            if not ok:
                break
        if ok:
            kept.append(run)
    return kept


def compare_runs(runs: Sequence[Run]) -> dict[str, dict[str, Any]]:
    """Rows of params and metrics (``params.X``, ``metrics.Y``) → value per run id, side by side."""
    rows: dict[str, dict[str, Any]] = {}
    for run in runs:
        for k, v in run.params.items():
            rows.setdefault(f"params.{k}", {})[run.id] = v
        for k, v in run.metrics.items():
            rows.setdefault(f"metrics.{k}", {})[run.id] = v
    return dict(sorted(rows.items()))
