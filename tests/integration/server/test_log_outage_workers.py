"""`mlfactory serve --workers 2` whose prediction log lives in a bucket, through the bucket's outage.

The bucket is on a moto S3 server this test starts on a loopback port of its own (the shared fixture's
server is never touched). Traffic runs from a thread, each request on a new connection so the kernel hands
them to both workers, while the test stops moto, waits until both workers report the outage, starts moto
again on the same port (it keeps state in memory only, so the bucket is created again, as an operator
restoring the storage would), and waits until both workers report the recovery. Every request must be
answered 200 throughout, and after a graceful stop every request id answered since the outage began is in
the bucket exactly once, or counted as dropped (beyond ``max_pending_rows``) by the worker that held it (rows
written before the outage went with the stopped server's memory).

Everything is decided from what the server reports (its events, its metrics, the bucket), polled with a
generous deadline; nothing waits a fixed time for something to happen.
"""

from __future__ import annotations

import io
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from mlfactory.project import open_project
from mlfactory.server import ServerProcess, start_server_process
from mlfactory.serving.recording import LOG_FAILING, LOG_RECOVERED
from moto_helpers import CREDENTIALS, MotoServer, until
from project_helpers import trained_project
from serving_helpers import sample_records

pytest.importorskip("moto.server")
pytest.importorskip("s3fs")
pytestmark = pytest.mark.slow

BUCKET = "prediction-log-workers"
BOUND = 1000  # server.prediction_log.max_pending_rows (its smallest allowed value), per worker
ROWS = 40  # rows per request: a worker holds 25 requests' rows before it drops any
DEADLINE = 180.0  # seconds to wait for what the server reports; a bound on waiting, never a result


def _until(condition: Callable[[], Any], what: str) -> Any:
    return until(condition, what, DEADLINE)


class LogBucket(MotoServer):
    """The test's own moto server, read back as the prediction log's bucket."""

    def logged_request_ids(self) -> list[str]:
        """Every request id in the bucket's prediction-log files (segments and rollups), repeats kept."""
        client, ids = self.client(), []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="predictions/"):
            for obj in page.get("Contents", []):
                assert obj["Key"].endswith(".parquet") and "/.tmp-" not in obj["Key"], obj["Key"]
                body = client.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
                ids += pq.read_table(io.BytesIO(body), columns=["request_id"]).column(0).to_pylist()
        return ids


class Traffic:
    """Requests sent one after another from a thread, each on a new connection, until stopped; every
    answer's status and request ids kept."""

    def __init__(self, url: str, records: list[dict[str, Any]]) -> None:
        self.url, self.records = url, records
        self.statuses: list[int | str] = []
        self.ids: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                r = httpx.post(
                    f"{self.url}/v1/models/spam/predict", json={"records": self.records}, timeout=60
                )
            except httpx.HTTPError as exc:  # no answer at all: kept as a failure, never a silent stop
                self.statuses.append(repr(exc))
                continue
            self.statuses.append(r.status_code)
            if r.status_code == 200:
                self.ids += r.json()["request_ids"]

    def workers(self) -> set[str]:
        """The answering processes' tokens, inside each request id."""
        return {rid[11:17] for rid in self.ids}

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=DEADLINE)


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[LogBucket]:
    server = LogBucket(BUCKET)
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)  # the server's workers inherit them
    server.start()
    yield server
    server.stop()


@pytest.fixture
def project(moto: LogBucket, tmp_path: Path) -> Path:
    root = trained_project(tmp_path / "spam")
    path = root / "mlfactory.yaml"
    config = yaml.safe_load(path.read_text())
    config.setdefault("stores", {})["storage_options"] = {"endpoint_url": moto.endpoint}
    config.setdefault("server", {})["prediction_log"] = {
        "path": f"s3://{BUCKET}/predictions",
        "flush_interval": 0.2,
        "max_pending_rows": BOUND,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return root


def _log_metrics(url: str) -> dict[str, float]:
    """The prediction log's series from one scrape (a new connection: whichever worker takes it)."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text):
        for sample in family.samples:
            if sample.name.startswith("mlfactory_prediction_log"):
                outcome = sample.labels.get("outcome")
                found[f"{sample.name}:{outcome}" if outcome else sample.name] = sample.value
    return found


def _events_by_writer(metadata: Any, kind: str) -> dict[str, Any]:
    """The events of ``kind`` the workers recorded, by writing process (each worker's log is its own)."""
    return {e.payload["writer"]: e for e in metadata.list_events(kinds=[kind])}


def _dropping(url: str) -> bool:
    return _log_metrics(url)["mlfactory_prediction_log_rows_total:dropped"] > 0


def _serve(root: Path, tmp: Path) -> ServerProcess:
    env = {"MLFACTORY_SERVER__RELOAD_INTERVAL": "0.5"}
    return start_server_process(root, workers=2, env=env, log_file=tmp / "server.log", timeout=120)


def test_two_workers_answer_through_a_bucket_outage_and_log_each_row_once(
    project: Path, moto: LogBucket, tmp_path: Path
) -> None:
    records = sample_records(project, ROWS)
    opened = open_project(project, env={}, actor="test")
    metadata = opened.metadata
    with opened, _serve(project, tmp_path) as server, Traffic(server.url, records) as traffic:
        _until(lambda: len(traffic.workers()) == 2, "both workers to answer")
        before = len(traffic.ids)
        _until(lambda: len(set(moto.logged_request_ids())) >= before, "the first rows in the bucket")

        moto.stop()  # mid-traffic
        gone_with_it = set(traffic.ids)  # every row the first bucket could have held was answered by now
        failing = _until(
            lambda: len(f := _events_by_writer(metadata, LOG_FAILING)) == 2 and f, "both workers' outage"
        )
        assert all(e.payload["error"] and e.payload["held_rows"] > 0 for e in failing.values())
        for _ in range(10):  # every scrape, whichever worker takes it, shows the outage
            down = _log_metrics(server.url)
            assert down["mlfactory_prediction_log_failing"] == 1
            assert 0 < down["mlfactory_prediction_log_pending_rows"] <= BOUND
            assert down["mlfactory_prediction_log_write_failures_total"] >= 1
        assert _events_by_writer(metadata, LOG_RECOVERED) == {}
        # traffic goes on until some rows are over a worker's bound, so dropping is exercised too
        _until(lambda: _dropping(server.url), "a worker to hold rows over its bound")

        moto.start()  # the same port, an empty server: the bucket is created again
        recovered = _until(
            lambda: len(r := _events_by_writer(metadata, LOG_RECOVERED)) == 2 and r, "both workers' recovery"
        )
        assert set(recovered) == set(failing)
        for _ in range(10):
            up = _log_metrics(server.url)
            assert up["mlfactory_prediction_log_failing"] == 0
    server.stop()  # graceful: every held row is flushed (the bucket is up)

    assert traffic.statuses and set(traffic.statuses) == {200}  # not one request failed through it all
    answered = Counter(traffic.ids)
    assert max(answered.values()) == 1  # request ids are unique
    logged = Counter(moto.logged_request_ids())
    assert not [rid for rid, n in logged.items() if n > 1]  # no row written twice (a retried PUT included)
    assert set(logged) <= set(answered)
    dropped = sum(e.payload["dropped_rows"] for e in recovered.values())
    assert dropped > 0
    assert _unlogged_since_the_outage(traffic, set(logged), gone_with_it) == dropped


def _unlogged_since_the_outage(traffic: Traffic, logged: set[str], gone_with_it: set[str]) -> int:
    """The answered rows missing from the bucket, not counting those written before the outage (lost with
    the stopped server's memory). A worker logs its rows in the order it answered them, so those are each
    worker's first rows, all answered before moto stopped; every later one must be logged or dropped."""
    missing = 0
    for token in traffic.workers():
        mine = [rid for rid in traffic.ids if rid[11:17] == token]
        first = next(i for i, rid in enumerate(mine) if rid in logged)
        assert set(mine[:first]) <= gone_with_it, "a row answered after the outage began is lost"
        missing += sum(rid not in logged for rid in mine[first:])
    return missing
