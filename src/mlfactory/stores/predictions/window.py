"""Windows over the prediction log, by time or by count, read in chunks with DuckDB.

Monitoring reads the log through these. A :class:`LogWindow` needs only the segment files of a
:class:`LogSource` (a :class:`~mlfactory.stores.predictions.PredictionReader`, or a stand-in in tests).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import duckdb
import fsspec
import numpy as np
import pyarrow as pa

from mlfactory import arrays
from mlfactory.errors import ConfigError
from mlfactory.stores.fs import StorageLocation, storage_error
from mlfactory.stores.predictions.layout import INPUT_PREFIX, connect, parquet_source

CHUNK_ROWS = 65_536
PART_ROWS = 1_000_000  # rows of files per slice a worker reads (see LogWindow.parts)
PERCENTILES = (0.5, 0.95, 0.99)
ERROR_NOTE = (
    "the prediction log records answered rows only, so the error rate is not known from it (see the "
    "server's /metrics for failed requests)"
)


def traffic_aggregates(columns: Sequence[str], only: str = "") -> str:
    """The SQL aggregates every traffic summary of the log reports per group, in this order: rows, latency
    percentiles (:data:`PERCENTILES`, one list) and the error rate (NULL when the log's ``columns`` record no
    errors). ``only`` (a ``FILTER (WHERE ...)`` clause, or empty) restricts them to some of a group's rows.
    """
    error = f"avg(CASE WHEN error IS NULL THEN 0 ELSE 1 END) {only}" if "error" in columns else "NULL"
    return f"count(*) {only}, quantile_cont(latency_ms, {list(PERCENTILES)}) {only}, {error}"


def latencies(percentiles: Sequence[float | None] | None) -> dict[str, float | None]:
    """The latency percentiles of :func:`traffic_aggregates` by name (``latency_p50_ms`` ...), None where a
    group had no latency."""
    values = list(percentiles or [None] * len(PERCENTILES))
    return {
        f"latency_p{int(q * 100)}_ms": None if v is None else float(v)
        for q, v in zip(PERCENTILES, values, strict=True)
    }


class LogSource(Protocol):
    """What monitoring needs from the prediction log: its Parquet files for a model and time range, and a
    DuckDB table expression over them."""

    def files(
        self, model: str | None = None, since: datetime | None = None, until: datetime | None = None
    ) -> Sequence[Path | str]:
        """Files that may hold rows of ``model`` in [since, until] (local paths, or URLs on a bucket)."""

    def source(self, con: duckdb.DuckDBPyConnection, files: Sequence[Path | str]) -> str:
        """A table expression over ``files`` on ``con`` (called only when there are files)."""


@dataclass(frozen=True)
class Window:
    """Rows of the prediction log to monitor: the last ``seconds`` before ``until``, or the last ``last``
    rows.

    ``until`` defaults to the moment the window is read.
    """

    seconds: float | None = None
    last: int | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        if (self.seconds is None) == (self.last is None):
            raise ConfigError(
                "a window is either a time span (e.g. --window 1h) or a row count (--last 5000), "
                "not both or neither"
            )
        if self.seconds is not None and self.seconds <= 0:
            raise ConfigError(f"a window must be longer than 0 seconds, got {self.seconds}")
        if self.last is not None and self.last < 1:
            raise ConfigError(f"--last must be at least 1 row, got {self.last}")

    def bounds(self, now: datetime | None = None) -> tuple[datetime | None, datetime]:
        """(since, until) in UTC; ``since`` is None for a count window."""
        until = self.until or now or datetime.now(UTC)
        since = until - timedelta(seconds=self.seconds) if self.seconds is not None else None
        return since, until

    def label(self) -> str:
        """How the window reads in reports: ``1h``, ``90s`` or ``last 500 rows``."""
        if self.last is not None:
            return f"last {self.last} rows"
        s = float(self.seconds or 0)
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if s >= size and s % size == 0:
                return f"{int(s // size)}{unit}"
        return f"{s:g}s"

    def to_dict(self, now: datetime | None = None) -> dict[str, Any]:
        """The window as stored in a report, with its bounds resolved against ``now``."""
        since, until = self.bounds(now)
        return {
            "seconds": self.seconds,
            "last": self.last,
            "label": self.label(),
            "since": since.isoformat() if since else None,
            "until": until.isoformat(),
        }


class LogWindow:
    """One window of one model's log rows, queried once and read per (version, route) group.

    A window is a filter over the log's files (a count window's ``last`` rows become the rows at or after
    the newest ``last``-th one), so each group can be read in :class:`LogPart` slices of its files, one at
    a time here or side by side on workers (:func:`read_part`), and give the same rows.

    Args:
        log: the prediction log (see :class:`LogSource`).
        model: the model name.
        window: which rows.
        now: the window's end when it has none of its own.
    """

    def __init__(self, log: LogSource, model: str, window: Window, now: datetime | None = None) -> None:
        self.model, self.window = model, window
        self.since, self.until = window.bounds(now)
        self.files = log.files(model, self.since, self.until)
        # a model without log files has nothing to query: no connection (opening one costs tens of ms)
        self._con: duckdb.DuckDBPyConnection | None = connect() if self.files else None
        self.columns: list[str] = []
        self.cutoff: tuple[Any, ...] | None = None
        self._where = _bucket(log)
        self._win, self._params = "", []  # type: str, list[Any]
        if self.files:
            self._source = log.source(self.con, self.files)
            self.columns = [
                r[0] for r in self.con.execute(f"DESCRIBE SELECT * FROM {self._source}").fetchall()
            ]
            if window.last is not None:
                self.cutoff = self._cutoff(window.last)
            where, self._params = _filter(model, self.since, self.until, self.cutoff)
            self._win = f"SELECT * FROM {self._source} WHERE {where}"

    def _cutoff(self, last: int) -> tuple[Any, ...] | None:
        """The ``last``-th newest row's (time, request_id, route), or None when the log holds fewer rows.
        Rows at or after it are the window (route breaks the tie of a request answered on two routes)."""
        row = self.con.execute(
            f"SELECT time, request_id, route FROM {self._source} WHERE model = ? "
            f"ORDER BY time DESC, request_id DESC, route DESC LIMIT 1 OFFSET {int(last) - 1}",
            [self.model],
        ).fetchone()
        return None if row is None else tuple(row)

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The window's DuckDB connection (only a window with files has one; nothing reads an empty one)."""
        assert self._con is not None, "a window without log files has no connection"
        return self._con

    def close(self) -> None:
        """Close the window's DuckDB connection, if it opened one."""
        if self._con is not None:
            self._con.close()

    def __enter__(self) -> LogWindow:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def inputs(self) -> list[str]:
        """Input columns the log holds for this model (without the ``input.`` prefix)."""
        return [c.removeprefix(INPUT_PREFIX) for c in self.columns if c.startswith(INPUT_PREFIX)]

    def groups(self) -> list[dict[str, Any]]:
        """Per (version, route): rows, first and last time, latency percentiles and (when the log records
        errors) the error rate, ordered by version and route."""
        if not self.files:
            return []
        has_error = "error" in self.columns
        rows = self.con.execute(
            f"WITH win AS ({self._win}) SELECT version, route, {traffic_aggregates(self.columns)}, "
            "min(time), max(time), avg(latency_ms) FROM win GROUP BY version, route ORDER BY version, route",
            self._params,
        ).fetchall()
        out = []
        for version, route, n, pct, error_rate, first, last, mean in rows:
            span = (self.until - self.since).total_seconds() if self.since else (last - first).total_seconds()
            out.append(
                {
                    "version": int(version),
                    "route": route,
                    "rows": int(n),
                    "first": first,
                    "last": last,
                    "span_seconds": span,
                    "throughput_rps": n / span if span > 0 else None,
                    **latencies(pct),
                    "latency_mean_ms": float(mean) if mean is not None else None,
                    "error_rate": None if error_rate is None else float(error_rate),
                    "error_note": None if has_error else ERROR_NOTE,
                }
            )
        return out

    def parts(
        self, version: int, route: str, columns: list[str], part_rows: int | None = None
    ) -> list[LogPart]:
        """The group's rows as slices of the window's files, in the files' order: consecutive files until
        they hold ``part_rows`` rows (by their Parquet footers, every model's and route's rows counted), so
        the slices depend on the files alone, never on who reads them.

        Args:
            version, route: the group.
            columns: the model's input columns (without the prefix); those the log lacks are left out.
            part_rows: rows of files per slice (default :data:`PART_ROWS`).
        """
        if not self.files:
            return []
        part_rows = part_rows or PART_ROWS
        wanted = ["request_id", "prediction", "probabilities", *[INPUT_PREFIX + c for c in columns]]
        cols = tuple(c for c in wanted if c in self.columns)
        quoted = ", ".join("'" + str(f).replace("'", "''") + "'" for f in self.files)
        sizes = dict(
            self.con.execute(f"SELECT file_name, num_rows FROM parquet_file_metadata([{quoted}])").fetchall()
        )
        parts: list[LogPart] = []
        batch: list[str] = []
        rows = 0
        for f in map(str, self.files):
            batch.append(f)
            rows += int(sizes.get(f, 0))
            if rows >= part_rows:
                parts.append(self._part(batch, version, route, cols))
                batch, rows = [], 0
        if batch:
            parts.append(self._part(batch, version, route, cols))
        return parts

    def _part(self, files: list[str], version: int, route: str, columns: tuple[str, ...]) -> LogPart:
        protocol, options = self._where
        return LogPart(
            files=tuple(files),
            protocol=protocol,
            storage_options=options,
            model=self.model,
            version=version,
            route=route,
            since=self.since,
            until=self.until if self.since is not None else None,
            cutoff=self.cutoff,
            columns=columns,
        )

    def chunks(
        self, version: int, route: str, columns: list[str], chunk_rows: int = CHUNK_ROWS
    ) -> Iterator[tuple[pa.RecordBatch, np.ndarray | None]]:
        """The group's rows as (batch, probabilities) chunks, slice by slice (see :func:`read_part`)."""
        for part in self.parts(version, route, columns):
            yield from read_part(part, chunk_rows, self.con)


@dataclass(frozen=True)
class LogPart:
    """Some of a window's files and the filter of one (version, route) group: plain data, so a worker
    anywhere that reaches the log reads the same rows (:func:`read_part`).

    Attributes:
        files: local paths or bucket URLs, in the window's order.
        protocol: the fsspec protocol of the log's bucket (None on a local disk), and
        storage_options: its filesystem's settings (the project's non-secret ``stores.storage_options``
            as the backend spells them); credentials come from the reader's environment.
        model, version, route: the group.
        since, until: a time window's bounds (None for a count window).
        cutoff: a count window's oldest (time, request_id, route), or None.
        columns: the log's columns to read (``request_id``, ``prediction``, ``probabilities``, inputs).
    """

    files: tuple[str, ...]
    protocol: str | None
    storage_options: dict[str, Any]
    model: str
    version: int
    route: str
    since: datetime | None
    until: datetime | None
    cutoff: tuple[Any, ...] | None
    columns: tuple[str, ...]


def read_part(
    part: LogPart, chunk_rows: int = CHUNK_ROWS, con: duckdb.DuckDBPyConnection | None = None
) -> Iterator[tuple[pa.RecordBatch, np.ndarray | None]]:
    """A slice's rows as (batch, probabilities) chunks: Arrow record batches of the inputs under their own
    names plus ``request_id`` and ``prediction`` (counted as Arrow columns: no conversion to Python or
    pandas objects); probabilities as a ``rows x classes`` matrix (None if not logged). A column some of
    the window's files lack reads as null, as it does over the whole window.

    One DuckDB thread reads: the chunks are counted one at a time, and more threads hold more of the files
    in memory at once (at a million rows on two CPUs: 80 MiB more at the peak, for the same time).

    ``con``: the window's connection, when the slice is read where the window is (a cursor of it reads,
    sparing a new DuckDB database, about 15 ms of CPU); None opens one, as a worker does."""
    with _local_copies(part) as files, _one_thread(con) as con:
        source = parquet_source(files)
        present = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
        select = ", ".join(_quote(c) if c in present else f"NULL AS {_quote(c)}" for c in part.columns)
        where, params = _filter(part.model, part.since, part.until, part.cutoff)
        reader = con.sql(
            f"SELECT {select} FROM {source} WHERE {where} AND version = ? AND route = ?",
            params=[*params, part.version, part.route],
        ).to_arrow_reader(chunk_rows)
        for batch in reader:
            has_proba = "probabilities" in part.columns
            proba = _matrix(batch.column("probabilities")) if has_proba else None
            rows = batch.drop_columns(["probabilities"]) if has_proba else batch
            yield rows.rename_columns([c.removeprefix(INPUT_PREFIX) for c in rows.schema.names]), proba


@contextlib.contextmanager
def _one_thread(con: duckdb.DuckDBPyConnection | None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection reading on one DuckDB thread: a cursor of ``con`` (``threads`` is its database's
    setting, given back on exit) or, without one, a new connection (closed on exit)."""
    if con is None:
        with contextlib.closing(connect()) as own:
            own.execute("SET threads = 1")
            yield own
        return
    threads = int(con.execute("SELECT current_setting('threads')").fetchall()[0][0])
    with contextlib.closing(con.cursor()) as cursor:
        cursor.execute("SET TimeZone = 'UTC'")  # a session's setting: a cursor starts in the machine's zone
        cursor.execute("SET threads = 1")
        try:
            yield cursor
        finally:
            cursor.execute(f"SET threads = {threads}")


@contextlib.contextmanager
def _local_copies(part: LogPart) -> Iterator[Sequence[str]]:
    """The slice's files on the local disk: as they are there, or copied from the bucket to a temporary
    folder (removed on exit).

    DuckDB scans local files in less memory than the same files through an fsspec filesystem, and the
    copies are streamed to disk, so reading a bucket takes the memory of reading a disk, and the disk
    holds one slice's files at a time.

    Raises:
        MLFactoryError: from :func:`~mlfactory.stores.fs.storage_error` when a file cannot be copied.
    """
    if part.protocol is None:
        yield part.files
        return
    fs = fsspec.filesystem(part.protocol, **part.storage_options)
    bucket = StorageLocation(f"{part.protocol}://", fs, "", local=False)
    with tempfile.TemporaryDirectory(prefix="mlfactory-log-") as folder:
        copies = [os.path.join(folder, f"{i:06d}.parquet") for i in range(len(part.files))]
        for url, copy in zip(part.files, copies, strict=True):
            try:
                fs.get_file(url, copy)
            except Exception as exc:  # OSError, and backend errors (botocore) that share no base class
                raise storage_error(bucket, exc, url.split("://", 1)[-1]) from exc
        yield copies


def _quote(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _filter(
    model: str, since: datetime | None, until: datetime | None, cutoff: tuple[Any, ...] | None
) -> tuple[str, list[Any]]:
    """The SQL condition (and its parameters) of a window's rows of ``model``."""
    where, params = ["model = ?"], [model]  # type: list[str], list[Any]
    if since is not None:
        where += ["time >= ?", "time < ?"]
        params += [since, until]
    if cutoff is not None:
        where.append("(time, request_id, route) >= (?, ?, ?)")
        params += list(cutoff)
    return " AND ".join(where), params


def _bucket(log: LogSource) -> tuple[str | None, dict[str, Any]]:
    """The protocol and settings a worker opens the log's bucket with (None on a local disk, or for a
    stand-in log)."""
    location = getattr(log, "location", None)
    if isinstance(location, StorageLocation) and not location.local:
        protocol = location.fs.protocol
        return (protocol if isinstance(protocol, str) else protocol[0]), dict(location.fs.storage_options)
    return None, {}


def _matrix(column: pa.Array) -> np.ndarray | None:
    """A list column of equal-length rows as a float matrix; rows without values become NaN."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if len(column) == 0 or column.null_count == len(column):
        return None
    lengths = arrays.integers(column.value_lengths(), 0)
    k = int(lengths.max())
    values = arrays.floats(column.flatten())  # null rows' values left out
    if (lengths == k).all():
        return values.reshape(len(column), k)
    out = np.full((len(column), k), np.nan)
    full = lengths == k
    starts = np.cumsum(lengths) - lengths  # where each row's values begin in ``values``
    out[full] = values[starts[full, None] + np.arange(k)]
    return out
