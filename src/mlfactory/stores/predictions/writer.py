"""Writing the prediction log: every answered row, off the request path, as Parquet segments.

Each flush writes one segment per model, whole or not at all: on a local folder to a temporary name, fsynced
and renamed into place; on a bucket as one PUT of the finished Parquet bytes to its final key (see
:mod:`.layout`).

Durability guarantee: a row is durable once its segment is in place (renamed, or its PUT answered), which
happens at most ``flush_interval`` seconds (default 1 s) after it was answered, plus the time to write the
segment. A hard crash of the server (SIGKILL, OOM kill, power loss) therefore loses at most the rows answered
during the last flush interval and the segment being written at that moment; it never leaves a partial
segment that a query would read. A graceful shutdown (SIGTERM, SIGINT, closing the app) flushes every row
before exiting.

Rows are turned into Arrow a little at a time: between flushes the writer converts what has queued so far
(every ``flush_interval / STAGE_STEPS``), so a flush only joins those parts and writes them, rather than
building a whole second of rows at once while request handlers wait for the GIL. (Encoding the Parquet file
and writing it do not hold the GIL: pyarrow releases it.) A flush still writes every row queued before it, in
the order answered; staging changes when rows are converted, never when they are durable.

When the storage is down (an unreachable bucket, an unwritable folder), requests are still answered and
their rows are held in memory: the segment that failed keeps its name and folder, and is tried again at
every flush, before anything else, until it is written (so a PUT whose answer was lost is written again to
the same key, never as a second copy); rows answered meanwhile wait and go into the segments written right
after it. Rows held (waiting or being written) never exceed ``max_pending_rows``: beyond it new rows are
dropped and counted in ``stats()["dropped_rows"]`` rather than slowing or failing requests. So are rows still
held when the log is closed during an outage, and rows no segment can encode (a defect that retrying cannot
mend: logged, never left to block the rows behind them). The log tells its watchers
(:meth:`PredictionLog.watch`) once when writing starts failing and once when it recovers, with the rows held
and dropped, and says the same at any time through :meth:`PredictionLog.health`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from time import monotonic

import numpy as np
import pyarrow as pa

from mlfactory.stores.fs import StorageLocation
from mlfactory.stores.predictions.layout import RequestIds, day_dir, model_dir, segment_name
from mlfactory.stores.predictions.reader import PredictionReader
from mlfactory.stores.predictions.segment import Chunk, LoggedInputs, segment_table

log = logging.getLogger("mlfactory.serving")  # servers write it: its lines keep the name they always had
STAGE_STEPS = 5  # conversions to Arrow per flush interval (the last one is the flush itself)


@dataclass(frozen=True)
class WriteHealth:
    """Whether the log's storage takes segments, and what an outage has cost so far.

    Attributes:
        ok: the last write the log tried succeeded (True before the first).
        failing_since: when the first write of the current (or, in a recovery notice, the ended) outage
            failed; None when ok and no outage ended.
        error: the latest write error of that outage.
        failed_writes: write attempts that failed during that outage.
        held_rows: rows in memory now, waiting to be written.
        dropped_rows: rows dropped during that outage (the log was full), counted from the last flush that
            wrote everything it held before it, since the outage may have begun any time after that one.
        written_rows: rows written by the flush that ended the outage (recovery notices only).
    """

    ok: bool
    failing_since: datetime | None = None
    error: str | None = None
    failed_writes: int = 0
    held_rows: int = 0
    dropped_rows: int = 0
    written_rows: int = 0


Watcher = Callable[[WriteHealth], None]


@dataclass
class _Outage:
    since: datetime
    error: str
    dropped_before: int  # the log's dropped_rows when it began
    failed_writes: int = 1


@dataclass
class _Staged:
    """Queued rows of one model converted to Arrow ahead of the flush (``table`` None until then, or when
    they cannot be encoded: the flush then encodes the whole segment and reports it)."""

    model: str
    chunks: list[Chunk]
    table: pa.Table | None = None


@dataclass
class _Segment:
    """Rows of one model sealed into one segment, its folder and name fixed at sealing."""

    folder: str
    name: str
    chunks: list[Chunk] = field(default_factory=list)
    parts: list[pa.Table | None] = field(default_factory=list)  # staged tables of the first chunks

    @property
    def rows(self) -> int:
        return sum(len(c.request_ids) for c in self.chunks)

    def table(self) -> pa.Table:
        """The segment's rows as one table: the staged parts joined, the rest converted now (all of them
        converted again if a part is missing or the parts' columns do not join)."""
        staged = sum(p.num_rows for p in self.parts if p is not None)
        if self.parts and None not in self.parts:
            rest = _rest(self.chunks, staged)
            try:
                tables = [*self.parts, *([segment_table(rest)] if rest else [])]
                return pa.concat_tables(tables, promote_options="permissive")
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                pass  # e.g. answers of different types in two parts: one conversion settles them
        return segment_table(self.chunks)


def _rest(chunks: list[Chunk], skip_rows: int) -> list[Chunk]:
    """The chunks after the first ``skip_rows`` rows (parts always hold whole chunks)."""
    for i, c in enumerate(chunks):
        if skip_rows <= 0:
            return chunks[i:]
        skip_rows -= len(c.request_ids)
    return []


class PredictionLog(PredictionReader):
    """Append rows from request handlers; a background thread writes them as Parquet segments.

    It reads like :class:`PredictionReader`, and also finds rows still held in this process.

    Args:
        root: the log folder, or its storage location (shared by every server process of a project).
        flush_interval: seconds between segment writes; bounds what a hard crash can lose.
        max_pending_rows: rows held in memory (waiting, or unwritten while storage is down) before new ones
            are dropped (and counted).
    """

    def __init__(
        self, root: Path | StorageLocation, *, flush_interval: float = 1.0, max_pending_rows: int = 2_000_000
    ) -> None:
        super().__init__(root)
        self.flush_interval = flush_interval
        self.max_pending_rows = max_pending_rows
        self.ids = RequestIds()
        self._pending: list[Chunk] = []
        self._staged: list[_Staged] = []  # queued before _pending, being or already converted to Arrow
        self._sealed: list[_Segment] = []  # oldest first; written in order
        self._held_rows = 0  # rows in _pending, _staged and _sealed
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._seq = count()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stats = {"written_rows": 0, "dropped_rows": 0, "segments": 0, "write_errors": 0}
        self._outage: _Outage | None = None
        self._dropped_at_seal = 0  # dropped_rows when the queued rows were last sealed
        self._dropped_before = 0  # ... at the last seal whose rows were then all written
        self._watchers: list[Watcher] = []

    @property
    def writer(self) -> str:
        """This process's token in segment names (its pid and request-id token)."""
        return f"{os.getpid()}{self.ids.token}"

    def start(self) -> PredictionLog:
        """Start the background writer (idempotent)."""
        if self._thread is None:
            if self.location.local:
                try:
                    os.makedirs(self.location.root, exist_ok=True)
                except OSError as exc:  # serve anyway: the writes report the outage, and retry
                    log.warning("prediction log: cannot create %s yet: %s", self.location.root, exc)
            self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
            self._thread.start()
        return self

    def watch(self, watcher: Watcher) -> None:
        """Call ``watcher`` (on the writer's thread) when writing starts failing and when it recovers."""
        self._watchers.append(watcher)

    def append(
        self,
        *,
        model: str,
        version: int,
        route: str,
        time: float,
        latency_ms: float,
        request_ids: list[str],
        batch: LoggedInputs,
        predictions: np.ndarray,
        probabilities: np.ndarray | None,
    ) -> bool:
        """Queue answered rows for the next segment; False when they were dropped (the log is full).

        Args:
            model: the model's name.
            version: the version that answered.
            route: how the request reached it (``production``, ``canary``, ``shadow``, ...).
            time: when the request arrived, in epoch seconds.
            latency_ms: how long the answer took.
            request_ids: one id per row.
            batch: the rows' inputs as the model saw them.
            predictions: one answer per row.
            probabilities: one row of class probabilities per row, or None.
        """
        chunk = Chunk(model, version, route, time, latency_ms, request_ids, batch, predictions, probabilities)
        n = len(request_ids)
        with self._lock:
            if self._held_rows + n > self.max_pending_rows:
                self._stats["dropped_rows"] += n
                return False
            self._pending.append(chunk)
            self._held_rows += n
        return True

    def flush(self) -> int:
        """Write the segments held since a failure, then every queued row; returns how many rows were written.

        Stops at the first segment the storage refuses: it and everything after it stay held for the next
        flush.
        """
        with self._write_lock:
            written, ok = self._write_sealed()
            if ok:
                self._seal_pending()
                more, ok = self._write_sealed()
                written += more
            self._stats["written_rows"] += written
            if ok and self._outage is not None:
                self._recovered(written)
            if ok:  # everything held when it sealed is written: a later outage counts its drops from there
                self._dropped_before = self._dropped_at_seal
            return written

    def stage(self) -> None:
        """Convert the rows queued so far to Arrow, one table per model, ahead of the next flush (not while
        the storage refuses writes: the rows then wait as they are)."""
        if self._outage is not None:
            return
        with self._write_lock:
            with self._lock:
                chunks, self._pending = self._pending, []
                by_model: dict[str, _Staged] = {}
                for c in chunks:
                    by_model.setdefault(c.model, _Staged(c.model, [])).chunks.append(c)
                self._staged.extend(by_model.values())  # still held, found and counted while converting
            for part in by_model.values():
                try:
                    part.table = segment_table(part.chunks)
                except Exception:  # left to the flush, which encodes the segment whole and reports it
                    part.table = None

    def _seal_pending(self) -> None:
        """Turn the staged and queued rows into one segment per model, named now."""
        with self._lock:
            staged, self._staged = self._staged, []
            chunks, self._pending = self._pending, []
            self._dropped_at_seal = self._stats["dropped_rows"]
            now = datetime.now(UTC)
            by_model: dict[str, _Segment] = {}

            def segment(model: str) -> _Segment:
                if model not in by_model:
                    folder = self.tree.path(model_dir(model), day_dir(now.date()))
                    name = segment_name(int(now.timestamp() * 1000), self.writer, next(self._seq))
                    by_model[model] = _Segment(folder, name)
                return by_model[model]

            for part in staged:
                segment(part.model).chunks.extend(part.chunks)
                segment(part.model).parts.append(part.table)
            for c in chunks:
                segment(c.model).chunks.append(c)
            self._sealed.extend(by_model.values())

    def _write_sealed(self) -> tuple[int, bool]:
        """Write the sealed segments in order: the rows written, and False when the storage refused one."""
        written = 0
        while self._sealed:  # only this thread (holding the write lock) removes from it
            segment = self._sealed[0]
            try:
                table = segment.table()
            except Exception:  # rows no segment can hold: a defect, not an outage; retrying cannot help
                log.exception(
                    "prediction log: %d rows for %s cannot be encoded; dropped", segment.rows, segment.folder
                )
                self._release(segment, dropped=True)
                continue
            try:
                self.tree.put_table(segment.folder, segment.name, table)
            except Exception as exc:
                self._failed(segment, exc)
                return written, False
            self._stats["segments"] += 1
            written += segment.rows
            self._release(segment, dropped=False)
        return written, True

    def _release(self, segment: _Segment, *, dropped: bool) -> None:
        with self._lock:
            self._sealed.remove(segment)
            self._held_rows -= segment.rows
            if dropped:
                self._stats["dropped_rows"] += segment.rows

    def _failed(self, segment: _Segment, exc: Exception) -> None:
        """Count a refused write; the first of an outage is logged (with its cause) and told to watchers."""
        self._stats["write_errors"] += 1
        error = f"{type(exc).__name__}: {exc}"
        if self._outage is not None:
            self._outage.failed_writes += 1
            self._outage.error = error
            log.debug("prediction log: writing %s failed again: %s", segment.name, error)
            return
        self._outage = _Outage(datetime.now(UTC), error, self._dropped_before)
        log.error(
            "prediction log: writing %d rows of %s failed; answering on and holding rows in memory (at most "
            "%d) until the storage takes them again",
            segment.rows,
            segment.folder,
            self.max_pending_rows,
            exc_info=exc,
        )
        self._tell(self.health())

    def _recovered(self, written: int) -> None:
        """End the outage: logged once and told to watchers, with what it cost."""
        notice = replace(self.health(), ok=True, written_rows=written)
        self._outage = None
        log.warning(
            "prediction log: writing works again after %d failed writes since %s; %d held rows written, %d "
            "dropped",
            notice.failed_writes,
            notice.failing_since,
            written,
            notice.dropped_rows,
        )
        self._tell(notice)

    def _tell(self, notice: WriteHealth) -> None:
        for watcher in self._watchers:
            try:
                watcher(notice)
            except Exception:  # a watcher must never stop the writer
                log.exception("prediction log: a watcher of its write health failed")

    def health(self) -> WriteHealth:
        """Whether writing works now and, during an outage, since when, why, and the rows held and dropped."""
        with self._lock:
            held, dropped = self._held_rows, self._stats["dropped_rows"]
        outage = self._outage
        if outage is None:
            return WriteHealth(ok=True, held_rows=held)
        return WriteHealth(
            ok=False,
            failing_since=outage.since,
            error=outage.error,
            failed_writes=outage.failed_writes,
            held_rows=held,
            dropped_rows=dropped - outage.dropped_before,
        )

    def _run(self) -> None:
        step = self.flush_interval / STAGE_STEPS
        due = monotonic() + self.flush_interval
        while not self._stop.wait(max(0.0, min(step, due - monotonic()))):
            if monotonic() >= due:
                self.flush()
                due = monotonic() + self.flush_interval
            else:
                self.stage()
        self.flush()

    def close(self) -> None:
        """Stop the writer after flushing every held row; rows the storage still refuses are dropped, counted
        and logged."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()
        with self._write_lock, self._lock:
            lost, self._pending, self._staged, self._sealed = self._held_rows, [], [], []
            self._held_rows = 0
            self._stats["dropped_rows"] += lost
        if lost:
            log.error("prediction log: closed with %d rows its storage did not take; they are lost", lost)

    def stats(self) -> dict[str, int]:
        """Rows written, dropped and held (``pending_rows``), segments written, failed writes, and whether
        writing fails now (``failing``, 0 or 1), since this log opened."""
        with self._lock:
            return {**self._stats, "pending_rows": self._held_rows, "failing": int(self._outage is not None)}

    def known_request_ids(self, request_ids: Sequence[str]) -> dict[str, str]:
        """Which of ``request_ids`` were logged, as id → model (rows held in memory included)."""
        wanted = set(request_ids)
        found: dict[str, str] = {}
        with self._lock:
            held = [c for s in self._sealed for c in s.chunks]
            held += [c for part in self._staged for c in part.chunks] + self._pending
        for c in held:
            for rid in wanted.intersection(c.request_ids):
                found[rid] = c.model
        rest = list(wanted - found.keys())
        if rest:
            found.update(super().known_request_ids(rest))
        return found
