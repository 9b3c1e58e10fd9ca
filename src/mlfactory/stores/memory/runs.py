"""Training runs in memory, with run filters evaluated as :func:`mlfactory.tracking.filter_runs` does."""

from __future__ import annotations

import operator
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from mlfactory.entities import Metric, Run, RunClause, RunStatus
from mlfactory.errors import ConflictError, NotFoundError
from mlfactory.stores.memory.base import MemoryBase, RunRow, copied, now
from mlfactory.stores.metadata.runs import check_run_sort

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def _latest(metrics: list[Metric]) -> dict[str, float]:
    latest: dict[str, float] = {}
    for m in sorted(metrics, key=lambda m: m.step):  # stable: among equal steps the last logged wins
        latest[m.key] = m.value
    return latest


def _coerce(raw: str, current: Any) -> Any:
    if isinstance(current, bool):
        return raw.lower() in ("true", "1", "yes")
    if isinstance(current, int | float):
        try:
            return float(raw)
        except ValueError:
            return raw
    return raw


def holds(run: Run, clause: RunClause) -> bool:
    """Whether a loaded run satisfies one clause: the semantics the SQL stores compile (the contract suite
    checks all three against ``filter_runs``, which the tracking package owns a floor above)."""
    if clause.field in ("metrics", "params", "tags"):
        current = getattr(run, clause.field).get(clause.key or "")
    elif clause.field == "dataset":
        current = run.dataset_id
    elif clause.field == "status":
        current = run.status.value
    else:
        current = run.name
    if current is None:
        return False
    try:
        return bool(_OPS[clause.op](current, _coerce(clause.value.strip("'\""), current)))
    except TypeError:  # e.g. a list against text: only != can hold, and operator.ne never raises
        return False


def _ordered(runs: list[Run], sort: str, descending: bool) -> list[Run]:
    """Runs given newest first (ties by id) in the order the SQL stores give them for ``sort``."""
    check_run_sort(sort)
    if sort == "started":
        return runs if descending else sorted(sorted(runs, key=lambda r: r.id), key=lambda r: r.started_at)
    key: Callable[[Run], str] = (lambda r: r.name) if sort == "name" else (lambda r: r.status.value)
    return sorted(runs, key=key, reverse=descending)  # stable: ties keep the newest-first order


def _page(runs: list[Run], offset: int, limit: int | None) -> list[Run]:
    return runs[offset : offset + limit] if limit else runs[offset:]


class MemoryRuns(MemoryBase):
    """Training runs with params, metrics, tags and artifacts."""

    def create_run(
        self,
        name: str,
        *,
        params: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
        environment: dict[str, Any] | None = None,
        dataset_id: str | None = None,
    ) -> str:
        run_id = uuid.uuid4().hex
        run = Run(
            id=run_id,
            name=name,
            status=RunStatus.RUNNING,
            started_at=now(),
            ended_at=None,
            params=copied(params or {}),
            tags=dict(tags or {}),
            environment=copied(environment or {}),
            dataset_id=dataset_id,
        )
        with self._lock:
            self._runs[run_id] = RunRow(run)
        return run_id

    def _row(self, run_id: str) -> RunRow:
        row = self._runs.get(run_id)
        if row is None:
            raise NotFoundError(f"no run '{run_id}'")
        return row

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        with self._lock:
            row = self._row(run_id)
            row.run = replace(row.run, params={**row.run.params, **copied(params)})

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        with self._lock:
            row = self._row(run_id)
            row.run = replace(row.run, tags={**row.run.tags, **tags})

    def log_metrics(self, run_id: str, metrics: Sequence[Metric]) -> None:
        if not metrics:
            return
        values = [Metric(m.key, float(m.value), int(m.step), float(m.timestamp)) for m in metrics]
        with self._lock:
            self._row(run_id).metrics.extend(values)

    def log_artifact(self, run_id: str, name: str, digest: str) -> None:
        with self._lock:
            self._row(run_id).artifacts[name] = digest

    def end_run(self, run_id: str, status: RunStatus, error: str | None = None) -> None:
        with self._lock:
            row = self._runs.get(run_id)
            if row is not None:  # as an UPDATE of no row: nothing to do
                row.run = replace(row.run, status=status, ended_at=now(), error=error)

    def _loaded(self, rows: Sequence[RunRow]) -> list[Run]:
        return [replace(copied(r.run), metrics=_latest(r.metrics), artifacts=dict(r.artifacts)) for r in rows]

    def get_run(self, run_id: str) -> Run:
        with self._lock:
            if run_id in self._runs:
                return self._loaded([self._runs[run_id]])[0]
            rows = [r for i, r in self._runs.items() if i.startswith(run_id)]
            if len(rows) > 1:
                raise ConflictError(
                    f"run id prefix '{run_id}' matches {len(rows)} runs; give more characters"
                )
            if not rows:
                raise NotFoundError(f"no run '{run_id}'; `mlfactory runs list` shows them")
            return self._loaded(rows)[0]

    def _select(self, name: str | None, status: RunStatus | None, ids: set[str] | None) -> list[Run]:
        rows = [
            r
            for r in self._runs.values()
            if (name is None or r.run.name == name)
            and (status is None or r.run.status == status)
            and (ids is None or r.run.id in ids)
        ]
        rows.sort(key=lambda r: r.run.id)
        rows.sort(key=lambda r: r.run.started_at, reverse=True)  # newest first, ties by id
        return self._loaded(rows)

    def list_runs(
        self,
        *,
        name: str | None = None,
        status: RunStatus | None = None,
        limit: int | None = None,
        ids: Sequence[str] | None = None,
        offset: int = 0,
        sort: str = "started",
        descending: bool = True,
    ) -> list[Run]:
        with self._lock:
            runs = self._select(name, status, None if ids is None else set(ids))
        return _page(_ordered(runs, sort, descending), offset, limit)

    def find_runs(
        self,
        clauses: Sequence[RunClause],
        *,
        name: str | None = None,
        status: RunStatus | None = None,
        limit: int | None = None,
        offset: int = 0,
        sort: str = "started",
        descending: bool = True,
    ) -> list[Run]:
        with self._lock:
            runs = [r for r in self._select(name, status, None) if all(holds(r, c) for c in clauses)]
        return _page(_ordered(runs, sort, descending), offset, limit)

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        with self._lock:
            row = self._runs.get(run_id)
            values = [m for m in row.metrics if m.key == key] if row else []
        return sorted(values, key=lambda m: m.step)
