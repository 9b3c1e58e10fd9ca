"""The prediction log while its storage refuses writes: rows held (bounded), retried to the same segment name,
written once storage returns, drops counted exactly, one notice when writing fails and one when it recovers.

The storage failure here is real: the log's folder sits under a path whose parent is a plain file, so every
write fails with the operating system's error until the file is removed.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from mlfactory.inputs import Batch
from mlfactory.serving.recording import LOG_FAILING, LOG_RECOVERED, LogOutageEvents
from mlfactory.stores import MetadataStore
from mlfactory.stores.predictions import PredictionLog, tree
from mlfactory.stores.predictions.segment import segment_table
from mlfactory.stores.predictions.writer import WriteHealth


def _append(log: PredictionLog, n: int, model: str = "spam") -> tuple[list[str], bool]:
    ids = log.ids.make(n)
    taken = log.append(
        model=model,
        version=1,
        route="production",
        time=datetime.now(UTC).timestamp(),
        latency_ms=1.0,
        request_ids=ids,
        batch=Batch(["x"], matrix=np.arange(n, dtype=float).reshape(n, 1)),
        predictions=np.zeros(n, dtype=np.int64),
        probabilities=None,
    )
    return ids, taken


class Blocked:
    """A log folder that cannot be created while a plain file sits where its parent folder should be
    (blocked from the start)."""

    def __init__(self, tmp_path: Path) -> None:
        self.parent = tmp_path / "store"
        self.root = self.parent / "log"
        self.block()

    def block(self) -> None:
        """Replace the folder, and everything written in it, by a plain file."""
        if self.parent.is_dir():
            shutil.rmtree(self.parent)
        self.parent.write_text("not a folder")

    def lift(self) -> None:
        self.parent.unlink()


def _data_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.parquet") if not p.name.startswith(".tmp-"))


def test_rows_are_held_through_an_outage_and_written_after_it(tmp_path: Path) -> None:
    store = Blocked(tmp_path)
    log = PredictionLog(store.root)
    notices: list[WriteHealth] = []
    log.watch(notices.append)
    first, _ = _append(log, 3)
    assert log.flush() == 0
    later, _ = _append(log, 4)
    for _ in range(3):
        assert log.flush() == 0
    assert [n.ok for n in notices] == [False]  # one notice for the whole outage, not one per failed write
    health = log.health()
    assert not health.ok and health.failed_writes == 4 and health.held_rows == 7
    assert "NotADirectoryError" in (health.error or "")
    assert log.stats()["failing"] == 1 and log.stats()["write_errors"] == 4
    assert log.known_request_ids([*first, *later]) == dict.fromkeys([*first, *later], "spam")

    store.lift()
    assert log.flush() == 7
    assert [n.ok for n in notices] == [False, True]
    recovered = notices[1]
    assert (recovered.written_rows, recovered.dropped_rows, recovered.failed_writes) == (7, 0, 4)
    assert recovered.failing_since == notices[0].failing_since
    assert log.health() == WriteHealth(ok=True)
    assert log.stats()["failing"] == 0 and log.stats()["pending_rows"] == 0
    assert sorted(log.query()["request_id"]) == sorted(first + later)
    # the segment that failed was written under the name it had at its first try; the rows answered during
    # the outage went into one more segment, whatever the number of failed flushes
    assert len(_data_files(store.root)) == 2


def test_beyond_the_bound_rows_are_dropped_and_counted_exactly(tmp_path: Path) -> None:
    store = Blocked(tmp_path)
    log = PredictionLog(store.root, max_pending_rows=1000)
    notices: list[WriteHealth] = []
    log.watch(notices.append)
    kept, _ = _append(log, 600)
    log.flush()  # fails: the 600 rows stay held, in their segment
    more, _ = _append(log, 300)
    lost, taken = _append(log, 200)  # 600 + 300 + 200 > 1000
    assert not taken
    last, _ = _append(log, 100)  # exactly at the bound: still held
    _, taken = _append(log, 1)
    assert not taken
    assert log.health().held_rows == 1000 and log.health().dropped_rows == 201
    log.flush()
    assert notices[-1].ok is False  # still down
    store.lift()
    assert log.flush() == 1000
    assert notices[-1].ok and notices[-1].dropped_rows == 201 and notices[-1].written_rows == 1000
    assert log.stats()["dropped_rows"] == 201 and log.stats()["written_rows"] == 1000
    logged = set(log.query()["request_id"])
    assert logged == set(kept + more + last) and not logged & set(lost)


def test_a_write_that_fails_halfway_leaves_nothing_a_reader_sees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk that fills while a segment is written: the partial file is only ever the temporary one, and
    the retry writes the same segment whole."""
    root = tmp_path / "log"
    log = PredictionLog(root)
    ids, _ = _append(log, 50)
    real = pq.write_table

    def half_then_full(table: Any, where: Any, **kwargs: Any) -> None:
        where.write(b"PAR1 partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq, "write_table", half_then_full)
    assert log.flush() == 0
    assert _data_files(root) == [] and log.query().empty
    temporary = [p for p in root.rglob("*") if p.is_file()]
    assert len(temporary) == 1 and temporary[0].name.startswith(".tmp-")
    monkeypatch.setattr(pq, "write_table", real)
    assert log.flush() == 50
    assert [p.name for p in root.rglob("*") if p.is_file()] == [temporary[0].name.removeprefix(".tmp-")]
    assert pq.read_table(_data_files(root)[0]).column("request_id").to_pylist() == ids


def test_a_write_whose_answer_was_lost_is_not_logged_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The storage took the segment but the answer never came back: the retry rewrites the same file."""
    root = tmp_path / "log"
    log = PredictionLog(root)
    ids, _ = _append(log, 5)
    real = tree.LogTree.put_table

    def taken_then_timeout(self: tree.LogTree, folder: str, name: str, table: Any) -> None:
        real(self, folder, name, table)
        raise TimeoutError("the storage did not answer")

    monkeypatch.setattr(tree.LogTree, "put_table", taken_then_timeout)
    assert log.flush() == 0
    monkeypatch.setattr(tree.LogTree, "put_table", real)
    assert log.flush() == 5
    assert sorted(log.query()["request_id"]) == sorted(ids)
    assert len(_data_files(root)) == 1


def test_rows_still_held_at_close_are_counted_as_dropped(tmp_path: Path) -> None:
    store = Blocked(tmp_path)
    log = PredictionLog(store.root, flush_interval=0.05).start()
    _append(log, 7)
    log.close()
    stats = log.stats()
    assert (stats["dropped_rows"], stats["pending_rows"], stats["written_rows"]) == (7, 0, 0)


def test_outages_become_two_events(tmp_path: Path, metadata: MetadataStore) -> None:
    store = Blocked(tmp_path)
    log = PredictionLog(store.root, max_pending_rows=1000)
    LogOutageEvents.watching(log, metadata, "server")
    _append(log, 900)
    for _ in range(5):
        log.flush()
    _append(log, 200)  # dropped
    store.lift()
    log.flush()
    events = metadata.list_events(kinds=[LOG_FAILING, LOG_RECOVERED])
    assert [e.kind for e in events] == [LOG_FAILING, LOG_RECOVERED]
    failing, recovered = events
    assert failing.payload["held_rows"] == 900 and failing.payload["writer"] == log.writer
    assert "NotADirectoryError" in failing.reason
    assert recovered.payload["written_rows"] == 900 and recovered.payload["dropped_rows"] == 200
    assert recovered.payload["failed_writes"] == 5 and recovered.actor == "server"


def test_rows_dropped_while_the_first_failing_write_runs_belong_to_the_outage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Storage that hangs before refusing: requests keep coming meanwhile, and the rows dropped then are the
    outage's."""
    log = PredictionLog(tmp_path / "log", max_pending_rows=1000)
    notices: list[WriteHealth] = []
    log.watch(notices.append)
    _append(log, 900)

    def full_then_refused(self: tree.LogTree, folder: str, name: str, table: Any) -> None:
        _append(log, 300)  # answered while the write hangs: over the bound
        raise ConnectionRefusedError("the storage went away")

    monkeypatch.setattr(tree.LogTree, "put_table", full_then_refused)
    log.flush()
    assert notices[0].dropped_rows == 300 and log.health().dropped_rows == 300


def test_rows_no_segment_can_encode_are_dropped_not_retried_forever(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = PredictionLog(tmp_path / "log")
    notices: list[WriteHealth] = []
    log.watch(notices.append)
    _append(log, 4, model="broken")
    good, _ = _append(log, 3, model="spam")

    def refuse_broken(chunks: Any) -> Any:
        if chunks[0].model == "broken":
            raise ValueError("cannot encode")
        return segment_table(chunks)

    monkeypatch.setattr("mlfactory.stores.predictions.writer.segment_table", refuse_broken)
    assert log.flush() == 3
    assert log.query()["request_id"].tolist() == good
    stats = log.stats()
    assert (stats["dropped_rows"], stats["pending_rows"], stats["failing"]) == (4, 0, 0) and notices == []


def test_rows_dropped_before_the_outage_is_noticed_belong_to_it(tmp_path: Path) -> None:
    """Storage that went away between two flushes: rows dropped before the next write tried are the
    outage's, not those dropped before the last flush that wrote everything."""
    store = Blocked(tmp_path)
    store.lift()
    log = PredictionLog(store.root, max_pending_rows=1000)
    _append(log, 1000)
    _append(log, 50)  # dropped while the storage still worked
    assert log.flush() == 1000
    store.block()
    _append(log, 1000)
    _append(log, 200)  # dropped: the storage is down, no write has said so yet
    log.flush()
    assert log.health().dropped_rows == 200 and log.stats()["dropped_rows"] == 250
