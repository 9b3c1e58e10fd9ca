"""The native API over a real app: answers, explicit versions, every bad input as a clean 4xx, limits,
tokens."""

from __future__ import annotations

import gc
import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serving_helpers import make_client, open_copy, sample_records

LEAKS = re.compile(r"Traceback|File \"|/tmp/|/work/|site-packages|\.py\b")


def test_predict_records_and_columns(client: TestClient, spam_project: Path) -> None:
    recs = sample_records(spam_project, 4)
    r = client.post("/v1/models/spam/predict", json={"records": recs})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "spam" and body["version"] == 1 and body["versions"] == [1] * 4
    assert len(body["predictions"]) == 4 and body["classes"] == [0, 1]
    assert all(abs(sum(p) - 1) < 1e-9 for p in body["probabilities"])
    assert len(set(body["request_ids"])) == 4 and body["routes"] == ["production"] * 4
    cols = {k: [r[k] for r in recs] for k in recs[0]}
    same = client.post("/v1/models/spam/predict", json={"columns": cols}).json()
    assert same["predictions"] == body["predictions"]
    with open_copy(spam_project) as project:
        offline = project.registry.load("spam/1").predict_frame(__import__("pandas").DataFrame(recs))
    assert offline["prediction"].tolist() == body["predictions"]


def test_explicit_alias_and_version(client: TestClient, spam_project: Path) -> None:
    recs = sample_records(spam_project, 1)
    assert client.post("/v1/models/spam/versions/3/predict", json={"records": recs}).json()["versions"] == [3]
    r = client.post("/v1/models/spam@production/predict", json={"records": recs}).json()
    assert r["version"] == 1
    missing = client.post("/v1/models/spam@staging/predict", json={"records": recs})
    assert missing.status_code == 404 and "no alias 'staging'" in missing.json()["error"]
    assert client.post("/v1/models/spam/versions/9/predict", json={"records": recs}).status_code == 404
    assert client.post("/v1/models/nope/predict", json={"records": recs}).status_code == 404


def _bad_cases(recs: list[dict[str, object]]) -> list[tuple[str, object, int, str]]:
    r0 = recs[0]
    return [
        (
            "missing column",
            {"records": [r0, {k: v for k, v in r0.items() if k != "n_links"}]},
            422,
            "row 1: missing input column(s) ['n_links']",
        ),
        ("wrong type", {"records": [{**r0, "language": ["en"]}]}, 422, "column 'language' (category) row 0"),
        (
            "string in number",
            {"records": [r0, r0, {**r0, "hour_sent": "noon"}]},
            422,
            "column 'hour_sent' (integer) row 2: got 'noon'",
        ),
        ("infinity", {"records": [{**r0, "n_links": float("inf")}]}, 422, "column 'n_links' row 0: infinity"),
        ("nan", {"records": [{**r0, "n_links": "NaN"}]}, 422, "column 'n_links' (integer) row 0"),
        ("empty records", {"records": []}, 422, "no rows to predict"),
        ("no rows key", {"rows": []}, 422, "exactly one of 'records'"),
        ("not an object", [1, 2], 422, "row 0: expected an object"),
        (
            "columns of unequal length",
            {"columns": {k: [v, v] if k != "body" else [v] for k, v in r0.items()}},
            422,
            "different lengths",
        ),
    ]


def test_bad_inputs_are_clean_4xx(client: TestClient, spam_project: Path) -> None:
    recs = sample_records(spam_project, 1)
    for name, body, status, needle in _bad_cases(recs):
        data = json.dumps(body, allow_nan=True)
        r = client.post("/v1/models/spam/predict", content=data, headers={"content-type": "application/json"})
        assert r.status_code == status, (name, r.text)
        assert needle in r.json()["error"], (name, r.text)
        assert not LEAKS.search(r.text), (name, r.text)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "body is empty"),
        (b'{"records": [', "malformed JSON"),
        (b"\xff\xfe", "malformed JSON"),
        (b"nul", "malformed JSON"),
        (b"[[[[" * 3000, "malformed JSON"),
    ],
)
def test_malformed_bodies(client: TestClient, content: bytes, needle: str) -> None:
    r = client.post("/v1/models/spam/predict", content=content, headers={"content-type": "application/json"})
    assert r.status_code == 422 and needle in r.json()["error"] and not LEAKS.search(r.text)


def test_row_and_byte_limits(spam_project: Path) -> None:
    recs = sample_records(spam_project, 3)
    with make_client(spam_project, max_rows=2, max_body_bytes=4096) as c:
        r = c.post("/v1/models/spam/predict", json={"records": recs})
        assert r.status_code == 413 and "limit of 2 rows" in r.json()["error"]
        big = {"records": [recs[0]] * 1, "pad": "x" * 5000}
        r = c.post("/v1/models/spam/predict", json=big)
        assert r.status_code == 413 and "4096 bytes" in r.json()["error"]


def test_tokens(spam_project: Path) -> None:
    recs = sample_records(spam_project, 1)
    with make_client(spam_project, token="s3cret") as c:
        assert c.post("/v1/models/spam/predict", json={"records": recs}).status_code == 200
        r = c.post("/v1/admin/reload")
        assert r.status_code == 401 and "Bearer" in r.json()["error"]
        assert c.post("/v1/admin/reload", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert c.post("/v1/admin/reload", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.post("/v1/feedback", json={"labels": []}).status_code == 401
    with make_client(spam_project, token="s3cret", protect_predictions=True) as c:
        assert c.post("/v1/models/spam/predict", json={"records": recs}).status_code == 401
        ok = c.post(
            "/v1/models/spam/predict", json={"records": recs}, headers={"Authorization": "Bearer s3cret"}
        )
        assert ok.status_code == 200


def test_health_metrics_and_docs(client: TestClient, spam_project: Path) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["models"]["spam"]["production"] == 1
    client.post("/v1/models/spam/predict", json={"records": sample_records(spam_project, 2)})
    client.post("/v1/models/spam/predict", content=b"{")
    text = client.get("/metrics").text
    assert 'mlfactory_predictions_total{model="spam",route="production",version="1"} 2.0' in text
    assert 'mlfactory_request_errors_total{endpoint="/v1/models/{name}/predict",status="422"} 1.0' in text
    assert "mlfactory_request_latency_seconds_bucket" in text
    assert client.get("/docs").status_code == 200
    assert "/v1/models/{name}/predict" in client.get("/openapi.json").json()["paths"]


def test_startup_objects_are_frozen_while_serving(spam_project: Path) -> None:
    """Full garbage collections must not walk every library and model object under load (pauses of 100+ ms
    each): what startup made is frozen while the app serves, and collected normally again after."""
    gc.unfreeze()
    with make_client(spam_project) as c:
        assert c.get("/readyz").status_code == 200
        assert gc.get_freeze_count() > 100_000
    assert gc.get_freeze_count() == 0


def test_feedback_endpoint(client: TestClient, spam_project: Path) -> None:
    ids = client.post("/v1/models/spam/predict", json={"records": sample_records(spam_project, 2)}).json()[
        "request_ids"
    ]
    r = client.post(
        "/v1/feedback",
        json={"labels": [{"request_id": ids[0], "label": 1}, {"request_id": "unknown-id", "label": 0}]},
    )
    assert r.status_code == 200 and r.json() == {
        "accepted": 1,
        "unknown": ["unknown-id"],
        "unknown_count": 1,
        "invalid": [],
        "invalid_count": 0,
    }
    bad = client.post("/v1/feedback", json={"labels": [{"request_id": ids[1]}]})
    assert bad.status_code == 422 and "labels.0.label: Field required" in bad.json()["error"]
