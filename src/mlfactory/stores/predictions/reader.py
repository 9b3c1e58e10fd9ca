"""Reading the prediction log: rows by model, version, route, time and request id, with DuckDB."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb
import pyarrow as pa

from mlfactory.stores.fs import StorageLocation, open_location, scan_filesystem
from mlfactory.stores.predictions.layout import (
    BASE_COLUMNS,
    INPUT_PREFIX,
    VIOLATIONS,
    connect,
    parquet_source,
    request_id_time,
)
from mlfactory.stores.predictions.tree import LISTING_ATTEMPTS, LogTree, SegmentRef
from mlfactory.stores.predictions.window import latencies, traffic_aggregates

T = TypeVar("T")

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.stores.metadata import MetadataStore


Group = tuple[str, int, str]  # (model, version, route)
ID_SLACK = timedelta(seconds=1)  # around an id's own time: a row's time is the moment its id was made


@dataclass(frozen=True)
class LoggedPrediction:
    """One logged row: which version answered a request id on which route, when, how fast, with what.

    Attributes:
        inputs: each input column (without the ``input.`` prefix) to the value the model saw, in the
            logged order; free-form by design, since every model has its own inputs.
        violations: the declared rules the row broke (``on_invalid_input: flag``), None for a clean row.
    """

    request_id: str
    time: datetime
    model: str
    version: int
    route: str
    latency_ms: float
    prediction: Any
    probabilities: list[float] | None
    inputs: dict[str, Any]
    violations: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> LoggedPrediction:
        """A row read from the log (a mapping of its columns)."""
        probabilities = row.get("probabilities")
        return cls(
            request_id=str(row["request_id"]),
            time=row["time"],
            model=str(row["model"]),
            version=int(row["version"]),
            route=str(row["route"]),
            latency_ms=float(row["latency_ms"]),
            prediction=row.get("prediction"),
            probabilities=None if probabilities is None else [float(p) for p in probabilities],
            inputs={k.removeprefix(INPUT_PREFIX): v for k, v in row.items() if k.startswith(INPUT_PREFIX)},
            violations=row.get(VIOLATIONS),
        )


@dataclass(frozen=True)
class GroupTraffic:
    """What one version of a model answered on one route in a time window, from the log.

    Attributes:
        model, version, route: the group.
        rows: rows it answered in the window (0 when it answered only before the window, see ``rows_since``).
        latencies: ``latency_p50_ms``, ``latency_p95_ms`` and ``latency_p99_ms`` over the window's rows.
        error_rate: the share of failed rows (None when the log records answered rows only).
        rows_since: rows it answered since the start asked for it (0 when none was asked).
    """

    model: str
    version: int
    route: str
    rows: int
    latencies: dict[str, float | None] = field(default_factory=dict)
    error_rate: float | None = None
    rows_since: int = 0


class PredictionReader:
    """The written segments of one prediction log folder or bucket prefix (rows still queued in a server are
    not seen).

    Args:
        root: the log folder, or its storage location (a bucket prefix); shared by every server process of a
            project.
    """

    def __init__(self, root: Path | StorageLocation) -> None:
        location = root if isinstance(root, StorageLocation) else open_location(str(Path(root)), Path.cwd())
        self.location = location
        self.tree = LogTree(location)
        #: the local folder, or the bucket URL (without secrets) in messages
        self.root: Path | str = Path(location.root) if location.local else location.describe()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._pid = 0  # the process that opened ``_con``
        self._lock = threading.Lock()

    def files(
        self, model: str | None = None, since: datetime | None = None, until: datetime | None = None
    ) -> list[SegmentRef]:
        """Files that may hold rows of ``model`` in [since, until] (by their date folders): ``Path`` objects
        on a local folder, URLs on a bucket."""
        return self.tree.files(model, since, until)

    def source(self, con: duckdb.DuckDBPyConnection, files: Sequence[SegmentRef]) -> str:
        """A DuckDB table expression over ``files`` from :meth:`files`, usable on ``con`` (a cursor of the
        reader's own connection, whose database reads the bucket already, or any other connection)."""
        return parquet_source(files) if self._registered(con) else self.tree.source(con, files)

    def _registered(self, con: duckdb.DuckDBPyConnection) -> bool:
        """Whether ``con``'s database reads the log's bucket already (DuckDB registers a filesystem once per
        database, under its first protocol, and refuses it a second time)."""
        if self.location.local:
            return False
        protocol = self.location.fs.protocol
        return (protocol if isinstance(protocol, str) else protocol[0]) in con.list_filesystems()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor of the reader's one DuckDB connection, for one read on one thread.

        Opening a connection costs tens of milliseconds, a cursor almost nothing, so the connection is opened
        on first use and kept; a forked child opens its own (a connection does not survive a fork).
        """
        with self._lock:
            if self._con is None or self._pid != os.getpid():
                con = connect()
                con.execute("SET GLOBAL TimeZone = 'UTC'")  # a cursor starts from the global settings
                if not self.location.local:
                    con.register_filesystem(scan_filesystem(self.location))
                self._con, self._pid = con, os.getpid()
            return self._con.cursor()

    def close(self) -> None:
        """Close the reader's DuckDB connection (a later read opens a new one); idempotent."""
        with self._lock:
            if self._con is not None and self._pid == os.getpid():
                self._con.close()
            self._con = None

    def leftovers(self) -> list[SegmentRef]:
        """Temporary segments a writer left when it stopped before renaming them (never read)."""
        return self.tree.leftovers()

    def read(
        self,
        model: str | None,
        since: datetime | None,
        until: datetime | None,
        run: Callable[[duckdb.DuckDBPyConnection, list[SegmentRef]], T],
        empty: T,
    ) -> T:
        """``run(con, files)`` over the files holding [since, until], listed again and retried when one
        vanished before it was read (compaction removed it after merging it into a rollup).

        Args:
            model: the model (every model when None).
            since: the window's start, or None.
            until: the window's end, or None.
            run: the read, given a cursor of the reader's connection (see :meth:`_cursor`) and the files.
            empty: the answer when there are no files.
        """
        for attempt in range(LISTING_ATTEMPTS):
            files = self.files(model, since, until)
            if not files:
                return empty
            con = self._cursor()
            try:
                return run(con, files)
            except duckdb.Error:  # IOException locally; a wrapped FileNotFoundError through fsspec
                if attempt == LISTING_ATTEMPTS - 1 or self.files(model, since, until) == files:
                    raise  # not a file compaction removed: a real failure
            finally:
                con.close()
        return empty  # unreachable: the last attempt returns or raises

    def query(
        self,
        model: str | None = None,
        version: int | None = None,
        route: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        request_ids: Sequence[str] | None = None,
        limit: int | None = None,
        *,
        newest_first: bool = False,
    ) -> pd.DataFrame:
        """Logged rows, oldest first, filtered by model, version, route, time window [since, until) and ids.

        Input columns are named ``input.<column>``. Rows still waiting for the writer are not included
        (call the writer's ``flush`` first to see them). With ``newest_first`` the order is reversed, so
        ``limit`` keeps the newest rows.
        """
        where: list[str] = ["TRUE"]
        params: list[Any] = []
        for column, value in (("model", model), ("version", version), ("route", route)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            where.append("time >= ?")
            params.append(since)
        if until is not None:
            where.append("time < ?")
            params.append(until)
        import pandas as pd  # only reads that return a frame pay for pandas: monitoring does not

        order = "time DESC, request_id DESC" if newest_first else "time, request_id"

        def run(con: duckdb.DuckDBPyConnection, files: list[SegmentRef]) -> pd.DataFrame:
            filters = list(where)
            if request_ids is not None:
                con.register("wanted", pa.table({"request_id": pa.array(list(request_ids), pa.string())}))
                filters.append("request_id IN (SELECT request_id FROM wanted)")
            sql = f"SELECT * FROM {self.source(con, files)} WHERE {' AND '.join(filters)} ORDER BY {order}"
            if limit:
                sql += f" LIMIT {int(limit)}"
            return con.execute(sql, params).df()

        return self.read(model, since, until, run, pd.DataFrame({c: [] for c in BASE_COLUMNS}))

    def traffic(
        self,
        since: datetime,
        until: datetime,
        *,
        model: str | None = None,
        starts: Mapping[Group, datetime] | None = None,
    ) -> list[GroupTraffic]:
        """Per (model, version, route), ordered so: rows, latency percentiles and error rate in
        [since, until), and the rows each group of ``starts`` answered since its own start (such as a canary
        since it went live, earlier or later than ``since``), in one DuckDB scan.

        Args:
            since, until: the window.
            model: only this model's rows (every model's when None).
            starts: groups whose rows since a moment of their own are counted too.
        """
        starts = starts or {}
        earliest = min([since, *starts.values()])
        older = earliest < since  # the scan reaches before the window: the window's figures filter it
        only = "FILTER (WHERE time >= $window)" if older else ""
        parts, params = [], {"since": earliest, "until": until}  # type: list[str], dict[str, Any]
        for i, ((m, version, route), start) in enumerate(starts.items()):
            parts.append(f"(model = $m{i} AND version = $v{i} AND route = $r{i} AND time >= $s{i})")
            params |= {f"m{i}": m, f"v{i}": version, f"r{i}": route, f"s{i}": start}
        params |= ({"window": since} if older else {}) | ({"model": model} if model is not None else {})
        where = "time >= $since AND time < $until" + (" AND model = $model" if model is not None else "")

        def run(con: duckdb.DuckDBPyConnection, files: list[SegmentRef]) -> list[GroupTraffic]:
            source = self.source(con, files)
            columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
            rows = con.execute(
                f"SELECT model, version, route, {traffic_aggregates(columns, only)}, "
                f"count(*) FILTER (WHERE {' OR '.join(parts) or 'FALSE'}) FROM {source} WHERE {where} "
                "GROUP BY model, version, route ORDER BY model, version, route",
                params,
            ).fetchall()
            return [
                GroupTraffic(m, int(v), r, int(n), latencies(pct), None if e is None else float(e), int(c))
                for m, v, r, n, pct, e, c in rows
            ]

        return self.read(model, earliest, until, run, [])

    def wait_for(self, request_ids: Sequence[str], *, timeout: float = 30.0) -> bool:
        """Wait until every id is in a written segment (rows another process logged); False on timeout."""
        wanted = set(request_ids)
        deadline = time.monotonic() + timeout
        while True:
            found = set(self.query(request_ids=list(wanted))["request_id"]) if wanted else set()
            wanted -= found
            if not wanted:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)

    def known_request_ids(self, request_ids: Sequence[str]) -> dict[str, str]:
        """Which of ``request_ids`` are in a written segment, as id → model."""
        if not request_ids:
            return {}
        times = [request_id_time(r) for r in request_ids]
        bounded = all(t is not None for t in times)
        since = min(times) if bounded else None  # type: ignore[type-var]
        until = max(times) if bounded else None  # type: ignore[type-var]

        def run(con: duckdb.DuckDBPyConnection, files: list[SegmentRef]) -> dict[str, str]:
            con.register("wanted", pa.table({"request_id": pa.array(list(request_ids), pa.string())}))
            rows = con.execute(
                f"SELECT DISTINCT request_id, model FROM {self.source(con, files)} "
                "WHERE request_id IN (SELECT request_id FROM wanted)"
            ).fetchall()
            return {rid: model for rid, model in rows}

        return self.read(None, since, until, run, {})

    def find_request(self, request_id: str) -> list[LoggedPrediction]:
        """The rows logged under one request id: the answer, and a shadow's answer to the same request
        when one ran (empty for an id the log does not hold).

        An id made by :class:`~mlfactory.stores.predictions.layout.RequestIds` carries the moment the request
        arrived, which is also its rows' ``time``: only the date folders around it are listed and DuckDB
        skips every row group whose time range misses it, so the search costs about the same in a log of a
        thousand rows or of millions. An id of another form is looked for in every file of the log.
        """
        at = request_id_time(request_id)
        since, until = (at - ID_SLACK, at + ID_SLACK) if at is not None else (None, None)
        where = "request_id = $id" + (" AND time >= $since AND time < $until" if at is not None else "")
        params: dict[str, Any] = {"id": request_id} | ({"since": since, "until": until} if at else {})

        def run(con: duckdb.DuckDBPyConnection, files: list[SegmentRef]) -> list[LoggedPrediction]:
            sql = f"SELECT * FROM {self.source(con, files)} WHERE {where} ORDER BY time, route"
            result = con.execute(sql, params)
            names = [d[0] for d in result.description or ()]
            return [LoggedPrediction.from_row(dict(zip(names, r, strict=True))) for r in result.fetchall()]

        return self.read(None, since, until, run, [])

    def rows_by_route(self, model: str, version: int, since: datetime, until: datetime) -> dict[str, int]:
        """How many rows one version of a model answered on each route in [since, until): one DuckDB count
        over the files of the window (no percentiles, unlike :meth:`traffic`)."""
        params = {"model": model, "version": version, "since": since, "until": until}

        def run(con: duckdb.DuckDBPyConnection, files: list[SegmentRef]) -> dict[str, int]:
            rows = con.execute(
                f"SELECT route, count(*) FROM {self.source(con, files)} WHERE model = $model AND "
                "version = $version AND time >= $since AND time < $until GROUP BY route ORDER BY route",
                params,
            ).fetchall()
            return {str(route): int(n) for route, n in rows}

        return self.read(model, since, until, run, {})

    def with_feedback(self, metadata: MetadataStore, **filters: Any) -> pd.DataFrame:
        """:meth:`query` joined with the true labels received so far (``label``, ``label_received_at`` and
        ``label_source``, who sent it; empty for rows without feedback).

        Args:
            metadata: the store holding the labels.
            **filters: the arguments of :meth:`query`.
        """
        import pandas as pd

        frame = self.query(**filters)
        if frame.empty:
            empty = pd.Series(dtype=object)
            return frame.assign(label=empty, label_received_at=empty, label_source=empty)
        labels = metadata.get_feedback(frame["request_id"].unique().tolist())
        fb = pd.DataFrame(
            {
                "request_id": [f.request_id for f in labels],
                "label": [f.label for f in labels],
                "label_received_at": [f.received_at for f in labels],
                "label_source": [f.actor for f in labels],
            }
        )
        return frame.merge(fb, on="request_id", how="left")
