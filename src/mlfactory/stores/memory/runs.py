"""Training runs in memory, with run filters evaluated as :func:`mlfactory.tracking.filter_runs` does."""

from __future__ import annotations

import math
import operator
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from mlfactory.entities import Event, Metric, Run, RunClause, RunStatus
from mlfactory.errors import ConflictError, NotFoundError
from mlfactory.stores.memory.base import MemoryBase, RunRow, aware, copied, now
from mlfactory.stores.metadata.runs import METRIC_SORT, check_most, check_run_sort, resolve_run_id

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def _keep_latest(latest: dict[str, Metric], values: Sequence[Metric]) -> None:
    """Take each value as its key's latest unless the held one is later: a higher step, or of an equal step
    a later timestamp (of equal both, the one logged last wins, as the SQL stores' highest id does)."""
    for m in values:
        held = latest.get(m.key)
        if held is None or (m.step, m.timestamp) >= (held.step, held.timestamp):
            latest[m.key] = m


def _cut(values: list[Metric], most: int | None) -> list[Metric]:
    """At most ``most`` values: every ``ceil((n - 1) / (most - 1))``-th from the first, and the last (the
    rule :meth:`~mlfactory.stores.metadata.runs.RunsStore.metric_histories` states)."""
    if most is None or len(values) <= most:
        return values
    every = -(-(len(values) - 1) // (most - 1))
    return [m for i, m in enumerate(values) if i % every == 0 or i == len(values) - 1]


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


def _by_metric(runs: list[Run], metric: str, descending: bool) -> list[Run]:
    """Runs given newest first ordered by their latest ``metric`` (ties keep that order), then those whose
    latest is NaN, then those without it."""
    numbers = [r for r in runs if metric in r.metrics and not math.isnan(r.metrics[metric])]
    having = sorted(numbers, key=lambda r: r.metrics[metric], reverse=descending)
    nan = [r for r in runs if metric in r.metrics and math.isnan(r.metrics[metric])]
    return having + nan + [r for r in runs if metric not in r.metrics]


def _ordered(runs: list[Run], sort: str, descending: bool) -> list[Run]:
    """Runs given newest first (ties by id) in the order the SQL stores give them for ``sort``."""
    if check_run_sort(sort).startswith(METRIC_SORT):
        return _by_metric(runs, sort.removeprefix(METRIC_SORT), descending)
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
            row = self._row(run_id)
            row.metrics.extend(values)
            _keep_latest(row.latest, values)

    def log_artifact(self, run_id: str, name: str, digest: str) -> None:
        with self._lock:
            self._row(run_id).artifacts[name] = digest

    def end_run(self, run_id: str, status: RunStatus, error: str | None = None) -> None:
        with self._lock:
            row = self._runs.get(run_id)
            if row is not None:  # as an UPDATE of no row: nothing to do
                row.run = replace(row.run, status=status, ended_at=now(), error=error)

    def _loaded(self, rows: Sequence[RunRow]) -> list[Run]:
        return [
            replace(
                copied(r.run), metrics={k: m.value for k, m in r.latest.items()}, artifacts=dict(r.artifacts)
            )
            for r in rows
        ]

    def get_run(self, run_id: str) -> Run:
        return self.get_runs([run_id])[0]

    def get_runs(self, run_ids: Sequence[str]) -> list[Run]:
        with self._lock:
            named = {
                given: resolve_run_id(given, [given] if given in self._runs else self._ids_starting(given))
                for given in run_ids
            }
            loaded = {r.id: r for r in self._loaded([self._runs[i] for i in set(named.values())])}
        return [loaded[named[given]] for given in run_ids]

    def _ids_starting(self, prefix: str) -> list[str]:
        return [i for i in self._runs if i.startswith(prefix)]

    def _select(
        self, name: str | None, status: RunStatus | None, ids: set[str] | None, include_archived: bool
    ) -> list[Run]:
        rows = [
            r
            for r in self._runs.values()
            if (name is None or r.run.name == name)
            and (status is None or r.run.status == status)
            and (ids is None or r.run.id in ids)
            and (include_archived or r.run.archived_at is None)
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
        include_archived: bool = False,
    ) -> list[Run]:
        with self._lock:
            runs = self._select(name, status, None if ids is None else set(ids), include_archived)
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
        include_archived: bool = False,
    ) -> list[Run]:
        with self._lock:
            selected = self._select(name, status, None, include_archived)
            runs = [r for r in selected if all(holds(r, c) for c in clauses)]
        return _page(_ordered(runs, sort, descending), offset, limit)

    def unregistered_runs(self, *, started_before: datetime, limit: int | None = None) -> list[Run]:
        cut = aware(started_before)
        assert cut is not None
        with self._lock:
            trained = {v["run_id"] for rows in self._versions.values() for v in rows}
            ended = (RunStatus.FINISHED, RunStatus.FAILED)
            runs = [
                r
                for r in self._select(None, None, None, False)
                if r.started_at < cut and r.status in ended and r.id not in trained
            ]
        oldest = sorted(sorted(runs, key=lambda r: r.id), key=lambda r: r.started_at)
        return oldest[:limit] if limit else oldest

    def _rows(self, run_ids: Sequence[str]) -> list[RunRow]:
        """The stored rows of these runs (callers hold the lock); a NotFoundError naming the first missing."""
        missing = [i for i in run_ids if i not in self._runs]
        if missing:
            raise NotFoundError(f"no run '{missing[0]}'; `mlfactory runs list --archived` shows them")
        return [self._runs[i] for i in dict.fromkeys(run_ids)]

    def archive_runs(self, run_ids: Sequence[str], *, reason: str, actor: str) -> Event:
        with self._lock:
            rows = self._rows(run_ids)
            wanted = {r.run.id for r in rows}
            for name, versions in self._versions.items():
                for v in versions:
                    if v["run_id"] in wanted and v["archived_at"] is None:
                        raise ConflictError(
                            f"run {v['run_id']} trained {name}/{v['version']}, which is not archived: its "
                            "lineage needs the run; archive the version first"
                        )
            fresh = [r for r in rows if r.run.archived_at is None]
            for row in fresh:
                row.run = replace(row.run, archived_at=now(), archive_reason=reason)
            return self._insert_event(
                "runs.archived", actor, None, {"runs": [r.run.id for r in fresh]}, reason
            )

    def restore_runs(self, run_ids: Sequence[str], *, actor: str, reason: str = "") -> Event:
        with self._lock:
            archived = [r for r in self._rows(run_ids) if r.run.archived_at is not None]
            for row in archived:
                row.run = replace(row.run, archived_at=None, archive_reason=None)
            ids = [r.run.id for r in archived]
            return self._insert_event("runs.restored", actor, None, {"runs": ids}, reason)

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        return self.metric_histories([run_id], [key])[run_id][key]

    def metric_histories(
        self, run_ids: Sequence[str], keys: Sequence[str], *, most: int | None = None
    ) -> dict[str, dict[str, list[Metric]]]:
        check_most(most)
        with self._lock:
            logged = {r: list(self._runs[r].metrics) if r in self._runs else [] for r in run_ids}
        return {
            run_id: {
                key: _cut(
                    sorted((m for m in values if m.key == key), key=lambda m: (m.step, m.timestamp)), most
                )
                for key in keys
            }
            for run_id, values in logged.items()
        }
