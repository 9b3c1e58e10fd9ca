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

Memory does not grow with the number of views: each view is joined on its own against a narrow label table
(row id, keys, time) and written to Parquet in row-id order; the final result is assembled by a positional
scan of those files. DuckDB spills to a temporary folder past ``memory_limit``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

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


def _view_sql(view: ViewTable, labels: str, left_types: dict[str, str], right_types: dict[str, str]) -> str:
    lx, rx = _key_exprs(view.join_keys, left_types, right_types)
    rkeys = ", ".join(f"{e} AS _k{i}" for i, e in enumerate(rx))
    part = ", ".join(f"_k{i}" for i in range(len(rx)))
    on = " AND ".join(f"{e} = S._k{i}" for i, e in enumerate(lx))
    feats = ", ".join(q(f) for f in view.features)
    ttl = (
        "" if view.ttl_seconds is None else f" AND R._e >= L._label_us - {int(view.ttl_seconds * 1_000_000)}"
    )
    picked = ", ".join(f"CASE WHEN R._e IS NOT NULL{ttl} THEN R.{q(f)} END AS {q(f)}" for f in view.features)
    src = f"read_parquet({lit(view.path)})"
    if not view.backfills:
        return (
            f"SELECT L._rid, {picked} FROM {labels} L ASOF LEFT JOIN "
            f"(SELECT {rkeys}, {us('_event_ts')} AS _e, {feats} FROM {src}) R "
            f"ON {on.replace('S._k', 'R._k')} AND L._label_us >= R._e ORDER BY L._rid"
        )
    return (
        f"WITH R AS (SELECT {rkeys}, {us('_event_ts')} AS _e, {us('_created_ts')} AS _c, "
        f"greatest({us('_event_ts')}, {us('_created_ts')}) AS _avail, "
        f"row_number() OVER (PARTITION BY {part} ORDER BY _event_ts, _created_ts) AS _ord, "
        f"{feats} FROM {src}), "
        f"S AS (SELECT DISTINCT {part}, _avail, max(_ord) OVER (PARTITION BY {part} ORDER BY _avail "
        f"RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS _best FROM R) "
        f"SELECT L._rid, {picked} FROM {labels} L ASOF LEFT JOIN S ON {on} AND L._label_us >= S._avail "
        f"LEFT JOIN R ON "
        + " AND ".join(f"R._k{i} = S._k{i}" for i in range(len(rx)))
        + " AND R._ord = S._best ORDER BY L._rid"
    )


def point_in_time_join(
    labels: pd.DataFrame | Path,
    event_time: str,
    views: Sequence[ViewTable],
    out: Path,
    *,
    memory_limit: str = "2GB",
    workdir: Path | None = None,
) -> int:
    """Join every view's features onto the labels as of each label's event time, into a Parquet file.

    Args:
        labels: label rows (a frame or a Parquet file) with the views' join keys and ``event_time``.
        event_time: the column holding each label's event time.
        views: the feature tables to join, in output order.
        out: the Parquet file to write: the label columns, then each view's features.
        memory_limit: DuckDB's memory limit; larger joins spill to disk.
        workdir: folder for intermediate files (a temporary one when None).

    Returns:
        The number of rows written.

    Raises:
        ValidationError: the labels lack the event time or a join key, or two views share a feature name.
    """
    with tempfile.TemporaryDirectory(dir=workdir) as tmp, connect(memory_limit, Path(tmp)) as con:
        work = Path(tmp)
        if isinstance(labels, pd.DataFrame):
            con.register("labels_in", labels.assign(_rid=range(len(labels))))
            source = "labels_in"
        else:
            source = (
                "(SELECT * EXCLUDE (file_row_number), file_row_number AS _rid "
                f"FROM read_parquet({lit(labels)}, file_row_number = true))"
            )
        columns = _types(con, source)
        columns.pop("_rid", None)
        _check_inputs(columns, event_time, views)
        full, narrow = work / "full.parquet", work / "labels.parquet"
        # the row id keeps the input order; each view's part is written in row-id order to line up with it
        con.execute(f"COPY (SELECT * FROM {source} ORDER BY _rid) TO {lit(full)} (FORMAT parquet)")
        keys = list(dict.fromkeys(k for v in views for k in v.join_keys))
        con.execute(
            f"COPY (SELECT _rid, {''.join(q(k) + ', ' for k in keys)}{us(q(event_time))} AS _label_us "
            f"FROM read_parquet({lit(full)})) TO {lit(narrow)} (FORMAT parquet)"
        )
        left_types = _types(con, f"read_parquet({lit(narrow)})")
        parts = []
        for i, view in enumerate(views):
            right_types = _types(con, f"read_parquet({lit(view.path)})")
            part = work / f"view{i}.parquet"
            sql = _view_sql(view, f"read_parquet({lit(narrow)})", left_types, right_types)
            con.execute(f"COPY ({sql}) TO {lit(part)} (FORMAT parquet)")
            parts.append(part)
        return _assemble(full, parts, out)


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


def _assemble(full: Path, parts: Sequence[Path], out: Path) -> int:
    """Glue the label file and each view's file side by side, streaming batch by batch."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    readers = [pq.ParquetFile(p) for p in (full, *parts)]
    streams = [r.iter_batches(batch_size=65_536) for r in readers]
    pending: list[pa.RecordBatch | None] = [None] * len(streams)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    schema = _schema(readers)
    with pq.ParquetWriter(out, schema) as writer:
        while True:
            for i, s in enumerate(streams):
                if pending[i] is None or len(pending[i]) == 0:  # type: ignore[arg-type]
                    pending[i] = next(s, None)
            if any(b is None for b in pending):
                break
            n = min(len(b) for b in pending)  # type: ignore[arg-type]
            arrays: list[pa.Array] = []
            for i, b in enumerate(pending):
                head = b.slice(0, n)  # type: ignore[union-attr]
                arrays += [
                    c for name, c in zip(head.schema.names, head.columns, strict=True) if name != "_rid"
                ]
                pending[i] = b.slice(n)  # type: ignore[union-attr]
            writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
            rows += n
    return rows


def _schema(readers: Sequence[object]) -> object:
    import pyarrow as pa

    return pa.schema([f for r in readers for f in r.schema_arrow if f.name != "_rid"])  # type: ignore[attr-defined]


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
