"""The prediction log: segments, queries, ids, feedback joins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlfactory.errors import ValidationError
from mlfactory.inputs import Batch
from mlfactory.serving import record_feedback
from mlfactory.stores import MetadataStore
from mlfactory.stores.fs import StorageLocation, open_location
from mlfactory.stores.predictions import PredictionLog, RequestIds, request_id_time
from mlfactory.stores.predictions.layout import FEW_IDS


@pytest.fixture(params=["folder", "bucket", "azure"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Path | StorageLocation:
    """The log's root: a local folder, or a prefix in a bucket on the loopback S3 server or in a container on
    the loopback Azure Blob server."""
    if request.param == "folder":
        return tmp_path / "log"
    bucket = request.getfixturevalue({"bucket": "s3_bucket", "azure": "azure_container"}[request.param])
    return open_location(f"{bucket.url}/log", tmp_path, bucket.storage_options)


def _append(
    log: PredictionLog, model: str, version: int, route: str, n: int, *, text: bool = False
) -> list[str]:
    ids = log.ids.make(n)
    if text:
        batch = Batch(["lang"], columns={"lang": np.array(["en"] * n, dtype=object)})
        pred, proba = np.array(["spam"] * n, dtype=object), None
    else:
        batch = Batch(["x", "y"], matrix=np.arange(2 * n, dtype=float).reshape(n, 2))
        pred, proba = np.zeros(n, dtype=np.int64), np.tile([0.75, 0.25], (n, 1))
    log.append(
        model=model,
        version=version,
        route=route,
        time=datetime.now(UTC).timestamp(),
        latency_ms=1.5,
        request_ids=ids,
        batch=batch,
        predictions=pred,
        probabilities=proba,
    )
    return ids


def test_rows_round_trip_and_filters(where: Path | StorageLocation) -> None:
    log = PredictionLog(where)
    a = _append(log, "spam", 1, "production", 3)
    b = _append(log, "spam", 2, "canary", 2)
    _append(log, "ham", 1, "production", 4, text=True)
    assert log.query().empty  # nothing written yet
    assert log.flush() == 9
    assert log.leftovers() == []
    everything = log.query()
    assert len(everything) == 9
    spam = log.query(model="spam")
    assert spam["request_id"].tolist() == a + b
    assert spam["input.x"].tolist() == [0.0, 2.0, 4.0, 0.0, 2.0]
    assert list(spam["probabilities"].iloc[0]) == [0.75, 0.25]
    assert log.query(model="spam", version=2, route="canary")["request_id"].tolist() == b
    assert log.query(model="ham")["prediction"].tolist() == ["spam"] * 4
    future = datetime.now(UTC) + timedelta(minutes=1)
    assert log.query(since=future).empty and len(log.query(until=future)) == 9
    assert log.query(request_ids=[a[1], "nope"])["request_id"].tolist() == [a[1]]
    assert log.stats()["written_rows"] == 9


def test_request_ids_are_unique_and_carry_time() -> None:
    log = PredictionLog(Path("/nonexistent"))
    ids = log.ids.make(5000) + log.ids.make(5)
    assert len(set(ids)) == len(ids)
    assert abs((request_id_time(ids[0]) - datetime.now(UTC)).total_seconds()) < 5  # type: ignore[operator]
    assert request_id_time("not-an-id") is None


@pytest.mark.parametrize("n", [1, FEW_IDS - 1, FEW_IDS, 1000])
@pytest.mark.parametrize("start", [0, 0xFFFFFFFF - 10, 0xFFFFFFFF])
def test_request_ids_are_the_stamp_the_token_and_the_row_counter_in_order(n: int, start: int) -> None:
    """Few rows or many, each id is 11 hex digits of epoch ms, the token, and 8 of the counter (wrapping)."""
    ids = RequestIds()
    ids._next = start
    now = 1_764_628_000.123
    made = ids.make(n, now)
    counters = [(start + i) & 0xFFFFFFFF for i in range(n)]
    assert made == [f"{int(now * 1000):011x}{ids.token}{c:08x}" for c in counters]
    assert ids.make(1, now)[0].endswith(f"{(start + n) & 0xFFFFFFFF:08x}")
    assert {request_id_time(i) for i in made} == {datetime.fromtimestamp(int(now * 1000) / 1000, UTC)}


def test_known_ids_include_queued_rows(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "log")
    written = _append(log, "spam", 1, "production", 2)
    log.flush()
    queued = _append(log, "spam", 1, "production", 1)
    assert log.known_request_ids([*written, *queued, "zzz"]) == dict.fromkeys([*written, *queued], "spam")


def test_known_ids_include_rows_being_written(
    where: Path | StorageLocation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Feedback arriving while a segment is written must still find its rows (neither queued nor on disk)."""
    import threading

    from mlfactory.stores.predictions import tree

    log = PredictionLog(where)
    ids = _append(log, "spam", 1, "production", 3)
    writing, release = threading.Event(), threading.Event()
    real = tree.pq.write_table

    def slow_write(*args, **kwargs):  # type: ignore[no-untyped-def]
        writing.set()
        release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(tree.pq, "write_table", slow_write)
    flusher = threading.Thread(target=log.flush)
    flusher.start()
    assert writing.wait(10)
    assert log.known_request_ids(ids) == dict.fromkeys(ids, "spam")  # mid-write
    release.set()
    flusher.join(10)
    assert log.known_request_ids(ids) == dict.fromkeys(ids, "spam")  # on disk


def test_drops_are_counted_not_blocking(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "log", max_pending_rows=1000)
    _append(log, "spam", 1, "production", 900)
    _append(log, "spam", 1, "production", 200)
    assert log.stats()["dropped_rows"] == 200 and log.stats()["pending_rows"] == 900


def test_background_writer_and_close_flush(where: Path | StorageLocation) -> None:
    log = PredictionLog(where, flush_interval=0.05).start()
    _append(log, "spam", 1, "production", 10)
    _append(log, "spam", 1, "production", 5)
    log.close()
    assert len(log.query()) == 15


def test_feedback_reports_unknown_ids(tmp_path: Path, metadata: MetadataStore) -> None:
    log = PredictionLog(tmp_path / "log")
    ids = _append(log, "spam", 1, "production", 3)
    log.flush()
    result = record_feedback(metadata, log, [(ids[0], 1), (ids[2], 0), ("made-up", 1)], actor="t")
    assert result.accepted == 2 and result.unknown == ["made-up"]
    joined = log.with_feedback(metadata, model="spam")
    labels = joined.set_index("request_id")["label"]
    assert labels[ids[0]] == 1 and labels[ids[2]] == 0 and pd.isna(labels[ids[1]])
    with pytest.raises(ValidationError, match="label is missing"):
        record_feedback(metadata, log, [(ids[0], None)], actor="t")
