"""Writing the prediction log: every answered row, off the request path, as Parquet segments.

Each flush writes one segment per model, whole or not at all: on a local folder to a temporary name, fsynced
and renamed into place; on a bucket as one PUT of the finished Parquet bytes to its final key (see
:mod:`.layout`).

Durability guarantee: a row is durable once its segment is in place (renamed, or its PUT answered), which
happens at most ``flush_interval`` seconds (default 1 s) after it was answered, plus the time to write the
segment. A hard crash of the server (SIGKILL, OOM kill, power loss) therefore loses at most the rows answered
during the last flush interval and the segment being written at that moment; it never leaves a partial
segment that a query would read. A graceful shutdown (SIGTERM, SIGINT, closing the app) flushes every row
before exiting. Rows beyond ``max_pending_rows`` waiting in memory (storage that cannot keep up) are dropped
and counted in ``stats()["dropped_rows"]`` rather than slowing or failing requests.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import count
from pathlib import Path

import numpy as np

from mlfactory.stores.fs import StorageLocation
from mlfactory.stores.predictions.layout import RequestIds, day_dir, model_dir, segment_name
from mlfactory.stores.predictions.reader import PredictionReader
from mlfactory.stores.predictions.segment import Chunk, LoggedInputs, segment_table

log = logging.getLogger("mlfactory.serving")  # servers write it: its lines keep the name they always had


class PredictionLog(PredictionReader):
    """Append rows from request handlers; a background thread writes them as Parquet segments.

    It reads like :class:`PredictionReader`, and also finds rows still queued in this process.

    Args:
        root: the log folder, or its storage location (shared by every server process of a project).
        flush_interval: seconds between segment writes; bounds what a hard crash can lose.
        max_pending_rows: rows held in memory before new ones are dropped (and counted).
    """

    def __init__(
        self, root: Path | StorageLocation, *, flush_interval: float = 1.0, max_pending_rows: int = 2_000_000
    ) -> None:
        super().__init__(root)
        self.flush_interval = flush_interval
        self.max_pending_rows = max_pending_rows
        self.ids = RequestIds()
        self._pending: list[Chunk] = []
        self._writing: list[Chunk] = []
        self._pending_rows = 0
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._seq = count()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stats = {"written_rows": 0, "dropped_rows": 0, "segments": 0, "write_errors": 0}

    def start(self) -> PredictionLog:
        """Start the background writer (idempotent)."""
        if self._thread is None:
            if self.location.local:
                os.makedirs(self.location.root, exist_ok=True)
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
        batch: LoggedInputs,
        predictions: np.ndarray,
        probabilities: np.ndarray | None,
    ) -> bool:
        """Queue answered rows for the next segment; False when they were dropped (writer behind).

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
            by_model: dict[str, list[Chunk]] = {}
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

    def _write(self, model: str, chunks: Sequence[Chunk]) -> None:
        table = segment_table(chunks)
        now = datetime.now(UTC)
        folder = self.tree.path(model_dir(model), day_dir(now.date()))
        name = segment_name(int(now.timestamp() * 1000), f"{os.getpid()}{self.ids.token}", next(self._seq))
        self.tree.put_table(folder, name, table)
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
        """Rows written, dropped and pending, segments written and write errors, since this log opened."""
        with self._lock:
            return {**self._stats, "pending_rows": self._pending_rows}

    def known_request_ids(self, request_ids: Sequence[str]) -> dict[str, str]:
        """Which of ``request_ids`` were logged, as id → model (queued rows included)."""
        wanted = set(request_ids)
        found: dict[str, str] = {}
        with self._lock:
            for c in [*self._writing, *self._pending]:
                for rid in wanted.intersection(c.request_ids):
                    found[rid] = c.model
        rest = list(wanted - found.keys())
        if rest:
            found.update(super().known_request_ids(rest))
        return found
