"""Offline retrieval with DuckDB: point-in-time joins of labels with feature tables (Parquet), and ranges.

For each label row (entity keys, event time ``t``) and each view, the value used is the feature row with the
latest event time among those that were both true (``_event_ts <= t``) and already written
(``_created_ts <= t``) at ``t``, and only when that event time lies within the view's TTL before ``t``.
The second condition is what makes backfills safe: a row written after ``t`` is never used for ``t``, even
when its event time is earlier.

How: a row is *available* from ``avail = max(event, created)``. Per entity, ordering rows by ``avail`` and
keeping a running maximum of their ``(event, created)`` rank gives, at each ``avail``, the best row known so
far; one ASOF join of the labels on ``avail <= t`` then picks exactly the right row, with no row loops. Views
without a created column (created = event) take a plain ASOF join on the event time.

Memory is bounded whatever the number of views: the views are packed into groups whose estimated working
set (each view's table, plus its columns carried for every label) fits an eighth of ``memory_limit``, and
each group is one DuckDB query. When everything fits (the common case) one query writes the result; otherwise
each group's features are written in label order against a narrow label table (row id, keys, time) and the
result is glued side by side with a positional scan, by one thread so that only one full-width row group is
buffered. DuckDB spills to a temporary folder past ``memory_limit``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from mlfactory.config import parse_size
from mlfactory.errors import ValidationError


@dataclass(frozen=True, kw_only=True)
class ViewTable:
    """A view's normalized feature table on disk and how to join it."""

    name: str
    path: Path
    join_keys: tuple[str, ...]
    features: tuple[str, ...]
    ttl_seconds: float | None
    backfills: bool = True  # False when created == event for every row: a plain ASOF join suffices
    digest: str = ""  # the artifact holding the table, when it is stored


def q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(path: Path | str) -> str:
    """A quoted SQL string literal (for file paths)."""
    return "'" + str(path).replace("'", "''") + "'"


@contextmanager
def connect(memory_limit: str = "2GB", workdir: Path | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection that spills to ``workdir`` beyond ``memory_limit``."""
    con = duckdb.connect()
    try:
        con.execute(f"SET memory_limit = {lit(memory_limit)}")
        con.execute("SET TimeZone = 'UTC'")  # naive timestamps are UTC
        if workdir is not None:
            con.execute(f"SET temp_directory = {lit(workdir / 'spill')}")
        yield con
    finally:
        con.close()


def us(column: str) -> str:
    """SQL for a timestamp column (naive = UTC, any precision) as microseconds since the epoch."""
    return f"epoch_us(CAST({column} AS TIMESTAMPTZ))"


def _types(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    return {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}


def _key_exprs(
    keys: Sequence[str], left: dict[str, str], right: dict[str, str]
) -> tuple[list[str], list[str]]:
    """Join key expressions per side; keys whose types differ are compared as text."""
    lx, rx = [], []
    for k in keys:
        if left[k] == right[k]:
            lx.append(f"L.{q(k)}")
            rx.append(q(k))
        else:
            lx.append(f"CAST(L.{q(k)} AS VARCHAR)")
            rx.append(f"CAST({q(k)} AS VARCHAR)")
    return lx, rx


def _view_parts(
    i: int, view: ViewTable, left_types: dict[str, str], right_types: dict[str, str]
) -> tuple[list[str], str, list[str]]:
    """View ``i``'s part of a join query over labels ``L``: its CTEs, its joins and its feature columns."""
    lx, rx = _key_exprs(view.join_keys, left_types, right_types)
    rkeys = ", ".join(f"{e} AS _k{j}" for j, e in enumerate(rx))
    part = ", ".join(f"_k{j}" for j in range(len(rx)))
    feats = ", ".join(q(f) for f in view.features)
    src = f"read_parquet({lit(view.path)})"
    r, s = f"R{i}", f"S{i}"
    ttl = "" if view.ttl_seconds is None else f" AND {r}._e >= L._label_us - {int(view.ttl_seconds * 1e6)}"
    picked = [f"CASE WHEN {r}._e IS NOT NULL{ttl} THEN {r}.{q(f)} END AS {q(f)}" for f in view.features]
    if not view.backfills:
        on = " AND ".join(f"{e} = {r}._k{j}" for j, e in enumerate(lx))
        cte = f"{r} AS (SELECT {rkeys}, {us('_event_ts')} AS _e, {feats} FROM {src})"
        return [cte], f"ASOF LEFT JOIN {r} ON {on} AND L._label_us >= {r}._e", picked
    ctes = [
        f"{r} AS (SELECT {rkeys}, {us('_event_ts')} AS _e, "
        f"greatest({us('_event_ts')}, {us('_created_ts')}) AS _avail, "
        f"row_number() OVER (PARTITION BY {part} ORDER BY _event_ts, _created_ts) AS _ord, {feats} "
        f"FROM {src})",
        f"{s} AS (SELECT DISTINCT {part}, _avail, max(_ord) OVER (PARTITION BY {part} ORDER BY _avail "
        f"RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS _best FROM {r})",
    ]
    on = " AND ".join(f"{e} = {s}._k{j}" for j, e in enumerate(lx))
    back = " AND ".join(f"{r}._k{j} = {s}._k{j}" for j in range(len(rx)))
    joins = (
        f"ASOF LEFT JOIN {s} ON {on} AND L._label_us >= {s}._avail "
        f"LEFT JOIN {r} ON {back} AND {r}._ord = {s}._best"
    )
    return ctes, joins, picked


def _group_sql(
    group: Sequence[int],
    views: Sequence[ViewTable],
    left: str,
    carry: str,
    left_types: dict[str, str],
    right_types: Sequence[dict[str, str]],
) -> str:
    """One query joining the views of ``group`` onto the labels ``left``, in label order."""
    ctes, joins, picked = [], [], []
    for i in group:
        c, j, p = _view_parts(i, views[i], left_types, right_types[i])
        ctes += c
        joins.append(j)
        picked += p
    return (
        f"WITH {', '.join(ctes)} SELECT {carry}, {', '.join(picked)} FROM {left} L "
        f"{' '.join(joins)} ORDER BY L._rid"
    )


def _working_set(label_rows: int, view_rows: int, view: ViewTable) -> int:
    """Bytes a view adds to a join query, roughly: its table, and its columns carried for every label."""
    width = 8 * (len(view.features) + len(view.join_keys) + 3)
    return (label_rows + view_rows) * width


def _groups(sizes: Sequence[int], budget: int) -> list[list[int]]:
    """Consecutive views packed into groups whose working sets add up to at most ``budget`` (at least one
    view per group)."""
    groups: list[list[int]] = [[]]
    used = 0
    for i, size in enumerate(sizes):
        if groups[-1] and used + size > budget:
            groups.append([])
            used = 0
        groups[-1].append(i)
        used += size
    return groups


def point_in_time_join(
    labels: pd.DataFrame | Path,
    event_time: str,
    views: Sequence[ViewTable],
    out: Path,
    *,
    memory_limit: str = "2GB",
    workdir: Path | None = None,
    group_bytes: int | None = None,
) -> int:
    """Join every view's features onto the labels as of each label's event time, into a Parquet file.

    Args:
        labels: label rows (a frame or a Parquet file) with the views' join keys and ``event_time``.
        event_time: the column holding each label's event time.
        views: the feature tables to join, in output order.
        out: the Parquet file to write: the label columns in their order, then each view's features.
        memory_limit: DuckDB's memory limit; larger joins spill to disk.
        workdir: folder for intermediate files (a temporary one when None).
        group_bytes: the working set one query may take (default: an eighth of ``memory_limit``).

    Returns:
        The number of rows written.

    Raises:
        ValidationError: the labels lack the event time or a join key, or two views share a feature name.
    """
    try:
        budget = parse_size(memory_limit) // 8 if group_bytes is None else group_bytes
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    with tempfile.TemporaryDirectory(dir=workdir) as tmp, connect(memory_limit, Path(tmp)) as con:
        source, plain = _label_source(con, labels)
        columns = _types(con, source)
        columns.pop("_rid", None)
        _check_inputs(columns, event_time, views)
        n = _rows(con, source)
        tables = [f"read_parquet({lit(v.path)})" for v in views]
        right_types = [_types(con, table) for table in tables]
        sizes = [_working_set(n, _rows(con, table), v) for table, v in zip(tables, views, strict=True)]
        if sum(sizes) + 8 * n * (len(columns) + 2) <= budget:  # one query writes the result
            left = f"(SELECT *, {us(q(event_time))} AS _label_us FROM {source})"
            every = range(len(views))
            sql = _group_sql(every, views, left, "L.* EXCLUDE (_rid, _label_us)", columns, right_types)
            return _copy(con, sql, out)
        groups = _groups(sizes, budget)
        parts = _join_in_groups(con, source, event_time, views, groups, right_types, Path(tmp))
        picked = ", ".join(f"P{g}.* EXCLUDE (_rid)" for g in range(len(parts)))
        glued = " ".join(f"POSITIONAL JOIN read_parquet({lit(p)}) P{g}" for g, p in enumerate(parts))
        con.execute("SET threads = 1")  # the scan is sequential anyway; one writer buffers one row group
        return _copy(con, f"SELECT L.*, {picked} FROM {plain} L {glued}", out)


def _label_source(con: duckdb.DuckDBPyConnection, labels: pd.DataFrame | Path) -> tuple[str, str]:
    """The labels as two relations: with a ``_rid`` row number (their order), and as given."""
    if isinstance(labels, pd.DataFrame):
        con.register("labels_in", labels.assign(_rid=range(len(labels))))
        return "labels_in", "(SELECT * EXCLUDE (_rid) FROM labels_in)"
    numbered = (
        "(SELECT * EXCLUDE (file_row_number), file_row_number AS _rid "
        f"FROM read_parquet({lit(labels)}, file_row_number = true))"
    )
    return numbered, f"read_parquet({lit(labels)})"


def _join_in_groups(
    con: duckdb.DuckDBPyConnection,
    source: str,
    event_time: str,
    views: Sequence[ViewTable],
    groups: list[list[int]],
    right_types: list[dict[str, str]],
    work: Path,
) -> list[Path]:
    """When one query would not fit the budget: each group's features in label order, one file per group,
    to be glued to the labels side by side."""
    keys = list(dict.fromkeys(k for v in views for k in v.join_keys))
    narrow = work / "labels.parquet"
    _copy(
        con,
        f"SELECT _rid, {''.join(q(k) + ', ' for k in keys)}{us(q(event_time))} AS _label_us "
        f"FROM {source} ORDER BY _rid",
        narrow,
        compression="uncompressed",
    )
    left = f"read_parquet({lit(narrow)})"
    left_types = _types(con, left)
    parts = []
    for g, group in enumerate(groups):
        parts.append(work / f"group{g}.parquet")
        sql = _group_sql(group, views, left, "L._rid", left_types, right_types)
        _copy(con, sql, parts[-1], compression="uncompressed")
    return parts


def _rows(con: duckdb.DuckDBPyConnection, relation: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {relation}").fetchone()[0])  # type: ignore[index]


def _copy(con: duckdb.DuckDBPyConnection, sql: str, out: Path, *, compression: str = "snappy") -> int:
    """Write a query's rows to a Parquet file (in the query's order); the number of rows written."""
    out.parent.mkdir(parents=True, exist_ok=True)
    row = con.execute(f"COPY ({sql}) TO {lit(out)} (FORMAT parquet, COMPRESSION {compression})").fetchone()
    return int(row[0])  # type: ignore[index]


def _check_inputs(columns: dict[str, str], event_time: str, views: Sequence[ViewTable]) -> None:
    if event_time not in columns:
        raise ValidationError(
            f"the labels have no event time column '{event_time}' (columns: {list(columns)})"
        )
    seen: dict[str, str] = {}
    for view in views:
        missing = [k for k in view.join_keys if k not in columns]
        if missing:
            raise ValidationError(
                f"the labels lack join key(s) {missing} of feature view '{view.name}'; add them to the labels"
            )
        for f in view.features:
            if f in seen or f in columns:
                where = f"view '{seen[f]}'" if f in seen else "the labels"
                raise ValidationError(
                    f"feature '{f}' of view '{view.name}' clashes with a column of {where}; "
                    "rename one of them"
                )
            seen[f] = view.name


def read_range(
    view: ViewTable,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    *,
    memory_limit: str = "2GB",
) -> pd.DataFrame:
    """Every feature row of a view with event time in ``[start, end)``, without an entity frame."""
    where = []
    if start is not None:
        where.append(f"_event_ts >= TIMESTAMPTZ {lit(_utc(start).isoformat())}")
    if end is not None:
        where.append(f"_event_ts < TIMESTAMPTZ {lit(_utc(end).isoformat())}")
    cond = (" WHERE " + " AND ".join(where)) if where else ""
    with connect(memory_limit) as con:
        return con.execute(f"SELECT * FROM read_parquet({lit(view.path)}){cond} ORDER BY _event_ts").df()


def _utc(t: pd.Timestamp) -> pd.Timestamp:
    t = pd.Timestamp(t)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
