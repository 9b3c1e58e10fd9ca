"""The prediction log converts queued rows to Arrow between flushes: every row still lands exactly once, in
the order answered, with the values a single conversion gives, and an outage behaves as before."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from mlfactory.inputs import Batch
from mlfactory.stores.predictions import PredictionLog
from mlfactory.stores.predictions.segment import Chunk, segment_table


def _append(log: PredictionLog, model: str, n: int, *, start: float = 0.0, labels: bool = False) -> list[str]:
    ids = log.ids.make(n)
    matrix = start + np.arange(2 * n, dtype=float).reshape(n, 2)
    matrix[0, 1] = np.nan  # a missing value, logged as null
    pred = np.array(["spam"] * n, dtype=object) if labels else np.arange(n, dtype=np.int64)
    log.append(
        model=model,
        version=1,
        route="production",
        time=datetime.now(UTC).timestamp(),
        latency_ms=1.0,
        request_ids=ids,
        batch=Batch(["x", "y"], matrix=matrix),
        predictions=pred,
        probabilities=np.tile([0.5, 0.5], (n, 1)),
    )
    return ids


def test_staged_and_queued_rows_are_written_once_in_order(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "log")
    a = _append(log, "spam", 3)
    log.stage()
    other = _append(log, "ham", 2)
    b = _append(log, "spam", 2, start=100.0)
    log.stage()
    c = _append(log, "spam", 1, start=200.0)  # queued, not staged
    assert log.known_request_ids([*a, *b, *c]) == dict.fromkeys([*a, *b, *c], "spam")
    assert log.stats()["pending_rows"] == 8

    assert log.flush() == 8
    spam = log.query(model="spam")
    assert spam["request_id"].tolist() == a + b + c
    assert spam["input.x"].tolist() == [0.0, 2.0, 4.0, 100.0, 102.0, 200.0]
    assert spam["input.y"].isna().tolist() == [True, False, False, True, False, True]
    assert log.query(model="ham")["request_id"].tolist() == other
    assert log.flush() == 0 and len(log.query()) == 8  # nothing written twice
    assert log.stats()["pending_rows"] == 0


def test_parts_that_do_not_join_are_converted_as_one(tmp_path: Path) -> None:
    """Integer answers staged, text answers queued: joined as one conversion would (as text)."""
    log = PredictionLog(tmp_path / "log")
    a = _append(log, "spam", 2)
    log.stage()
    b = _append(log, "spam", 2, labels=True)
    assert log.flush() == 4
    rows = log.query(model="spam")
    assert rows["request_id"].tolist() == a + b
    assert rows["prediction"].tolist() == ["0", "1", "spam", "spam"]


def test_staged_rows_wait_through_an_outage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlfactory.stores.predictions import tree

    log = PredictionLog(tmp_path / "log")
    real = tree.LogTree.put_table

    def refused(*args: object, **kwargs: object) -> None:
        raise OSError("storage is down")

    monkeypatch.setattr(tree.LogTree, "put_table", refused)
    a = _append(log, "spam", 2)
    log.stage()
    assert log.flush() == 0 and not log.health().ok
    b = _append(log, "spam", 3)
    log.stage()  # skipped during the outage: the rows wait as they are
    assert log.flush() == 0 and log.health().held_rows == 5
    monkeypatch.setattr(tree.LogTree, "put_table", real)
    assert log.flush() == 5 and log.health().ok
    assert log.query(model="spam")["request_id"].tolist() == a + b


def test_background_writer_stages_and_flushes_everything(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "log", flush_interval=0.05).start()
    ids = [rid for i in range(20) for rid in _append(log, "spam", 5, start=10.0 * i)]
    log.close()
    assert log.query(model="spam")["request_id"].tolist() == ids
    assert log.stats()["written_rows"] == 100 and log.stats()["dropped_rows"] == 0


def _one_row(text: str, lang: str | None, *, version: int = 1, numbers: bool = True) -> Chunk:
    columns = {"body": np.array([text], dtype=object), "lang": np.array([lang], dtype=object)}
    if numbers:
        columns["n"] = np.array([float(len(text))])
    batch = Batch(list(columns), columns=columns)
    route = "production" if version == 1 else "canary"
    return Chunk(
        "spam", version, route, 1e9, 1.0, [f"id-{text}"], batch, np.array([1]), np.array([[0.2, 0.8]])
    )


def test_one_row_requests_are_stored_with_the_values_they_were_answered_with() -> None:
    """Many one-row requests of two versions, one without a numeric input, missing categories: every value
    as it was answered, each row under its own version and route."""
    texts = ["win a prize", "lunch?", "", "réunion à midi", "free money"]
    langs = ["en", None, "fr", None, "en"]
    chunks = [
        _one_row(t, g, version=1 + i % 2, numbers=i != 2)
        for i, (t, g) in enumerate(zip(texts, langs, strict=True))
    ]
    table = segment_table(chunks)
    assert table.column("input.body").to_pylist() == texts
    assert table.column("input.lang").to_pylist() == langs
    assert table.column("input.n").to_pylist() == [11.0, 6.0, None, 14.0, 10.0]
    assert table.column("request_id").to_pylist() == [f"id-{t}" for t in texts]
    assert table.column("model").to_pylist() == ["spam"] * 5
    assert table.column("route").to_pylist() == ["production", "canary"] * 2 + ["production"]
    assert table.column("version").to_pylist() == [1, 2, 1, 2, 1]
