"""A prediction reader opens one DuckDB connection and serves every read, from any thread, on a cursor of
it: the answers are those of a reader of its own, times read in UTC, and a forked child opens its own."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest

from mlfactory.inputs import Batch
from mlfactory.stores.fs import StorageLocation, open_location
from mlfactory.stores.predictions import PredictionLog, PredictionReader, reader


@pytest.fixture(params=["folder", "bucket"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Path | StorageLocation:
    """The log's root: a local folder, or a prefix in a bucket on the loopback S3 server."""
    if request.param == "folder":
        return tmp_path / "log"
    bucket = request.getfixturevalue("s3_bucket")
    return open_location(f"{bucket.url}/log", tmp_path, bucket.storage_options)


def write(where: Path | StorageLocation, at: datetime) -> None:
    """Rows of two models and routes at ``at``, one a request, latencies 1..n ms, written to segments."""
    log = PredictionLog(where)
    groups = (("spam", 1, "production", 40), ("spam", 2, "canary", 10), ("ham", 1, "production", 25))
    for model, version, route, n in groups:
        for latency in range(1, n + 1):
            log.append(
                model=model,
                version=version,
                route=route,
                time=at.timestamp(),
                latency_ms=float(latency),
                request_ids=log.ids.make(1, now=at.timestamp()),
                batch=Batch(["x"], matrix=np.zeros((1, 1))),
                predictions=np.zeros(1, dtype=np.int64),
                probabilities=None,
            )
    log.flush()
    log.close()


def counting(monkeypatch: pytest.MonkeyPatch) -> list[duckdb.DuckDBPyConnection]:
    """The connections the reader module opens from now on."""
    opened: list[duckdb.DuckDBPyConnection] = []
    real = reader.connect

    def connect() -> duckdb.DuckDBPyConnection:
        opened.append(real())
        return opened[-1]

    monkeypatch.setattr(reader, "connect", connect)
    return opened


def test_reads_from_many_threads_share_one_connection_and_answer_as_alone(
    where: Path | StorageLocation, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    write(where, now - timedelta(minutes=5))
    window = (now - timedelta(hours=1), now + timedelta(minutes=1))
    alone = PredictionReader(where)
    expected = (alone.traffic(*window), len(alone.query(model="spam")), alone.known_request_ids([]))
    opened = counting(monkeypatch)
    shared = PredictionReader(where)

    def answer(_: int) -> Any:
        return shared.traffic(*window), len(shared.query(model="spam")), shared.known_request_ids([])

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(answer, range(32)))
    assert answers == [expected] * 32
    assert [(g.model, g.rows, g.latencies["latency_p50_ms"]) for g in expected[0]] == [
        ("ham", 25, 13.0),
        ("spam", 40, 20.5),
        ("spam", 10, 5.5),
    ]
    assert len(opened) == 1


def test_times_read_in_utc_where_the_machine_keeps_another_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    write(tmp_path / "log", at)
    real = reader.connect

    def in_new_york() -> duckdb.DuckDBPyConnection:
        con = real()  # a machine's zone is DuckDB's default; connect() sets its own session's to UTC
        con.execute("SET GLOBAL TimeZone = 'America/New_York'")
        con.execute("SET TimeZone = 'UTC'")
        return con

    monkeypatch.setattr(reader, "connect", in_new_york)
    times = PredictionReader(tmp_path / "log").query(model="ham")["time"]
    assert str(times.dt.tz) == "UTC" and set(times) == {at}


def test_a_forked_child_opens_a_connection_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "log", datetime.now(UTC))
    opened = counting(monkeypatch)
    log = PredictionReader(tmp_path / "log")
    assert len(log.query()) == len(log.query()) == 75 and len(opened) == 1
    child = os.getpid() + 1
    with monkeypatch.context() as m:
        m.setattr(os, "getpid", lambda: child)  # as in a child forked after the parent's reads
        assert len(log.query()) == 75 and len(log.query()) == 75
    assert len(opened) == 2


def test_close_releases_the_connection_and_a_later_read_opens_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "log", datetime.now(UTC))
    opened = counting(monkeypatch)
    log = PredictionReader(tmp_path / "log")
    assert len(log.query()) == 75
    log.close()
    log.close()  # idempotent
    with pytest.raises(duckdb.ConnectionException):
        opened[0].execute("select 1")  # the first connection is closed, not left to the process's end
    assert len(log.query()) == 75 and len(opened) == 2
