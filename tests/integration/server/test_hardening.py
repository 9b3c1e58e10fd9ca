"""No request makes a 500 (issue 12): lone surrogates, versions beyond 64 bits, malformed V2 parameters and
outputs, huge monitoring windows, V2 integer tensors that do not hold integers; and a 500 that does happen
leaves its keep-alive connection usable."""

from __future__ import annotations

import shutil
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from mlfactory.config import ServerConfig
from mlfactory.entities import MonitorReportRecord
from mlfactory.errors import StoreUnavailableError
from mlfactory.server import ServerSettings, start_server
from mlfactory.serving import ServingRuntime
from serving_helpers import make_client, sample_records

INTS = {"n_links", "n_attachments", "hour_sent"}
TOO_BIG = str(2**70)


def _v2_inputs(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "name": k,
            "shape": [len(recs)],
            "datatype": "INT64" if k in INTS else "BYTES",
            "data": [r[k] for r in recs],
        }
        for k in recs[0]
    ]


def _with_surrogate(body: dict[str, Any], text: str) -> bytes:
    """``body`` as JSON with ``text``'s value replaced by the escape of a lone surrogate (which no JSON
    encoder writes on its own)."""
    raw = orjson.dumps(body)
    assert raw.count(orjson.dumps(text)) == 1
    return raw.replace(orjson.dumps(text), b'"a\\ud800b"')


@pytest.mark.parametrize(
    ("path", "wrap"),
    [
        ("/v1/models/spam/predict", "records"),
        ("/v1/models/spam@production/predict", "records"),
        ("/v1/models/spam/versions/1/predict", "records"),
        ("/invocations", "dataframe_records"),
        ("/models/spam/invocations", "dataframe_records"),
    ],
)
def test_a_lone_surrogate_in_a_row_is_refused_naming_where(
    client: TestClient, spam_project: Path, path: str, wrap: str
) -> None:
    recs = sample_records(spam_project, 2)
    recs[1]["sender_domain"] = "MARK"
    r = client.post(path, content=_with_surrogate({wrap: recs}, "MARK"))
    assert r.status_code == 422, r.text
    assert f"body.{wrap}[1].sender_domain" in r.json()["error"]
    assert "unpaired UTF-16 surrogate" in r.json()["error"]


def test_a_lone_surrogate_in_v2_and_feedback_is_refused(client: TestClient, spam_project: Path) -> None:
    recs = sample_records(spam_project, 1)
    recs[0]["subject"] = "MARK"
    r = client.post("/v2/models/spam/infer", content=_with_surrogate({"inputs": _v2_inputs(recs)}, "MARK"))
    assert r.status_code == 400 and "body.inputs[5].data[0]" in r.json()["error"], r.text
    ids = client.post("/v1/models/spam/predict", json={"records": recs[:1]}).json()["request_ids"]
    for label in ({"request_id": ids[0], "label": "MARK"}, {"request_id": "MARK", "label": 1}):
        r = client.post("/v1/feedback", content=_with_surrogate({"labels": [label]}, "MARK"))
        assert r.status_code == 422 and "body.labels[0]." in r.json()["error"], r.text
    good = {"request_id": ids[0], "label": 1}
    r = client.post("/v1/feedback", content=_with_surrogate({"labels": [good], "source": "MARK"}, "MARK"))
    assert r.status_code == 422 and "body.source" in r.json()["error"], r.text
    # the admin bodies are parsed by FastAPI: their text fields refuse it too
    r = client.put(
        "/v1/admin/routing/spam/canary",
        content=_with_surrogate({"version": 2, "weight": 10, "reason": "MARK"}, "MARK"),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422 and r.json()["error"].startswith("reason:"), r.text
    assert client.get("/v1/admin/routing/spam").json()["traffic_percent"] == {"v1": 100.0}  # unchanged


def test_a_version_beyond_64_bits_is_refused_naming_it(client: TestClient, spam_project: Path) -> None:
    recs = sample_records(spam_project, 1)
    rule = "less than or equal to 9223372036854775807"
    for path in (f"/v2/models/spam/versions/{TOO_BIG}", f"/v2/models/spam/versions/{TOO_BIG}/ready"):
        r = client.get(path)
        assert r.status_code == 400 and "version" in r.json()["error"] and rule in r.json()["error"], r.text
    r = client.post(f"/v2/models/spam/versions/{TOO_BIG}/infer", json={"inputs": _v2_inputs(recs)})
    assert r.status_code == 400 and rule in r.json()["error"], r.text
    r = client.post(f"/v1/models/spam/versions/{TOO_BIG}/predict", json={"records": recs})
    assert r.status_code == 422 and rule in r.json()["error"], r.text
    r = client.get("/v1/models/spam/monitoring", params={"version": TOO_BIG})
    assert r.status_code == 422 and "version" in r.json()["error"], r.text
    big = 2**70
    for path, body in (
        ("canary", {"version": big, "weight": 10}),
        ("ab", {"variants": [[1, 50], [big, 50]], "key": "sender_domain"}),
        ("shadow", {"version": big}),
    ):
        r = client.put(f"/v1/admin/routing/spam/{path}", json=body)
        assert r.status_code == 422 and rule in r.json()["error"], (path, r.text)
    # a version in range that does not exist is a 404, as before
    assert client.get("/v2/models/spam/versions/9223372036854775807").status_code == 404


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"parameters": [1]}, "'parameters' must be an object"),
        ({"parameters": "binary_data_output"}, "'parameters' must be an object"),
        ({"outputs": [{"name": ["predict"]}]}, "outputs[0] must be an object whose 'name'"),
        ({"outputs": [{"name": 3}]}, "outputs[0] must be an object whose 'name'"),
        ({"outputs": ["predict"]}, "outputs[0] must be an object whose 'name'"),
        ({"outputs": {"name": "predict"}}, "'outputs' must be a list"),
        ({"outputs": [{"name": "predict", "parameters": [1]}]}, "'outputs[0].parameters' must be an object"),
    ],
)
def test_malformed_v2_parameters_and_outputs_are_refused(
    client: TestClient, spam_project: Path, extra: dict[str, Any], says: str
) -> None:
    body = {"inputs": _v2_inputs(sample_records(spam_project, 1)), **extra}
    r = client.post("/v2/models/spam/infer", json=body)
    assert r.status_code == 400 and says in r.json()["error"], r.text


def test_malformed_tensor_parameters_are_refused(client: TestClient, spam_project: Path) -> None:
    inputs = _v2_inputs(sample_records(spam_project, 1))
    inputs[0]["parameters"] = "binary_data_size"  # a string holding the key looked like a binary tensor
    r = client.post("/v2/models/spam/infer", json={"inputs": inputs})
    assert r.status_code == 400 and "input 'n_links': 'parameters' must be an object" in r.json()["error"]


def test_a_monitoring_window_too_long_to_compute_is_refused(client: TestClient) -> None:
    r = client.get("/v1/models/spam/monitoring", params={"window": "99999999999d"})
    assert r.status_code == 422, r.text
    assert "window: '99999999999d' is longer than" in r.json()["error"] and "?last=N" in r.json()["error"]
    r = client.get("/v1/models/spam/monitoring", params={"last": 10**30})
    assert r.status_code == 422 and "last" in r.json()["error"], r.text


@pytest.mark.parametrize(
    ("datatype", "value", "shown"),
    [
        ("INT64", "NaN", "nan"),
        ("INT64", "Infinity", "inf"),
        ("INT64", "-Infinity", "-inf"),
        ("INT64", "1e30", "1e+30"),
        ("INT64", "1.5", "1.5"),
        ("INT64", str(2**63), str(2**63)),
        ("INT64", str(2**64), "1.8446744073709552e+19"),  # orjson reads integers over 64 bits as floats
        ("INT32", str(2**40), str(2**40)),
        ("UINT8", "300", "300"),
        ("UINT8", "-1", "-1"),
    ],
)
def test_v2_integer_tensors_refuse_values_they_cannot_hold(
    client: TestClient, spam_project: Path, datatype: str, value: str, shown: str
) -> None:
    """Cast, these became the type's minimum (or wrapped, or lost their fraction): a 200 with a wrong
    prediction where no declared rule caught the cast value."""
    recs = sample_records(spam_project, 2)
    inputs = _v2_inputs(recs)
    hour = next(i for i in inputs if i["name"] == "hour_sent")
    hour["datatype"] = datatype
    hour["data"] = [0, "MARK"]
    body = orjson.dumps({"inputs": inputs}).replace(b'"MARK"', value.encode())
    r = client.post("/v2/models/spam/infer", content=body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert f"input 'hour_sent' ({datatype}) element 1: {shown} is not a whole number" in error, error
    hour["data"] = [0, None]  # null stays a missing value
    assert client.post("/v2/models/spam/infer", json={"inputs": inputs}).status_code == 200


def test_an_internal_error_leaves_the_keep_alive_connection_usable(
    spam_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests on one connection, the first failing inside the server: the second is answered (or the
    first said ``Connection: close``) instead of the connection vanishing under a pooled client."""
    settings = ServerSettings(project=spam_project, env={}, server=ServerConfig(reload_interval=0.2))
    with start_server(settings) as server:

        def boom(self: ServingRuntime) -> dict[str, Any]:
            raise RuntimeError("a bug")

        monkeypatch.setattr(ServingRuntime, "readiness", boom)
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            first = _exchange(sock, "/readyz")
            assert first.startswith(b"HTTP/1.1 500"), first
            assert b"internal error" in first and b"a bug" not in first
            if b"\r\nconnection: close\r\n" not in first.lower():
                second = _exchange(sock, "/healthz")
                assert second.startswith(b"HTTP/1.1 200") and second.endswith(b'{"status":"ok"}'), second


def _exchange(sock: socket.socket, path: str) -> bytes:
    """Send one keep-alive GET and read its whole answer (by Content-Length); b"" if the server closed."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def test_metrics_answer_while_the_metadata_store_is_down(
    client: TestClient, spam_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Request metrics matter most during a database incident: the monitoring figures read from the
    metadata store are the last ones read, and the scrape answers."""
    client.post("/v1/models/spam/predict", json={"records": sample_records(spam_project, 1)})
    metadata = client.app.state.project.metadata  # type: ignore[attr-defined]
    at = datetime.now(UTC)
    reports = [
        MonitorReportRecord(
            id="r1",
            model="spam",
            version=1,
            route="production",
            created_at=at,
            window_start=at,
            window_end=at,
            rows=10,
            status="ok",
            metrics={"drift.share": 0.25},
        )
    ]
    monkeypatch.setattr(metadata, "list_monitor_reports", lambda limit: reports)
    assert 'mlfactory_monitor_drift_share{model="spam",route="production",version="1"} 0.25' in (
        client.get("/metrics").text
    )

    def down(limit: int) -> list[MonitorReportRecord]:
        raise StoreUnavailableError("the metadata database at postgresql://db/x does not answer")

    monkeypatch.setattr(metadata, "list_monitor_reports", down)
    r = client.get("/metrics")
    assert r.status_code == 200, r.text
    assert 'mlfactory_predictions_total{model="spam",route="production",version="1"} 1.0' in r.text
    assert 'mlfactory_monitor_drift_share{model="spam",route="production",version="1"} 0.25' in r.text
    # a database that does not answer at all (until its connection times out) does not hold the scrape
    released = threading.Event()

    def hangs(limit: int) -> list[MonitorReportRecord]:
        released.wait(60)
        raise StoreUnavailableError("timed out")

    monkeypatch.setattr(metadata, "list_monitor_reports", hangs)
    try:
        for _ in range(2):  # the second scrape finds the first read still hanging and starts none
            r = client.get("/metrics")
            assert r.status_code == 200 and "mlfactory_monitor_drift_share{" in r.text, r.text
    finally:
        released.set()


@pytest.mark.parametrize("body", [{"columns": {}}, {"records": []}, {"columns": {"n_links": []}}])
def test_no_rows_on_a_split_model_is_refused(client: TestClient, body: dict[str, Any]) -> None:
    """With a canary the rows are split between versions before they are checked: none left no version to
    answer (found by the fuzz test)."""
    assert client.put("/v1/admin/routing/spam/canary", json={"version": 2, "weight": 10}).status_code == 200
    r = client.post("/v1/models/spam/predict", json=body)
    assert r.status_code == 422 and "no rows to predict" in r.json()["error"], r.text


def _binary_infer(client: TestClient, header: dict[str, Any], blob: bytes) -> Any:
    head = orjson.dumps(header)
    return client.post(
        "/v2/models/spam/infer",
        content=head + blob,
        headers={
            "inference-header-content-length": str(len(head)),
            "content-type": "application/octet-stream",
        },
    )


def test_v2_shapes_too_large_to_hold_are_refused_before_allocating(client: TestClient) -> None:
    """A shape's size was NumPy's product, which wraps around (a huge shape needed "0 values" and then failed
    to reshape), and a binary BYTES tensor was allocated at its declared size before its elements were
    counted (terabytes)."""
    huge = [2**62, 2**62, 4]
    r = client.post(
        "/v2/models/spam/infer",
        json={"inputs": [{"name": "x", "shape": huge, "datatype": "FP64", "data": []}]},
    )
    assert r.status_code == 400 and f"needs {2**126} values, got 0" in r.json()["error"], r.text
    tensor = {"name": "x", "shape": [2**40], "datatype": "BYTES", "parameters": {"binary_data_size": 0}}
    r = _binary_infer(client, {"inputs": [tensor]}, b"")
    assert r.status_code == 400 and f"needs {2**40} values, got 0" in r.json()["error"], r.text


def test_v2_boolean_tensors_and_repeated_inputs_are_refused(client: TestClient, spam_project: Path) -> None:
    inputs = _v2_inputs(sample_records(spam_project, 1))
    flag = {"name": "n_links", "shape": [1], "datatype": "BOOL", "data": [2]}  # a cast made it true
    r = client.post("/v2/models/spam/infer", json={"inputs": [flag, *inputs[1:]]})
    assert (
        r.status_code == 400 and "input 'n_links' (BOOL) element 0: 2 is not a boolean" in r.json()["error"]
    )
    r = client.post("/v2/models/spam/infer", json={"inputs": [*inputs, dict(inputs[5], data=["other"])]})
    assert r.status_code == 400 and "input 'subject' is given twice" in r.json()["error"], r.text


def test_text_the_metadata_store_keeps_refuses_nul(client: TestClient, spam_project: Path) -> None:
    """PostgreSQL's text cannot hold NUL: feedback ids, labels, sources and routing reasons refuse it."""
    ids = client.post("/v1/models/spam/predict", json={"records": sample_records(spam_project, 1)}).json()
    for body, where in (
        ({"labels": [{"request_id": "a\x00b", "label": 1}]}, "labels.0.request_id"),
        ({"labels": [{"request_id": ids["request_ids"][0], "label": 1}], "source": "a\x00"}, "source"),
    ):
        r = client.post("/v1/feedback", json=body)
        assert r.status_code == 422 and where in r.json()["error"] and "NUL" in r.json()["error"], r.text
    r = client.put("/v1/admin/routing/spam/canary", json={"version": 2, "weight": 5, "reason": "a\x00b"})
    assert r.status_code == 422 and "reason" in r.json()["error"] and "NUL" in r.json()["error"], r.text
    r = client.delete("/v1/admin/routing/spam", params={"reason": "a\x00b"})
    assert r.status_code == 422 and "reason" in r.json()["error"], r.text


def test_v2_float_tensors_refuse_numbers_beyond_their_range(client: TestClient, spam_project: Path) -> None:
    """Cast to FP16, 1e10 became infinity and the answer blamed an infinity the client never sent."""
    inputs = _v2_inputs(sample_records(spam_project, 1))
    inputs[0] = {"name": "n_links", "shape": [1], "datatype": "FP16", "data": [1e10]}
    r = client.post("/v2/models/spam/infer", json={"inputs": inputs})
    assert r.status_code == 400, r.text
    assert "input 'n_links' (FP16) element 0: 10000000000.0 is beyond FP16's range" in r.json()["error"]
    inputs[0]["data"] = [3.0]
    assert client.post("/v2/models/spam/infer", json={"inputs": inputs}).status_code == 200


def test_a_lone_surrogate_in_an_entity_key_is_refused_before_the_online_store(
    features_template: Path, tmp_path: Path
) -> None:
    root = tmp_path / "p"
    shutil.copytree(features_template, root)
    recs = sample_records(root, 1)
    recs[0]["sender_domain"] = "MARK"
    with make_client(root) as c:
        r = c.post("/v1/models/spam/predict", content=_with_surrogate({"records": recs}, "MARK"))
        assert r.status_code == 422 and "body.records[0].sender_domain" in r.json()["error"], r.text
