"""Filtering and comparing runs with small expressions like ``metrics.f1 > 0.9 and params.C = 1``."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from typing import Any

from mlfactory.entities import Run, RunClause, RunStatus
from mlfactory.errors import ConfigError
from mlfactory.stores.metadata import MetadataStore

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


def _value(row: dict[str, Any], field: str, key: str | None) -> Any:
    if field in ("metrics", "params", "tags"):
        return row[field].get(key or "")
    if field == "dataset":
        return row["dataset_id"]
    return row[field]


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


def _parse(expression: str) -> list[RunClause]:
    clauses: list[RunClause] = []
    for part in re.split(r"\s+and\s+", expression.strip(), flags=re.IGNORECASE):
        match = _CLAUSE.match(part)
        if not match:
            raise ConfigError(
                f"cannot read filter clause '{part}'; write e.g. \"metrics.accuracy >= 0.9 and params.C = 1 "
                'and status = finished" (fields: metrics.*, params.*, tags.*, status, name, dataset)'
            )
        clauses.append(RunClause(*match.groups()))
    return clauses


def _matches(row: dict[str, Any], clauses: list[RunClause]) -> bool:
    for clause in clauses:
        current = _value(row, clause.field, clause.key)
        if current is None:
            return False
        try:
            if not _OPS[clause.op](current, _coerce(clause.value, current)):
                return False
        except TypeError:
            return False
    return True


def _row(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "name": run.name,
        "status": run.status.value,
        "dataset_id": run.dataset_id,
        "params": run.params,
        "tags": run.tags,
        "metrics": run.metrics,
    }


def filter_runs(runs: Sequence[Run], expression: str) -> list[Run]:
    """Keep the runs matching every ``field[.key] op value`` clause joined by ``and``.

    Fields: ``metrics.KEY`` (its latest value), ``params.KEY``, ``tags.KEY``, ``status``, ``name``,
    ``dataset``. Runs missing the key do not match.
    """
    clauses = _parse(expression)
    return [run for run in runs if _matches(_row(run), clauses)]


def search_runs(
    store: MetadataStore,
    expression: str,
    *,
    name: str | None = None,
    status: RunStatus | None = None,
    limit: int | None = None,
    offset: int = 0,
    sort: str = "started",
    descending: bool = True,
    include_archived: bool = False,
) -> list[Run]:
    """Runs matching ``expression`` (the same meaning as :func:`filter_runs`), newest first (or as ``sort``
    says), filtered, ordered and cut to a page by the database in the query that loads them; archived runs
    only when ``include_archived``."""
    return store.find_runs(
        _parse(expression),
        name=name,
        status=status,
        limit=limit,
        offset=offset,
        sort=sort,
        descending=descending,
        include_archived=include_archived,
    )


def compare_runs(runs: Sequence[Run]) -> dict[str, dict[str, Any]]:
    """Rows of params and metrics (``params.X``, ``metrics.Y``) → value per run id, side by side."""
    rows: dict[str, dict[str, Any]] = {}
    for run in runs:
        for k, v in run.params.items():
            rows.setdefault(f"params.{k}", {})[run.id] = v
        for k, v in run.metrics.items():
            rows.setdefault(f"metrics.{k}", {})[run.id] = v
    return dict(sorted(rows.items()))
