"""Finding one request's rows in the prediction log (by the time its id carries, or by a scan for ids of
another form; the answer and a shadow's, with inputs and probabilities), and counting one version's rows
per route in a window."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from mlfactory.inputs import Batch
from mlfactory.stores.fs import StorageLocation, open_location
from mlfactory.stores.predictions import PredictionLog, request_id_time


@pytest.fixture(params=["folder", "bucket"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Path | StorageLocation:
    """The log's root: a local folder, or a prefix in a bucket on the loopback S3 server."""
    if request.param == "folder":
        return tmp_path / "log"
    bucket = request.getfixturevalue("s3_bucket")
    return open_location(f"{bucket.url}/log", tmp_path, bucket.storage_options)


def _log(
    log: PredictionLog, ids: list[str], *, version: int, route: str, at: float, links: list[float]
) -> None:
    n = len(ids)
    matrix = np.column_stack([np.array(links), np.arange(n, dtype=float)])
    log.append(
        model="spam",
        version=version,
        route=route,
        time=at,
        latency_ms=2.5 + version,
        request_ids=ids,
        batch=Batch(["n_links", "hour_sent"], matrix=matrix),
        predictions=np.array([1] * n),
        probabilities=np.tile([0.2, 0.8] if version == 1 else [0.6, 0.4], (n, 1)),
    )


def test_finds_the_answer_and_the_shadows_by_the_ids_time(where: Path | StorageLocation) -> None:
    log = PredictionLog(where)
    now = time.time()
    ids = log.ids.make(3, now)
    _log(log, ids, version=1, route="production", at=now, links=[3.0, 4.0, 5.0])
    _log(
        log, ids, version=2, route="shadow", at=now, links=[3.0, 4.0, 5.0]
    )  # the shadow answers the same ids
    earlier = log.ids.make(2, now - 3600)
    _log(log, earlier, version=1, route="production", at=now - 3600, links=[9.0, 9.0])
    log.flush()
    answer, shadow = log.find_request(ids[1])
    assert (answer.route, answer.version, shadow.route, shadow.version) == ("production", 1, "shadow", 2)
    assert answer.request_id == ids[1] and answer.model == "spam" and answer.prediction == 1
    assert answer.inputs == {"n_links": 4.0, "hour_sent": 1.0}
    assert answer.probabilities == [0.2, 0.8] and shadow.probabilities == [0.6, 0.4]
    assert answer.latency_ms == 3.5 and answer.violations is None
    assert abs((answer.time - datetime.fromtimestamp(now, UTC)).total_seconds()) < 0.001
    assert [r.inputs["n_links"] for r in log.find_request(earlier[0])] == [9.0]
    assert log.find_request(log.ids.make(1)[0]) == []  # a well-formed id nobody answered


def test_ids_without_a_time_are_found_by_scanning_the_log(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "log")
    mine = ["order-17", "order-18"]
    assert request_id_time(mine[0]) is None
    yesterday = (datetime.now(UTC) - timedelta(days=1)).timestamp()
    _log(log, mine, version=3, route="canary", at=yesterday, links=[1.0, 2.0])
    log.flush()
    (row,) = log.find_request("order-18")
    assert (row.version, row.route, row.inputs["n_links"]) == (3, "canary", 2.0)
    assert log.find_request("order-19") == []


def test_an_empty_log_finds_nothing(tmp_path: Path) -> None:
    assert PredictionLog(tmp_path / "empty").find_request("order-1") == []


def test_rows_by_route_counts_one_version_in_the_window(where: Path | StorageLocation) -> None:
    log = PredictionLog(where)
    now = time.time()
    _log(log, log.ids.make(3, now), version=1, route="production", at=now, links=[1.0, 2.0, 3.0])
    _log(log, log.ids.make(2, now), version=2, route="canary", at=now, links=[1.0, 2.0])
    _log(log, log.ids.make(4, now), version=2, route="shadow", at=now, links=[1.0] * 4)
    _log(log, log.ids.make(5, now - 7200), version=2, route="canary", at=now - 7200, links=[1.0] * 5)
    log.flush()
    at = datetime.fromtimestamp(now, UTC)
    hour = timedelta(hours=1)
    assert log.rows_by_route("spam", 2, at - hour, at + hour) == {"canary": 2, "shadow": 4}
    assert log.rows_by_route("spam", 2, at - 3 * hour, at + hour) == {"canary": 7, "shadow": 4}
    assert log.rows_by_route("spam", 1, at - hour, at + hour) == {"production": 3}
    assert log.rows_by_route("ham", 1, at - hour, at + hour) == {}
