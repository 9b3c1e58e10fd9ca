"""Training runs with params, metrics, tags and artifacts."""

from __future__ import annotations

import operator
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Connection,
    Float,
    Row,
    Select,
    Text,
    and_,
    cast,
    delete,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)

from mlfactory.entities import (
    Metric,
    Run,
    RunClause,
    RunStatus,
)
from mlfactory.errors import ConflictError, NotFoundError
from mlfactory.stores.metadata.runs import check_run_sort
from mlfactory.stores.sql import schema as t
from mlfactory.stores.sql.base import SqlBase, _aware, now


def _ordered(q: Select[Any], sort: str, descending: bool) -> Select[Any]:
    """Runs ordered by ``sort`` (ties: the newest start first, then id), the largest first when
    ``descending``."""
    c = t.runs.c
    column = {"started": c.started_at, "name": c.name, "status": c.status}[check_run_sort(sort)]
    first = column.desc() if descending else column.asc()
    return q.order_by(first, c.id) if sort == "started" else q.order_by(first, c.started_at.desc(), c.id)



def _latest_metrics(run_ids: Sequence[str]) -> Select[Any]:
    """Each run's latest value per metric key (highest step, then the last logged), chosen by the database:
    a run page reads one row per key instead of every step of every metric."""
    rank = (
        func.row_number()
        .over(
            partition_by=(t.metrics.c.run_id, t.metrics.c.key),
            order_by=(t.metrics.c.step.desc(), t.metrics.c.id.desc()),
        )
        .label("rank")
    )
    ranked = (
        select(t.metrics.c.run_id, t.metrics.c.key, t.metrics.c.value, rank)
        .where(t.metrics.c.run_id.in_(run_ids))
        .subquery()
    )
    return select(ranked.c.run_id, ranked.c.key, ranked.c.value).where(ranked.c.rank == 1)

class RunsMixin(SqlBase):
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
        with self._tx() as c:
            c.execute(
                insert(t.runs).values(
                    id=run_id,
                    name=name,
                    status=RunStatus.RUNNING.value,
                    started_at=now(),
                    ended_at=None,
                    params=params or {},
                    tags=tags or {},
                    environment=environment or {},
                    dataset_id=dataset_id,
                    error=None,
                )
            )
        return run_id

    def _merge_run_json(self, run_id: str, column: str, values: dict[str, Any]) -> None:
        with self._tx() as c:
            current = c.execute(select(t.runs.c[column]).where(t.runs.c.id == run_id)).first()
            if current is None:
                raise NotFoundError(f"no run '{run_id}'")
            c.execute(update(t.runs).where(t.runs.c.id == run_id).values({column: {**current[0], **values}}))

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        self._merge_run_json(run_id, "params", params)

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        self._merge_run_json(run_id, "tags", tags)

    def log_metrics(self, run_id: str, metrics: Sequence[Metric]) -> None:
        if not metrics:
            return
        rows = [
            {
                "run_id": run_id,
                "key": m.key,
                "value": float(m.value),
                "step": int(m.step),
                "timestamp": float(m.timestamp),
            }
            for m in metrics
        ]
        with self._tx() as c:
            c.execute(insert(t.metrics), rows)

    def log_artifact(self, run_id: str, name: str, digest: str) -> None:
        with self._tx() as c:
            c.execute(
                delete(t.run_artifacts).where(
                    t.run_artifacts.c.run_id == run_id, t.run_artifacts.c.name == name
                )
            )
            c.execute(insert(t.run_artifacts).values(run_id=run_id, name=name, digest=digest))

    def end_run(self, run_id: str, status: RunStatus, error: str | None = None) -> None:
        with self._tx() as c:
            c.execute(
                update(t.runs)
                .where(t.runs.c.id == run_id)
                .values(status=status.value, ended_at=now(), error=error)
            )

    def _runs(self, c: Connection, rows: Sequence[Row[Any]]) -> list[Run]:
        ids = [r._mapping["id"] for r in rows]
        latest: dict[str, dict[str, float]] = {i: {} for i in ids}
        arts: dict[str, dict[str, str]] = {i: {} for i in ids}
        for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
            for run_id, key, value in c.execute(_latest_metrics(chunk)):
                latest[run_id][key] = value
            q2 = select(t.run_artifacts).where(t.run_artifacts.c.run_id.in_(chunk))
            for run_id, name, digest in c.execute(q2):
                arts[run_id][name] = digest
        out = []
        for r in rows:
            m = r._mapping
            out.append(
                Run(
                    id=m["id"],
                    name=m["name"],
                    status=RunStatus(m["status"]),
                    started_at=_aware(m["started_at"]),  # type: ignore[arg-type]
                    ended_at=_aware(m["ended_at"]),
                    params=m["params"],
                    tags=m["tags"],
                    environment=m["environment"],
                    dataset_id=m["dataset_id"],
                    error=m["error"],
                    metrics=latest[m["id"]],
                    artifacts=arts[m["id"]],
                )
            )
        return out

    def get_run(self, run_id: str) -> Run:
        with self._tx() as c:
            rows = c.execute(select(t.runs).where(t.runs.c.id.startswith(run_id, autoescape=True))).all()
            if len(rows) > 1 and not any(r._mapping["id"] == run_id for r in rows):
                raise ConflictError(
                    f"run id prefix '{run_id}' matches {len(rows)} runs; give more characters"
                )
            rows = [r for r in rows if r._mapping["id"] == run_id] or rows
            if not rows:
                raise NotFoundError(f"no run '{run_id}'; `mlfactory runs list` shows them")
            return self._runs(c, rows)[0]

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
        q = _ordered(select(t.runs), sort, descending)
        if name is not None:
            q = q.where(t.runs.c.name == name)
        if status is not None:
            q = q.where(t.runs.c.status == status.value)
        if ids is not None:
            q = q.where(t.runs.c.id.in_(list(ids)))
        q = q.offset(offset) if offset else q
        if limit:
            q = q.limit(limit)
        with self._tx() as c:
            return self._runs(c, c.execute(q).all())

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
        q = _ordered(select(t.runs), sort, descending)
        if name is not None:
            q = q.where(t.runs.c.name == name)
        if status is not None:
            q = q.where(t.runs.c.status == status.value)
        postgres = self.engine.dialect.name == "postgresql"
        for clause in clauses:
            q = q.where(_condition(clause, postgres))
        q = q.offset(offset) if offset else q
        if limit:
            q = q.limit(limit)
        with self._tx() as c:
            return self._runs(c, c.execute(q).all())

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        q = (
            select(t.metrics.c.key, t.metrics.c.value, t.metrics.c.step, t.metrics.c.timestamp)
            .where(t.metrics.c.run_id == run_id, t.metrics.c.key == key)
            .order_by(t.metrics.c.step, t.metrics.c.id)
        )
        with self._tx() as c:
            return [Metric(*r) for r in c.execute(q)]


# -- run filters in SQL ----------------------------------------------------------------------------------

_COMPARE: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "=": operator.eq,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _typed(kind: ColumnElement[bool], value: ColumnElement[Any], op: str, wanted: Any) -> ColumnElement[bool]:
    """``value op wanted`` where ``kind`` holds; a value that cannot be compared matches only ``!=``."""
    if wanted is None:
        return and_(kind, true() if op == "!=" else false())
    return and_(kind, _COMPARE[op](value, wanted))


def _json_conditions(column: Any, key: str, op: str, text: str, postgres: bool) -> list[ColumnElement[bool]]:
    """A JSON field compared as it is typed: as a number, a flag or text (the filter's semantics)."""
    number, flag = _number(text), text.lower() in ("true", "1", "yes")
    if postgres:
        kind = func.json_typeof(column.op("->")(key))
        raw = column.op("->>", return_type=Text)(key)
        return [
            _typed(kind == "number", cast(raw, Float), op, number),
            _typed(kind == "boolean", raw == "true", op, literal(flag, Boolean)),
            _typed(kind == "string", raw.collate("C"), op, text),  # code-point order, as Python compares
            _typed(kind.in_(["array", "object"]), raw, op, None),
        ]
    path = f'$."{key}"'  # keys are word characters, dots, dashes and slashes
    kind = func.json_type(column, path)
    raw = func.json_extract(column, path)
    return [
        _typed(kind.in_(["integer", "real"]), raw, op, number),
        _typed(kind.in_(["true", "false"]), raw, op, int(flag)),
        _typed(kind == "text", raw, op, text),
        _typed(kind.in_(["array", "object"]), raw, op, None),
    ]


def _condition(clause: RunClause, postgres: bool) -> ColumnElement[bool]:
    """The SQL for one clause over ``runs``, with the same meaning as filtering loaded runs in Python."""
    text = clause.value.strip("'\"")
    op, key = clause.op, clause.key or ""
    if clause.field in ("params", "tags"):
        column = t.runs.c.params if clause.field == "params" else t.runs.c.tags
        return or_(*_json_conditions(column, key, op, text, postgres))
    if clause.field == "metrics":
        latest = (
            select(t.metrics.c.value)
            .where(t.metrics.c.run_id == t.runs.c.id, t.metrics.c.key == key)
            .order_by(t.metrics.c.step.desc(), t.metrics.c.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        return _typed(latest.is_not(None), latest, op, _number(text))
    column = {"status": t.runs.c.status, "name": t.runs.c.name, "dataset": t.runs.c.dataset_id}[clause.field]
    return and_(column.is_not(None), _COMPARE[op](column.collate("C") if postgres else column, text))
