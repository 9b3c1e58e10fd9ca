"""Training runs with params, metrics, tags and artifacts."""

from __future__ import annotations

import functools
import math
import operator
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    ARRAY,
    JSON,
    ColumnElement,
    Connection,
    Float,
    Integer,
    Select,
    String,
    Text,
    and_,
    any_,
    bindparam,
    case,
    cast,
    delete,
    exists,
    false,
    func,
    insert,
    literal_column,
    null,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from mlfactory.entities import (
    Event,
    Metric,
    Run,
    RunClause,
    RunStatus,
)
from mlfactory.errors import ConflictError, NotFoundError
from mlfactory.stores.metadata.runs import METRIC_SORT, check_most, check_run_sort, resolve_run_id
from mlfactory.stores.sql import schema as t
from mlfactory.stores.sql.base import DECODE, Prepared, SqlBase, now


def _ordered(q: Select[Any], sort: str, descending: bool) -> Select[Any]:
    """Runs ordered by ``sort`` (ties: the newest start first, then id), the largest first when
    ``descending``; by a metric, runs without it last."""
    c = t.runs.c
    if check_run_sort(sort).startswith(METRIC_SORT):
        by = t.latest_metrics.alias("by_metric")  # not the table a metrics clause's subquery reads
        q = q.select_from(
            t.runs.outerjoin(by, and_(by.c.run_id == c.id, by.c.key == sort.removeprefix(METRIC_SORT)))
        )
        group = case((by.c.is_nan, 1), (by.c.value.is_(None), 2), else_=0)  # numbers, NaN, then without
        first = by.c.value.desc() if descending else by.c.value.asc()
        return q.order_by(group, first, c.started_at.desc(), c.id)
    column = {"started": c.started_at, "name": c.name, "status": c.status}[sort]
    first = column.desc() if descending else column.asc()
    return q.order_by(first, c.id) if sort == "started" else q.order_by(first, c.started_at.desc(), c.id)


def _upsert(dialect: str) -> Callable[..., Any]:
    """The dialect's INSERT that takes ``on_conflict_do_update`` (SQLite and PostgreSQL spell it alike).
    PostgreSQL's is imported here, when a store on it first logs metrics: importing its dialect costs
    tens of milliseconds that a command on SQLite would otherwise pay at startup."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    return sqlite_insert


# a metrics row as a batch writes it, in the order of these columns
_ROW = ("run_id", "key", "value", "step", "timestamp", "is_nan")
_Row = tuple[str, str, float, int, float, bool]


def _stored(run_id: str, metrics: Sequence[Metric]) -> list[_Row]:
    """A batch as metrics rows (the columns of ``_ROW``): a NaN as the value 0 with ``is_nan`` set (SQLite
    would turn it into NULL)."""
    rows = [(run_id, m.key, float(m.value), int(m.step), float(m.timestamp), False) for m in metrics]
    if any(math.isnan(r[2]) for r in rows):
        return [(r[0], r[1], 0.0, r[3], r[4], True) if math.isnan(r[2]) else r for r in rows]
    return rows


def _latest_rows(rows: Sequence[_Row]) -> list[dict[str, Any]]:
    """Per key, the row of a batch that is latest (the highest step, then the latest timestamp, then the
    last in the batch, which is stored with the highest id): what the batch offers to ``latest_metrics``,
    in key order."""
    best: dict[str, _Row] = {}
    for row in rows:
        held = best.get(row[1])
        if held is None or row[3] > held[3] or (row[3] == held[3] and row[4] >= held[4]):
            best[row[1]] = row
    return [dict(zip(_ROW, best[k], strict=True)) for k in sorted(best)]


def _insert_rows(dialect: str) -> Any:
    """The metrics rows of a batch inserted by one statement: on SQLite run once per row (``executemany``
    of the rows as tuples); on PostgreSQL once, reading each column as an array (``unnest``), so a batch
    is one round trip, not a statement per row. Either way the rows get ids in the batch's order (the
    arrays' positions ordered explicitly), which is what makes the last of a step the latest."""
    if dialect != "postgresql":
        return insert(t.metrics).values({name: bindparam(name) for name in _ROW})
    m = t.metrics.c
    arrays = [bindparam(f"{name}s", type_=ARRAY(m[name].type)) for name in _ROW[1:]]
    columns = func.unnest(*arrays).table_valued(*_ROW[1:], with_ordinality="position").render_derived()
    rows = select(bindparam("run_id", type_=m.run_id.type), *columns.c[:-1]).order_by(columns.c.position)
    return insert(t.metrics).from_select([m[name] for name in _ROW], rows)


_INSERT_ROWS = Prepared(_insert_rows)


def _insert_metrics(c: Connection, rows: list[_Row]) -> None:
    """Insert a batch's metrics rows (of one run) with :func:`_insert_rows`' statement."""
    if c.dialect.name == "postgresql":
        _, *columns = zip(*rows, strict=True)  # the run's id is bound once
        arrays = {f"{name}s": list(column) for name, column in zip(_ROW[1:], columns, strict=True)}
        _INSERT_ROWS.run(c, {"run_id": rows[0][0], **arrays})
    else:
        _INSERT_ROWS.many(c, _ROW, rows)


def _keep_latest(c: Connection, rows: list[dict[str, Any]]) -> None:
    """Store each offered row as its key's latest unless the stored one is later (a higher step, or of an
    equal step a later timestamp).

    Called before the batch's metrics rows are inserted: the upsert locks each key's row (in key order, so
    two writers never deadlock) until commit, so a concurrent writer of the same keys inserts its metrics
    rows after this one commits, with higher ids. Of equal steps and timestamps the value written last is
    then the one with the highest id, as the metrics table orders them."""
    c.execute(_keep_latest_statement(c.dialect.name), rows)


@functools.cache
def _keep_latest_statement(dialect: str) -> Any:
    """:func:`_keep_latest`'s upsert for a dialect, built once (building it costs more than running it)."""
    ins = _upsert(dialect)(t.latest_metrics)
    old, new = t.latest_metrics.c, ins.excluded
    later = or_(new.step > old.step, and_(new.step == old.step, new.timestamp >= old.timestamp))
    return ins.on_conflict_do_update(
        index_elements=[old.run_id, old.key],
        set_={"value": new.value, "step": new.step, "timestamp": new.timestamp, "is_nan": new.is_nan},
        where=later,
    )


# what a run is read from, in the order _run unpacks it
_RUN_COLUMNS = tuple(
    t.runs.c[name]
    for name in (
        "id",
        "name",
        "status",
        "started_at",
        "ended_at",
        "params",
        "tags",
        "environment",
        "dataset_id",
        "error",
        "archived_at",
        "archive_reason",
    )
)
_STATUSES = {status.value: status for status in RunStatus}

# built once: a run's writes are small statements, and building one costs more than running it
_INSERT_RUN = insert(t.runs)
_END_RUN = (
    update(t.runs)
    .where(t.runs.c.id == bindparam("run_id"))
    .values(status=bindparam("status"), ended_at=bindparam("ended_at"), error=bindparam("error"))
)


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
                _INSERT_RUN,
                dict(
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
                ),
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
        rows = _stored(run_id, metrics)
        with self._tx() as c:
            _keep_latest(c, _latest_rows(rows))  # first: it orders concurrent writers (see there)
            _insert_metrics(c, rows)

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
            c.execute(_END_RUN, {"run_id": run_id, "status": status.value, "ended_at": now(), "error": error})

    def get_run(self, run_id: str) -> Run:
        return self.get_runs([run_id])[0]

    def get_runs(self, run_ids: Sequence[str]) -> list[Run]:
        wanted = list(dict.fromkeys(run_ids))
        with self._read() as c:
            rows = {r[0]: r for r in _BY_IDS.rows(c, {"ids": wanted})}  # _RUN_COLUMNS: the id first
            named = {i: i for i in wanted if i in rows}
            for chunk in _chunks([i for i in wanted if i not in rows], 100):
                starts = or_(*(t.runs.c.id.startswith(p, autoescape=True) for p in chunk))
                found = list(c.execute(select(t.runs.c.id).where(starts)).scalars())
                for prefix in chunk:
                    named[prefix] = resolve_run_id(prefix, [i for i in found if i.startswith(prefix)])
            unread = [i for i in dict.fromkeys(named.values()) if i not in rows]
            rows |= {r[0]: r for r in (_BY_IDS.rows(c, {"ids": unread}) if unread else [])}
            loaded = {r.id: r for r in _loaded(c, [rows[i] for i in dict.fromkeys(named.values())])}
        return [loaded[named[i]] for i in run_ids]

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
        check_run_sort(sort)
        return self._page(
            (),
            _Page(sort, descending, include_archived, name is not None, status is not None, ids is not None),
            {"name": name, "status": status and status.value, "ids": list(ids or ())},
            limit,
            offset,
        )

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
        check_run_sort(sort)
        return self._page(
            clauses,
            _Page(sort, descending, include_archived, name is not None, status is not None, False),
            {"name": name, "status": status and status.value},
            limit,
            offset,
        )

    def _page(
        self,
        clauses: Sequence[RunClause],
        page: _Page,
        values: dict[str, Any],
        limit: int | None,
        offset: int,
    ) -> list[Run]:
        """The runs passing ``clauses`` and ``page``'s conditions, in its order, cut to a page by the
        database: one statement for the runs, one for their latest metrics and artifacts."""
        statement = _paged(tuple(map(_shape, clauses)), page, bool(limit), bool(offset))
        values |= _values(clauses) | {"limit": limit, "offset": offset}
        with self._read() as c:
            return _loaded(c, statement.rows(c, values))

    def unregistered_runs(self, *, started_before: datetime, limit: int | None = None) -> list[Run]:
        with self._read() as c:
            rows = _UNREGISTERED[bool(limit)].rows(c, {"before": started_before, "limit": limit})
            return _loaded(c, rows)

    def archive_runs(self, run_ids: Sequence[str], *, reason: str, actor: str) -> Event:
        wanted = list(dict.fromkeys(run_ids))
        r, v = t.runs.c, t.model_versions.c
        with self._tx() as c:
            found = self._run_archive_states(c, wanted)
            for chunk in _chunks(wanted, 500):
                live = select(v.name, v.version, v.run_id).where(v.run_id.in_(chunk), v.archived_at.is_(None))
                needed = c.execute(live.limit(1)).first()
                if needed is not None:
                    raise ConflictError(
                        f"run {needed.run_id} trained {needed.name}/{needed.version}, which is not archived: "
                        f"its lineage needs the run; archive the version first"
                    )
            fresh = [i for i in wanted if found[i] is None]
            for chunk in _chunks(fresh, 500):
                c.execute(
                    update(t.runs).where(r.id.in_(chunk)).values(archived_at=now(), archive_reason=reason)
                )
            return self._insert_event(c, "runs.archived", actor, None, {"runs": fresh}, reason)

    def restore_runs(self, run_ids: Sequence[str], *, actor: str, reason: str = "") -> Event:
        wanted = list(dict.fromkeys(run_ids))
        with self._tx() as c:
            found = self._run_archive_states(c, wanted)
            archived = [i for i in wanted if found[i] is not None]
            for chunk in _chunks(archived, 500):
                c.execute(
                    update(t.runs).where(t.runs.c.id.in_(chunk)).values(archived_at=None, archive_reason=None)
                )
            return self._insert_event(c, "runs.restored", actor, None, {"runs": archived}, reason)

    def _run_archive_states(self, c: Connection, run_ids: list[str]) -> dict[str, datetime | None]:
        """Each run's archive time (None: live); a NotFoundError naming the first id that is no run."""
        found: dict[str, datetime | None] = {}
        for chunk in _chunks(run_ids, 500):
            q = select(t.runs.c.id, t.runs.c.archived_at).where(t.runs.c.id.in_(chunk))
            found |= {i: at for i, at in c.execute(q)}
        missing = [i for i in run_ids if i not in found]
        if missing:
            raise NotFoundError(f"no run '{missing[0]}'; `mlfactory runs list --archived` shows them")
        return found

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        return self.metric_histories([run_id], [key])[run_id][key]

    def metric_histories(
        self, run_ids: Sequence[str], keys: Sequence[str], *, most: int | None = None
    ) -> dict[str, dict[str, list[Metric]]]:
        check_most(most)
        out: dict[str, dict[str, list[Metric]]] = {r: {k: [] for k in keys} for r in run_ids}
        if not keys:
            return out
        with self._read() as c:
            for chunk in _chunks(list(out), 500):
                for run_id, key, value, step, timestamp, nan in c.execute(_histories(chunk, keys, most)):
                    out[run_id][key].append(Metric(key, math.nan if nan else value, step, timestamp))
        return out


def _among(column: ColumnElement[str], dialect: str) -> ColumnElement[bool]:
    """``column`` is one of the ``ids`` value, bound as one parameter (an array on PostgreSQL, a JSON array
    on SQLite): a page of runs is one statement whatever its size, not a placeholder per id."""
    if dialect == "postgresql":
        return column == any_(bindparam("ids", type_=ARRAY(String)))
    listed = func.json_each(bindparam("ids", type_=JSON))
    values: Select[Any] = select(literal_column("value")).select_from(listed)
    return column.in_(values)


def _loaded(c: Connection, rows: Sequence[Sequence[Any]]) -> list[Run]:
    """The runs of ``rows`` (the columns of ``_RUN_COLUMNS``), with their latest metric values and
    artifacts read in one more statement."""
    latest: dict[str, dict[str, float]] = {r[0]: {} for r in rows}
    arts: dict[str, dict[str, str]] = {r[0]: {} for r in rows}
    if rows:
        for run_id, key, value, nan, digest in _EXTRAS.rows(c, {"ids": list(latest)}):
            if digest is None:
                latest[run_id][key] = math.nan if nan else value
            else:
                arts[run_id][key] = digest
    time, doc = DECODE[c.dialect.name]
    return [_run(r, latest[r[0]], arts[r[0]], time, doc) for r in rows]


def _run(
    r: Sequence[Any],
    metrics: dict[str, float],
    artifacts: dict[str, str],
    time: Callable[[Any], datetime | None],
    doc: Callable[[Any], Any],
) -> Run:
    """A run from its ``runs`` row (the columns of ``_RUN_COLUMNS``, unpacked as a tuple), its times read
    by ``time`` and its JSON columns by ``doc``, its latest metric values and its artifacts.

    Its fields are set as a whole, as its ``__dict__``: a frozen dataclass's ``__init__`` sets each through
    ``object.__setattr__``, which cost more than reading the row (Run has no checks in ``__post_init__``;
    a test compares these runs with ones made by ``Run(...)``)."""
    run_id, name, status, started, ended, params, tags, environment, dataset_id, error, archived, reason = r
    run: Run = object.__new__(Run)
    object.__setattr__(
        run,
        "__dict__",
        {
            "id": run_id,
            "name": name,
            "status": _STATUSES[status],
            "started_at": time(started),
            "ended_at": time(ended),
            "params": doc(params),
            "tags": doc(tags),
            "environment": doc(environment),
            "dataset_id": dataset_id,
            "error": error,
            "metrics": metrics,
            "artifacts": artifacts,
            "archived_at": time(archived),
            "archive_reason": reason,
        },
    )
    return run


def _live(q: Select[Any], include_archived: bool) -> Select[Any]:
    """``q`` over the runs, without the archived ones unless they are asked for."""
    return q if include_archived else q.where(t.runs.c.archived_at.is_(None))


def _chunks(values: list[str], size: int) -> Iterator[list[str]]:
    """``values`` in slices of at most ``size`` (bound parameters per statement stay few)."""
    return (values[i : i + size] for i in range(0, len(values), size))


def _histories(run_ids: Sequence[str], keys: Sequence[str], most: int | None) -> Select[Any]:
    """The values of these runs' keys by run, key, step, timestamp and logging order (so a series ends with
    the latest value); with ``most``, each series cut to at most that many by the database: every
    ``ceil((n - 1) / (most - 1))``-th value from the first, and the last."""
    m = t.metrics.c
    wanted = and_(m.run_id.in_(run_ids), m.key.in_(list(keys)))
    if most is None:
        q = select(m.run_id, m.key, m.value, m.step, m.timestamp, m.is_nan).where(wanted)
        return q.order_by(m.run_id, m.key, m.step, m.timestamp, m.id)
    series = (m.run_id, m.key)
    ranked = (
        select(
            m.run_id,
            m.key,
            m.value,
            m.step,
            m.timestamp,
            m.is_nan,
            m.id,
            (func.row_number().over(partition_by=series, order_by=(m.step, m.timestamp, m.id)) - 1).label(
                "position"
            ),
            func.count().over(partition_by=series).label("n"),
        )
        .where(wanted)
        .subquery()
    )
    r = ranked.c
    every = (r.n + (most - 3)) // (most - 1)  # ceil((n - 1) / (most - 1))
    return (
        select(r.run_id, r.key, r.value, r.step, r.timestamp, r.is_nan)
        .where(or_(r.n <= most, r.position % every == 0, r.position == r.n - 1))
        .order_by(r.run_id, r.key, r.step, r.timestamp, r.id)
    )


# -- run filters in SQL ----------------------------------------------------------------------------------
# A filter is built once per shape (fields, keys, operators, and which comparisons are decided by the
# value's kind alone) with its values bound: building and compiling the statement cost more than running
# it, and a search that differs only in its values reuses both.

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def _number(text: str) -> float | None:
    """The number ``text`` spells; None for none, and for NaN (which, as in Python, equals nothing)."""
    try:
        number = float(text)
    except ValueError:
        return None
    return None if math.isnan(number) else number


def _bound(clause: RunClause) -> tuple[str, float | None, bool]:
    """A clause's value as the filter compares it: the text (quotes stripped), the number it spells, the
    flag it spells."""
    text = clause.value.strip("'\"")
    return text, _number(text), text.lower() in ("true", "1", "yes")


# field, key, operator, whether the value is a number, whether a stored true (then false) passes
_Shape = tuple[str, str, str, bool, bool, bool]


def _shape(clause: RunClause) -> _Shape:
    """What a clause's SQL depends on besides its bound values: field, key, operator, whether its value is
    a number, and whether a stored true, or false, passes it (decided here, as Python decides it)."""
    _, number, flag = _bound(clause)
    compare = _COMPARE[clause.op]
    return (
        clause.field,
        clause.key or "",
        clause.op,
        number is not None,
        compare(True, flag),
        compare(False, flag),
    )


def _values(clauses: Sequence[RunClause]) -> dict[str, Any]:
    """The bound values of the clauses' statement (see :func:`_filtered`): clause ``i``'s text and number."""
    values: dict[str, Any] = {}
    for i, clause in enumerate(clauses):
        text, number, _ = _bound(clause)
        values[f"text{i}"], values[f"number{i}"] = text, number
    return values


class _Page(NamedTuple):
    """What a page of runs' statement depends on besides its clauses' shapes and the values it binds."""

    sort: str
    descending: bool
    include_archived: bool
    by_name: bool
    by_status: bool
    by_ids: bool


@functools.lru_cache(maxsize=256)
def _paged(shapes: tuple[_Shape, ...], page: _Page, limited: bool, skipped: bool) -> Prepared:
    """The live (or all) runs passing clauses of these shapes and ``page``'s conditions, in its order;
    values bound by :func:`_values` and by name (``name``, ``status``, ``ids``, ``limit``, ``offset``)."""

    def build(dialect: str) -> Select[Any]:
        c = t.runs.c
        q = _ordered(_live(select(*_RUN_COLUMNS), page.include_archived), page.sort, page.descending)
        for i, shape in enumerate(shapes):
            q = q.where(_condition(shape, i, dialect == "postgresql"))
        q = q.where(c.name == bindparam("name")) if page.by_name else q
        q = q.where(c.status == bindparam("status")) if page.by_status else q
        q = q.where(_among(c.id, dialect)) if page.by_ids else q
        q = q.limit(bindparam("limit", type_=Integer)) if limited else q
        return q.offset(bindparam("offset", type_=Integer)) if skipped else q

    return Prepared(build)


_BY_IDS = _paged((), _Page("started", True, True, False, False, True), False, False)


def _extras(dialect: str) -> Any:
    """The latest metric values (``digest`` None) and the artifacts of the runs ``ids``, in one statement."""
    lm, a = t.latest_metrics.c, t.run_artifacts.c
    metrics = select(lm.run_id, lm.key, lm.value, lm.is_nan, null().label("digest"))
    artifacts = select(a.run_id, a.name, null(), null(), a.digest)
    return union_all(metrics.where(_among(lm.run_id, dialect)), artifacts.where(_among(a.run_id, dialect)))


_EXTRAS = Prepared(_extras)


def _unregistered(limited: bool) -> Prepared:
    def build(_: str) -> Select[Any]:
        r, v = t.runs.c, t.model_versions.c
        q = (
            select(*_RUN_COLUMNS)
            .where(
                r.archived_at.is_(None),  # with started_at: the live runs' partial index
                r.started_at < bindparam("before", type_=r.started_at.type),
                or_(r.status == RunStatus.FINISHED.value, r.status == RunStatus.FAILED.value),
                ~exists().where(v.run_id == r.id),  # ix_model_versions_run
            )
            .order_by(r.started_at, r.id)
        )
        return q.limit(bindparam("limit", type_=Integer)) if limited else q

    return Prepared(build)


_UNREGISTERED = {limited: _unregistered(limited) for limited in (False, True)}


def _when_kind(kind: ColumnElement[Any], whens: dict[str, Any]) -> ColumnElement[bool]:
    """``CASE kind WHEN ... END``: the JSON value's kind computed once per row; no other kind matches."""
    return case(whens, value=kind, else_=false())


def _json_condition(column: Any, i: int, shape: _Shape, postgres: bool) -> ColumnElement[bool]:
    """A JSON field compared as it is typed: as a number, a flag or text (the filter's semantics). A value
    that cannot be compared (a number against text, a list) matches only ``!=``."""
    _, key, op, numeric, passes_true, passes_false = shape
    compare, unequal = _COMPARE[op], true() if op == "!=" else false()
    text, number = bindparam(f"text{i}", type_=Text), bindparam(f"number{i}", type_=Float)
    if postgres:
        raw = column.op("->>", return_type=Text)(key)
        flags = [name for name, passes in (("true", passes_true), ("false", passes_false)) if passes]
        return _when_kind(
            func.json_typeof(column.op("->")(key)),
            {
                "number": compare(cast(raw, Float), number) if numeric else unequal,
                "string": compare(raw.collate("C"), text),  # code-point order, as Python compares
                "boolean": or_(
                    false(), *(raw == flag for flag in flags)
                ),  # no IN list: one statement per shape,
                "array": unequal,
                "object": unequal,
            },
        )
    path = f'$."{key}"'  # keys are word characters, dots, dashes and slashes
    raw = func.json_extract(column, path)
    by_number = compare(raw, number) if numeric else unequal
    return _when_kind(
        func.json_type(column, path),
        {
            "integer": by_number,
            "real": by_number,
            "text": compare(raw, text),
            "true": true() if passes_true else false(),
            "false": true() if passes_false else false(),
            "array": unequal,
            "object": unequal,
        },
    )


def _condition(shape: _Shape, i: int, postgres: bool) -> ColumnElement[bool]:
    """The SQL for clause ``i`` over ``runs``, with the same meaning as filtering loaded runs in Python."""
    field, key, op, numeric, _, _ = shape
    compare, unequal = _COMPARE[op], true() if op == "!=" else false()
    if field in ("params", "tags"):
        return _json_condition(t.runs.c.params if field == "params" else t.runs.c.tags, i, shape, postgres)
    if field == "metrics":
        lm = t.latest_metrics.c  # a NaN, as in Python, compares unequal to everything and is no order
        nan_holds = lm.is_nan if op == "!=" else false()
        number = compare(lm.value, bindparam(f"number{i}", type_=Float)) if numeric else unequal
        holds = or_(and_(lm.is_nan == false(), number), nan_holds)
        return exists().where(lm.run_id == t.runs.c.id, lm.key == key, holds)
    column = {"status": t.runs.c.status, "name": t.runs.c.name, "dataset": t.runs.c.dataset_id}[field]
    text = bindparam(f"text{i}", type_=Text)
    return and_(column.is_not(None), compare(column.collate("C") if postgres else column, text))
