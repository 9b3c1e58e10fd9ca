"""The prediction log: every answered row, written off the request path as Parquet segments.

Layout: ``<root>/model=<name>/date=<YYYY-MM-DD>/part-<ms>-<process token>-<seq>.parquet``. Each flush writes
one segment per model to a temporary name, fsyncs it, and renames it into place, so readers (DuckDB) only
ever see whole segments, and several server processes can share one folder (their names never collide).

Columns: ``request_id``, ``time`` (UTC, when the request arrived), ``model``, ``version``, ``route``
(``production``, ``canary``, ``ab-v<N>``, ``shadow``, ``alias:<name>`` or ``version``), ``latency_ms``,
``prediction``, ``probabilities`` (in the order of the version's ``signature["classes"]``), and one
``input.<column>`` per model input holding the value as the model saw it (after type coercion). Segments
with rows answered under ``on_invalid_input: flag`` that broke a declared rule also have ``input_violations``:
per row the rules it broke (``n_links: 600 above the declared maximum 500; ...``), null for the others.

Durability guarantee: a row is durable once its segment is renamed into place, which happens at most
``flush_interval`` seconds (default 1 s) after it was answered, plus the time to write the segment. A hard
crash of the server (SIGKILL, OOM kill, power loss) therefore loses at most the rows answered during the last
flush interval and the segment being written at that moment; it never leaves a partial segment that a query
would read. A graceful shutdown (SIGTERM, SIGINT, closing the app) flushes every row before exiting. Rows
beyond ``max_pending_rows`` waiting in memory (a disk that cannot keep up) are dropped and counted in
``stats()["dropped_rows"]`` rather than slowing or failing requests.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import chain, count
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlfactory.registry.inputs import Batch
from mlfactory.stores.metadata import MetadataStore

log = logging.getLogger("mlfactory.serving")
INPUT_PREFIX = "input."
VIOLATIONS = "input_violations"
BASE_COLUMNS = [
    "request_id",
    "time",
    "model",
    "version",
    "route",
    "latency_ms",
    "prediction",
    "probabilities",
]


class RequestIds:
    """Unique, time-ordered ids: 11 hex digits of epoch milliseconds, a per-process token, a row counter."""

    def __init__(self) -> None:
        self.token = secrets.token_hex(3)
        self._next = 0
        self._lock = threading.Lock()

    def make(self, n: int, now: float | None = None) -> list[str]:
        """``n`` new ids (one per row)."""
        with self._lock:
            start, self._next = self._next, (self._next + n) & 0xFFFFFFFF
        base = f"{int((now or time.time()) * 1000):011x}{self.token}"
        return [f"{base}{(start + i) & 0xFFFFFFFF:08x}" for i in range(n)]


def request_id_time(request_id: str) -> datetime | None:
    """When an id from :class:`RequestIds` was made (None for ids of another form)."""
    try:
        return datetime.fromtimestamp(int(request_id[:11], 16) / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return None


@dataclass
class _Chunk:
    model: str
    version: int
    route: str
    time: float
    latency_ms: float
    request_ids: list[str]
    batch: Batch
    predictions: np.ndarray
    probabilities: np.ndarray | None


def _predictions(chunks: Sequence[_Chunk]) -> pa.Array:
    arrays = [np.asarray(c.predictions) for c in chunks]
    merged = np.concatenate(arrays) if len(arrays) > 1 else arrays[0]
    if merged.dtype != object:
        return pa.array(merged)
    try:
        return pa.array(merged.tolist())
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed label types across versions
        return pa.array([None if v is None else str(v) for v in merged.tolist()], pa.string())


def _probabilities(chunks: Sequence[_Chunk]) -> pa.Array:
    widths = {None if c.probabilities is None else np.shape(c.probabilities)[1] for c in chunks}
    if len(widths) == 1 and None not in widths:  # the usual case: one version, one set of classes
        k = int(widths.pop())  # type: ignore[arg-type]
        flat = np.concatenate([np.asarray(c.probabilities, dtype=np.float64).ravel() for c in chunks])
        steps = np.arange(0, len(flat) + 1, k, dtype=np.int32)
        return pa.ListArray.from_arrays(pa.array(steps), pa.array(flat))
    offsets: list[np.ndarray] = [np.zeros(1, dtype=np.int32)]
    values: list[np.ndarray] = []
    nulls: list[np.ndarray] = []
    end = 0
    for c in chunks:
        n = len(c.request_ids)
        if c.probabilities is None:
            offsets.append(np.full(n, end, dtype=np.int32))
            nulls.append(np.ones(n, dtype=bool))
            continue
        p = np.asarray(c.probabilities, dtype=np.float64)
        k = p.shape[1]
        offsets.append((end + k * np.arange(1, n + 1)).astype(np.int32))
        values.append(p.ravel())
        nulls.append(np.zeros(n, dtype=bool))
        end += n * k
    flat = np.concatenate(values) if values else np.zeros(0)
    mask = np.concatenate(nulls)
    return pa.ListArray.from_arrays(
        pa.array(np.concatenate(offsets)), pa.array(flat), mask=pa.array(mask) if mask.any() else None
    )


def _input_column(chunks: Sequence[_Chunk], name: str) -> pa.Array:
    parts = []
    for c in chunks:
        n = len(c.request_ids)
        col = c.batch.columns.get(name) if name in c.batch.names else None
        parts.append(np.full(n, None, dtype=object) if col is None else col)
    kinds = {p.dtype.kind for p in parts}
    if kinds <= {"f"}:
        return pa.array(np.concatenate(parts), from_pandas=True)
    if kinds <= {"M"}:
        return pa.array(np.concatenate(parts))
    merged = np.concatenate([p.astype(object) for p in parts])
    try:
        return pa.array(merged, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in merged], pa.string())


def _violations(chunks: Sequence[_Chunk]) -> pa.Array:
    texts: list[str | None] = []
    for c in chunks:
        flagged = c.batch.violations
        if flagged is None:
            texts.extend([None] * len(c.request_ids))
        else:
            texts.extend("; ".join(v) if v else None for v in flagged.tolist())
    return pa.array(texts, pa.string())


def _table(chunks: Sequence[_Chunk]) -> pa.Table:
    sizes = [len(c.request_ids) for c in chunks]
    times = np.repeat(np.array([int(c.time * 1_000_000) for c in chunks], dtype=np.int64), sizes)
    columns: dict[str, pa.Array] = {
        "request_id": pa.array(list(chain.from_iterable(c.request_ids for c in chunks)), pa.string()),
        "time": pa.array(times, pa.timestamp("us", tz="UTC")),
        "model": pa.array(np.repeat(np.array([c.model for c in chunks], dtype=object), sizes), pa.string()),
        "version": pa.array(np.repeat(np.array([c.version for c in chunks], dtype=np.int32), sizes)),
        "route": pa.array(np.repeat(np.array([c.route for c in chunks], dtype=object), sizes), pa.string()),
        "latency_ms": pa.array(np.repeat(np.array([c.latency_ms for c in chunks], dtype=np.float32), sizes)),
        "prediction": _predictions(chunks),
        "probabilities": _probabilities(chunks),
    }
    if any(c.batch.violations is not None for c in chunks):
        columns[VIOLATIONS] = _violations(chunks)
    first = chunks[0].batch.names
    if all(c.batch.matrix is not None and c.batch.names == first for c in chunks):  # numeric models
        matrix = np.concatenate([c.batch.matrix for c in chunks])  # type: ignore[misc]
        for j, name in enumerate(first):
            columns[INPUT_PREFIX + name] = pa.array(np.ascontiguousarray(matrix[:, j]), from_pandas=True)
        return pa.table(columns)
    names: dict[str, None] = {}
    for c in chunks:
        names.update(dict.fromkeys(c.batch.names))
    for name in names:
        columns[INPUT_PREFIX + name] = _input_column(chunks, name)
    return pa.table(columns)


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


class PredictionLog:
    """Append rows from request handlers; a background thread writes them as Parquet segments.

    Args:
        root: the log folder (shared by every server process of a project).
        flush_interval: seconds between segment writes; bounds what a hard crash can lose.
        max_pending_rows: rows held in memory before new ones are dropped (and counted).
    """

    def __init__(self, root: Path, *, flush_interval: float = 1.0, max_pending_rows: int = 2_000_000) -> None:
        self.root = Path(root)
        self.flush_interval = flush_interval
        self.max_pending_rows = max_pending_rows
        self.ids = RequestIds()
        self._pending: list[_Chunk] = []
        self._writing: list[_Chunk] = []
        self._pending_rows = 0
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._seq = count()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stats = {"written_rows": 0, "dropped_rows": 0, "segments": 0, "write_errors": 0}

    # -- writing --------------------------------------------------------------------------------------

    def start(self) -> PredictionLog:
        """Start the background writer (idempotent)."""
        if self._thread is None:
            self.root.mkdir(parents=True, exist_ok=True)
            self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
            self._thread.start()
        return self

    def append(
        self,
        *,
        model: str,
        version: int,
        route: str,
        time: float,
        latency_ms: float,
        request_ids: list[str],
        batch: Batch,
        predictions: np.ndarray,
        probabilities: np.ndarray | None,
    ) -> bool:
        """Queue answered rows for the next segment; False when they were dropped (writer behind)."""
        chunk = _Chunk(
            model, version, route, time, latency_ms, request_ids, batch, predictions, probabilities
        )
        n = len(request_ids)
        with self._lock:
            if self._pending_rows + n > self.max_pending_rows:
                self._stats["dropped_rows"] += n
                return False
            self._pending.append(chunk)
            self._pending_rows += n
        return True

    def flush(self) -> int:
        """Write every queued row now; returns how many rows were written."""
        with self._write_lock:
            with self._lock:
                chunks, self._pending, self._pending_rows = self._pending, [], 0
                self._writing = chunks  # still answerable by known_request_ids until their segment exists
            if not chunks:
                return 0
            by_model: dict[str, list[_Chunk]] = {}
            for c in chunks:
                by_model.setdefault(c.model, []).append(c)
            written = 0
            for model, group in by_model.items():
                try:
                    self._write(model, group)
                except Exception:
                    log.exception(
                        "prediction log: writing %d rows of %s failed; retrying at the next flush",
                        sum(len(c.request_ids) for c in group),
                        model,
                    )
                    self._stats["write_errors"] += 1
                    with self._lock:
                        self._pending[:0] = group
                        self._pending_rows += sum(len(c.request_ids) for c in group)
                    continue
                written += sum(len(c.request_ids) for c in group)
            with self._lock:
                self._writing = []
            self._stats["written_rows"] += written
            return written

    def _write(self, model: str, chunks: Sequence[_Chunk]) -> None:
        table = _table(chunks)
        now = datetime.now(UTC)
        folder = self.root / f"model={model}" / f"date={now:%Y-%m-%d}"
        folder.mkdir(parents=True, exist_ok=True)
        stamp = int(now.timestamp() * 1000)
        name = f"part-{stamp:013d}-{os.getpid()}{self.ids.token}-{next(self._seq):06d}.parquet"
        tmp = folder / f".tmp-{name}"
        with open(tmp, "wb") as f:
            pq.write_table(table, f, compression="zstd", compression_level=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, folder / name)
        self._stats["segments"] += 1

    def _run(self) -> None:
        while not self._stop.wait(self.flush_interval):
            self.flush()
        self.flush()

    def close(self) -> None:
        """Stop the writer after flushing every queued row."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {**self._stats, "pending_rows": self._pending_rows}

    # -- reading --------------------------------------------------------------------------------------

    def files(
        self, model: str | None = None, since: datetime | None = None, until: datetime | None = None
    ) -> list[Path]:
        """Segments that may hold rows of ``model`` in [since, until] (by their date folders)."""
        if not self.root.exists():
            return []
        models = [self.root / f"model={model}"] if model else sorted(self.root.glob("model=*"))
        lo = (since - timedelta(days=1)).date() if since else None
        hi = (until + timedelta(days=1)).date() if until else None
        out: list[Path] = []
        for m in models:
            for day in sorted(m.glob("date=*")):
                try:
                    d = datetime.strptime(day.name.removeprefix("date="), "%Y-%m-%d").date()
                except ValueError:
                    continue
                if (lo and d < lo) or (hi and d > hi):
                    continue
                out.extend(sorted(day.glob("part-*.parquet")))
        return out

    def query(
        self,
        model: str | None = None,
        version: int | None = None,
        route: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        request_ids: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """Logged rows, oldest first, filtered by model, version, route, time window [since, until) and ids.

        Input columns are named ``input.<column>``. Rows still waiting for the writer are not included
        (call :meth:`flush` first to see them).
        """
        files = self.files(model, since, until)
        if not files:
            return pd.DataFrame({c: [] for c in BASE_COLUMNS})
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
        con = duckdb.connect()
        try:
            if request_ids is not None:
                con.register("wanted", pa.table({"request_id": pa.array(list(request_ids), pa.string())}))
                where.append("request_id IN (SELECT request_id FROM wanted)")
            sql = (
                f"SELECT * FROM read_parquet([{', '.join(_quote(f) for f in files)}], union_by_name=true) "
                f"WHERE {' AND '.join(where)} ORDER BY time, request_id"
            )
            if limit:
                sql += f" LIMIT {int(limit)}"
            return con.execute(sql, params).df()
        finally:
            con.close()

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
        """Which of ``request_ids`` were logged, as id → model (queued rows included)."""
        wanted = set(request_ids)
        found: dict[str, str] = {}
        with self._lock:
            for c in [*self._writing, *self._pending]:
                for rid in wanted.intersection(c.request_ids):
                    found[rid] = c.model
        rest = list(wanted - found.keys())
        if not rest:
            return found
        times = [request_id_time(r) for r in rest]
        bounded = all(t is not None for t in times)
        since = min(times) if bounded else None  # type: ignore[type-var]
        until = max(times) if bounded else None  # type: ignore[type-var]
        files = self.files(None, since, until)
        if not files:
            return found
        con = duckdb.connect()
        try:
            con.register("wanted", pa.table({"request_id": pa.array(rest, pa.string())}))
            rows = con.execute(
                "SELECT DISTINCT request_id, model FROM read_parquet(["
                f"{', '.join(_quote(f) for f in files)}], "
                "union_by_name=true) WHERE request_id IN (SELECT request_id FROM wanted)"
            ).fetchall()
        finally:
            con.close()
        found.update({rid: model for rid, model in rows})
        return found

    def with_feedback(self, metadata: MetadataStore, **filters: Any) -> pd.DataFrame:
        """:meth:`query` joined with the true labels received so far (``label``, ``label_received_at`` and
        ``label_source``, who sent it; empty for rows without feedback)."""
        frame = self.query(**filters)
        if frame.empty:
            empty = pd.Series(dtype=object)
            return frame.assign(label=empty, label_received_at=empty, label_source=empty)
        labels = metadata.get_feedback(frame["request_id"].unique().tolist())
        fb = pd.DataFrame(
            {
                "request_id": [f["request_id"] for f in labels],
                "label": [f["label"] for f in labels],
                "label_received_at": [f["received_at"] for f in labels],
                "label_source": [f["actor"] for f in labels],
            }
        )
        return frame.merge(fb, on="request_id", how="left")
