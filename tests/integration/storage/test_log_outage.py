"""A server whose prediction log lives in a bucket keeps answering while the bucket's server is down.

The bucket is on a moto S3 server started for this test on its own loopback port. Stopping it mid-traffic
is a real outage (connections refused); moto keeps its state in memory only, so the server started again on
the same port has lost every object and the bucket: the test creates the bucket again, as an operator
restoring the storage would, and then checks what the log wrote after the recovery (the rows held in
memory during the outage), not what was there before it.

Everything is decided from what the server reports (its metrics, its events, the files in the bucket),
polled with a generous deadline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from mlfactory.serving.recording import LOG_FAILING, LOG_RECOVERED
from moto_helpers import MotoServer, running_moto, until
from project_helpers import trained_project
from serving_helpers import make_client, sample_records

pytest.importorskip("moto.server")
pytest.importorskip("s3fs")

BUCKET = "prediction-log-outage"
BOUND = 1000  # server.prediction_log.max_pending_rows (its smallest allowed value)
ROWS = 300  # rows per request: held 300, 600, 900, then every further request is over the bound
DEADLINE = 120.0  # seconds to wait for what the server reports; a bound on waiting, never a result


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    yield from running_moto(monkeypatch, BUCKET)


def _until(condition: Callable[[], Any], what: str) -> Any:
    return until(condition, what, DEADLINE)


def _object_keys(moto: MotoServer) -> list[str]:
    return [o["Key"] for o in moto.client().list_objects_v2(Bucket=BUCKET).get("Contents", [])]


@pytest.fixture
def client(moto: MotoServer, tmp_path: Path) -> Iterator[TestClient]:
    root = trained_project(tmp_path / "spam")
    path = root / "mlfactory.yaml"
    config = yaml.safe_load(path.read_text())
    config.setdefault("stores", {})["storage_options"] = {"endpoint_url": moto.endpoint}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    log = {"path": f"s3://{BUCKET}/predictions", "flush_interval": 0.2, "max_pending_rows": BOUND}
    with make_client(root, prediction_log=log) as c:
        yield c


def _metrics(client: TestClient) -> dict[str, float]:
    """The prediction log's series, by name (and outcome label)."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name.startswith("mlfactory_prediction_log"):
                outcome = sample.labels.get("outcome")
                found[f"{sample.name}:{outcome}" if outcome else sample.name] = sample.value
    return found


def _predict(client: TestClient, records: list[dict[str, Any]]) -> list[str]:
    r = client.post("/v1/models/spam/predict", json={"records": records})
    assert r.status_code == 200, r.text
    ids: list[str] = r.json()["request_ids"]
    assert len(ids) == len(records)
    return ids


def _events(client: TestClient, kind: str) -> list[Any]:
    return client.app.state.project.metadata.list_events(kinds=[kind])  # type: ignore[attr-defined,no-any-return]


def test_predictions_answer_through_an_outage_and_held_rows_are_written_after_it(
    client: TestClient, moto: MotoServer
) -> None:
    records = sample_records(client.app.state.project.root, ROWS)  # type: ignore[attr-defined]
    _predict(client, records)
    _until(
        lambda: _metrics(client).get("mlfactory_prediction_log_rows_total:written") == ROWS, "the first rows"
    )
    assert _metrics(client)["mlfactory_prediction_log_pending_rows"] == 0

    moto.stop()
    held = [_predict(client, records) for _ in range(3)]  # 900 rows: within the bound
    dropped = [_predict(client, records) for _ in range(2)]  # 600 more: over it, answered all the same
    _until(
        lambda: _metrics(client).get("mlfactory_prediction_log_write_failures_total", 0) >= 3,
        "several failed writes",
    )
    down = _metrics(client)
    assert down["mlfactory_prediction_log_failing"] == 1
    assert down["mlfactory_prediction_log_pending_rows"] == 3 * ROWS
    assert down["mlfactory_prediction_log_rows_total:dropped"] == 2 * ROWS
    assert down["mlfactory_prediction_log_rows_total:written"] == ROWS
    (failing,) = _events(client, LOG_FAILING)  # one event for the outage, not one per failed write
    assert failing.payload["error"] and "cannot be reached" in failing.reason
    ready = client.get("/readyz")
    assert ready.status_code == 200  # the log's outage does not take the server out of rotation
    assert ready.json()["prediction_log"]["ok"] is False
    assert ready.json()["prediction_log"]["held_rows"] == 3 * ROWS
    assert _events(client, LOG_RECOVERED) == []

    moto.start()  # the same port, an empty server: the bucket is created again
    _until(lambda: _metrics(client).get("mlfactory_prediction_log_failing") == 0, "the log to recover")
    up = _metrics(client)
    assert up["mlfactory_prediction_log_rows_total:written"] == 4 * ROWS
    assert up["mlfactory_prediction_log_rows_total:dropped"] == 2 * ROWS
    assert up["mlfactory_prediction_log_pending_rows"] == 0
    (recovered,) = _until(lambda: _events(client, LOG_RECOVERED), "the recovery event")
    assert recovered.payload["written_rows"] == 3 * ROWS
    assert recovered.payload["dropped_rows"] == 2 * ROWS
    assert recovered.payload["failed_writes"] == up["mlfactory_prediction_log_write_failures_total"]
    assert client.get("/readyz").json()["prediction_log"]["ok"] is True

    log = client.app.state.prediction_log  # type: ignore[attr-defined]
    logged = log.query(model="spam")["request_id"].tolist()
    assert sorted(logged) == sorted(rid for ids in held for rid in ids)
    assert not set(logged) & {rid for ids in dropped for rid in ids}
    assert all(key.endswith(".parquet") and "/.tmp-" not in key for key in _object_keys(moto))
