"""Open Inference Protocol V2 (also through Triton's own client) and MLflow's scoring format."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from mlfactory.config import ServerConfig
from mlfactory.server import ServerSettings, start_server
from serving_helpers import sample_records

TYPES = {"n_links": "INT64", "n_attachments": "INT64", "hour_sent": "INT64"}


def _v2_inputs(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"name": k, "shape": [len(recs)], "datatype": TYPES.get(k, "BYTES"), "data": [r[k] for r in recs]}
        for k in recs[0]
    ]


def _native(client: TestClient, recs: list[dict[str, Any]]) -> dict[str, Any]:
    return client.post("/v1/models/spam/predict", json={"records": recs}).json()  # type: ignore[no-any-return]


def test_v2_health_and_metadata(client: TestClient) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2").json()["extensions"] == ["binary_tensor_data"]
    meta = client.get("/v2/models/spam").json()
    assert meta["name"] == "spam" and meta["versions"] == ["1"]
    assert [i["name"] for i in meta["inputs"]][:3] == ["n_links", "n_attachments", "hour_sent"]
    assert {o["name"] for o in meta["outputs"]} == {"predict", "probabilities", "model_version", "request_id"}
    assert client.get("/v2/models/spam/versions/2").json()["versions"] == ["2"]
    assert client.get("/v2/models/spam/ready").json() == {"name": "spam", "ready": True}
    assert client.get("/v2/models/spam/versions/2/ready").status_code == 503  # registered, not routed
    nope = client.get("/v2/models/nope")
    assert nope.status_code == 404 and set(nope.json()) == {"error"}


def test_v2_infer_per_column_and_2d(client: TestClient, spam_project: Path) -> None:
    recs = sample_records(spam_project, 3)
    native = _native(client, recs)
    r = client.post("/v2/models/spam/infer", json={"id": "abc", "inputs": _v2_inputs(recs)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == "abc" and body["model_name"] == "spam" and body["model_version"] == "1"
    outs = {o["name"]: o for o in body["outputs"]}
    assert outs["predict"]["data"] == native["predictions"] and outs["predict"]["shape"] == [3]
    assert outs["probabilities"]["shape"] == [3, 2]
    rows = [[str(r[k]) for k in recs[0]] for r in recs]  # one 2-D BYTES input in feature order
    two_d = client.post(
        "/v2/models/spam/versions/1/infer",
        json={
            "inputs": [{"name": "input-0", "shape": [3, 7], "datatype": "BYTES", "data": rows}],
            "outputs": [{"name": "predict"}],
        },
    ).json()
    assert two_d["outputs"] == [
        {"name": "predict", "shape": [3], "datatype": "INT64", "data": native["predictions"]}
    ]


@pytest.mark.parametrize(
    ("inputs", "needle"),
    [
        ([], "non-empty list"),
        ([{"name": "input-0", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}], "shape [1, 3]"),
        ([{"name": "n_links", "shape": [2], "datatype": "INT64", "data": [1]}], "needs 2 values"),
        ([{"name": "n_links", "shape": [1], "datatype": "FLOAT", "data": [1]}], "datatype 'FLOAT'"),
    ],
)
def test_v2_errors(client: TestClient, inputs: list[Any], needle: str) -> None:
    r = client.post("/v2/models/spam/infer", json={"inputs": inputs})
    assert r.status_code == 400 and needle in r.json()["error"] and set(r.json()) == {"error"}


def test_v2_bad_value_names_column_and_row(client: TestClient, spam_project: Path) -> None:
    inputs = _v2_inputs(sample_records(spam_project, 2))
    inputs[2] = {"name": "hour_sent", "shape": [2], "datatype": "BYTES", "data": ["3", "late"]}
    r = client.post("/v2/models/spam/infer", json={"inputs": inputs})
    assert r.status_code == 400 and "column 'hour_sent' (integer) row 1" in r.json()["error"]


def test_v2_binary_extension(client: TestClient, spam_project: Path) -> None:
    recs = sample_records(spam_project, 2)
    header: dict[str, Any] = {"inputs": [], "parameters": {"binary_data_output": True}}
    blobs = []
    for k in recs[0]:
        values = [r[k] for r in recs]
        if k in TYPES:
            raw = np.asarray(values, dtype="<i8").tobytes()
        else:
            raw = b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in map(str, values))
        header["inputs"].append(
            {
                "name": k,
                "shape": [2],
                "datatype": TYPES.get(k, "BYTES"),
                "parameters": {"binary_data_size": len(raw)},
            }
        )
        blobs.append(raw)
    head = __import__("json").dumps(header).encode()
    r = client.post(
        "/v2/models/spam/infer",
        content=head + b"".join(blobs),
        headers={
            "Inference-Header-Content-Length": str(len(head)),
            "content-type": "application/octet-stream",
        },
    )
    assert r.status_code == 200, r.text
    n = int(r.headers["inference-header-content-length"])
    meta = __import__("json").loads(r.content[:n])
    first = meta["outputs"][0]
    pred = np.frombuffer(r.content[n : n + first["parameters"]["binary_data_size"]], dtype="<i8")
    assert pred.tolist() == _native(client, recs)["predictions"]


def test_tritonclient_talks_to_us(spam_project: Path) -> None:
    httpclient = pytest.importorskip("tritonclient.http")
    recs = sample_records(spam_project, 4)
    settings = ServerSettings(project=spam_project, env={}, server=ServerConfig())
    with start_server(settings) as server:
        c = httpclient.InferenceServerClient(server.url.removeprefix("http://"))
        assert c.is_server_live() and c.is_server_ready() and c.is_model_ready("spam")
        meta = c.get_model_metadata("spam")
        inputs = []
        for spec in meta["inputs"]:
            values = [r[spec["name"]] for r in recs]
            arr = (
                np.asarray(values, dtype=np.int64)
                if spec["datatype"] == "INT64"
                else np.asarray([str(v).encode() for v in values], dtype=np.object_)
            )
            tensor = httpclient.InferInput(spec["name"], [len(recs)], spec["datatype"])
            tensor.set_data_from_numpy(arr, binary_data=spec["datatype"] != "BYTES")
            inputs.append(tensor)
        result = c.infer("spam", inputs)  # binary outputs by default
        expected = (
            __import__("httpx")
            .post(f"{server.url}/v1/models/spam/predict", json={"records": recs})
            .json()["predictions"]
        )
        assert result.as_numpy("predict").tolist() == expected
        assert result.as_numpy("probabilities").shape == (4, 2)
        assert result.get_response()["model_version"] == "1"
        json_out = c.infer(
            "spam", inputs, outputs=[httpclient.InferRequestedOutput("predict", binary_data=False)]
        )
        assert json_out.as_numpy("predict").tolist() == expected
        with pytest.raises(Exception, match="missing input"):
            c.infer("spam", inputs[:2])


def test_mlflow_formats(client: TestClient, spam_project: Path) -> None:
    recs = sample_records(spam_project, 3)
    expected = _native(client, recs)["predictions"]
    cols = list(recs[0])
    bodies = [
        {"dataframe_split": {"columns": cols, "data": [[r[c] for c in cols] for r in recs]}},
        {"dataframe_records": recs},
        {"instances": recs},
        {"inputs": {c: [r[c] for r in recs] for c in cols}},
        {"inputs": [[r[c] for c in cols] for r in recs], "params": {"x": 1}},
    ]
    for body in bodies:
        r = client.post("/invocations", json=body)
        assert r.status_code == 200 and r.json() == {"predictions": expected}, (body, r.text)
    csv = pd.DataFrame(recs).to_csv(index=False).encode()
    r = client.post("/models/spam/invocations", content=csv, headers={"content-type": "text/csv"})
    assert r.json() == {"predictions": expected}


@pytest.mark.parametrize(
    ("body", "ctype", "needle"),
    [
        (b'{"dataframe_records": [], "instances": []}', "application/json", "exactly one of"),
        (b'{"records": []}', "application/json", "exactly one of"),
        (b"", "text/csv", "empty"),
        (b"a,b\n1,2\n", "text/csv", "missing input column"),
        (b"<xml/>", "application/xml", "not supported"),
    ],
)
def test_mlflow_errors(client: TestClient, body: bytes, ctype: str, needle: str) -> None:
    r = client.post("/invocations", content=body, headers={"content-type": ctype})
    assert 400 <= r.status_code < 500 and needle in r.json()["message"]
    assert r.json()["error_code"] == "BAD_REQUEST"
