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

Only keys, times and row positions go through the joins: per label and view, the join yields the position of
the row to use in the view's Parquet file, and the feature values are then taken by position (Arrow ``take``)
and set beside the labels with a positional scan. Sorting narrow rows instead of whole feature rows is most
of the join's speed.

Memory is bounded whatever the number of views: the views are packed into groups whose estimated working
set (each view's table, plus its features taken for every label) fits an eighth of ``memory_limit``. When
everything fits (the common case) there is one group; otherwise each group but the last is written to a file
in label order, and the result is glued side by side by one thread, so that only one full-width row group is
buffered. DuckDB spills to a temporary folder past ``memory_limit``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from mlfactory.config import parse_size
from mlfactory.errors import ValidationError

DICTIONARY_ENTRIES = 1024  # per column and row group, in the Parquet files written (see _copy)


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
        con.execute("SET enable_progress_bar = false")  # a library call: no terminal output, no ticker thread
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
) -> tuple[list[str], str, str]:
    """View ``i``'s part of an index query over labels ``L``: its CTEs, its joins, and the column ``_f{i}``:
    the position in the view's file of the feature row to use (NULL when none)."""
    lx, rx = _key_exprs(view.join_keys, left_types, right_types)
    rkeys = ", ".join(f"{e} AS _k{j}" for j, e in enumerate(rx))
    part = ", ".join(f"_k{j}" for j in range(len(rx)))
    src = f"read_parquet({lit(view.path)}, file_row_number = true)"
    r, s = f"R{i}", f"S{i}"
    ttl = "" if view.ttl_seconds is None else f" AND {r}._e >= L._label_us - {int(view.ttl_seconds * 1e6)}"
    picked = f"CASE WHEN {r}._e IS NOT NULL{ttl} THEN {r}._pos END AS _f{i}"
    if not view.backfills:
        on = " AND ".join(f"{e} = {r}._k{j}" for j, e in enumerate(lx))
        cte = f"{r} AS (SELECT {rkeys}, {us('_event_ts')} AS _e, file_row_number AS _pos FROM {src})"
        return [cte], f"ASOF LEFT JOIN {r} ON {on} AND L._label_us >= {r}._e", picked
    ctes = [
        f"{r} AS (SELECT {rkeys}, {us('_event_ts')} AS _e, "
        f"greatest({us('_event_ts')}, {us('_created_ts')}) AS _avail, "
        f"row_number() OVER (PARTITION BY {part} ORDER BY _event_ts, _created_ts) AS _ord, "
        f"file_row_number AS _pos FROM {src})",
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


def _index_sql(
    group: Sequence[int],
    views: Sequence[ViewTable],
    left: str,
    left_types: dict[str, str],
    right_types: Sequence[dict[str, str]],
) -> str:
    """One query giving, for every label of ``left`` (in no particular order), its ``_rid`` and the position
    of the feature row to use from each view of ``group``. Only keys, times and positions go through the
    joins; the feature values are gathered afterwards by position."""
    ctes, joins, picked = [], [], []
    for i in group:
        c, j, p = _view_parts(i, views[i], left_types, right_types[i])
        ctes += c
        joins.append(j)
        picked.append(p)
    return f"WITH {', '.join(ctes)} SELECT L._rid, {', '.join(picked)} FROM {left} L {' '.join(joins)}"


def _working_set(label_rows: int, view_rows: int, view: ViewTable) -> int:
    """Bytes a view adds to a group, roughly: its feature table, and its features gathered for every label."""
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
        group_bytes: the working set one group of views may take (default: an eighth of ``memory_limit``).

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
        left = _narrow_labels(source, event_time, views)
        groups = _groups(sizes, budget)
        parts = []
        for g, group in enumerate(groups):
            index = con.sql(_index_sql(group, views, left, columns, right_types)).to_arrow_table()
            gathered = _gather(con, [views[i] for i in group], index, n)
            parts.append(_park(con, gathered, g, Path(tmp) if g < len(groups) - 1 else None))
        picked = ", ".join(f"P{g}.*" for g in range(len(parts)))
        glued = " ".join(f"POSITIONAL JOIN {p} P{g}" for g, p in enumerate(parts))
        if len(parts) > 1:
            con.execute("SET threads = 1")  # the scan is sequential anyway; one writer buffers one row group
        return _copy(con, f"SELECT L.*, {picked} FROM {plain} L {glued}", out)


def _narrow_labels(source: str, event_time: str, views: Sequence[ViewTable]) -> str:
    """The labels as the joins see them: row id, the views' join keys, event time in microseconds."""
    keys = "".join(f"{q(k)}, " for k in dict.fromkeys(k for v in views for k in v.join_keys))
    return f"(SELECT _rid, {keys}{us(q(event_time))} AS _label_us FROM {source})"


def _gather(con: duckdb.DuckDBPyConnection, views: Sequence[ViewTable], index: pa.Table, n: int) -> pa.Table:
    """Each view's features for every label, in label order, taken by position from the view's table
    (a NULL position gives NULL features)."""
    order = np.empty(n, dtype=np.int64)
    order[index.column("_rid").to_numpy()] = np.arange(n, dtype=np.int64)
    positions = index.drop_columns(["_rid"]).take(order)  # one column per view, in the group's order
    out: list[pa.ChunkedArray] = []
    names: list[str] = []
    for view, rows in zip(views, positions.columns, strict=True):
        feats = ", ".join(q(f) for f in view.features)
        table = con.sql(f"SELECT {feats} FROM read_parquet({lit(view.path)})").to_arrow_table()  # file order
        out += table.take(rows).columns
        names += view.features
    return pa.table(out, names=names)


def _park(con: duckdb.DuckDBPyConnection, gathered: pa.Table, g: int, work: Path | None) -> str:
    """A relation over a group's gathered features: the table itself for the last group, a file in ``work``
    for the others (so that one group at a time is held in memory)."""
    if work is None:
        con.register(f"gathered{g}", gathered)
        return f"gathered{g}"
    path = work / f"group{g}.parquet"
    con.register("parked", gathered)
    _copy(con, "SELECT * FROM parked", path, compression="uncompressed")
    con.unregister("parked")
    return f"read_parquet({lit(path)})"


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


def _rows(con: duckdb.DuckDBPyConnection, relation: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {relation}").fetchall()[0][0])


def _copy(con: duckdb.DuckDBPyConnection, sql: str, out: Path, *, compression: str = "snappy") -> int:
    """Write a query's rows to a Parquet file (in the query's order); the number of rows written.

    Columns keep a dictionary encoding while they have at most ``DICTIONARY_ENTRIES`` distinct values per row
    group (flags, categories, small counts); past that the writer stops trying, which is most of its time on
    continuous features, whose dictionaries would be dropped anyway."""
    out.parent.mkdir(parents=True, exist_ok=True)
    options = f"FORMAT parquet, COMPRESSION {compression}, DICTIONARY_SIZE_LIMIT {DICTIONARY_ENTRIES}"
    row = con.execute(f"COPY ({sql}) TO {lit(out)} ({options})").fetchone()
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
