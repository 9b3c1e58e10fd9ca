"""Bad input and the rules the project file declares, through the real app on all three protocols."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from serving_helpers import make_client, sample_records

INTS = {"n_links": "INT64", "n_attachments": "INT64", "hour_sent": "INT64"}


def _records(root: Path, **changes: Any) -> list[dict[str, Any]]:
    """Three sample rows; row 1 gets ``changes``."""
    recs = sample_records(root, 3)
    recs[1].update(changes)
    return recs


def _v2(recs: list[dict[str, Any]], datatypes: dict[str, str] | None = None) -> dict[str, Any]:
    types = {**INTS, **(datatypes or {})}
    return {
        "inputs": [
            {"name": k, "shape": [len(recs)], "datatype": types.get(k, "BYTES"), "data": [r[k] for r in recs]}
            for k in recs[0]
        ]
    }


def _split(recs: list[dict[str, Any]]) -> dict[str, Any]:
    cols = list(recs[0])
    return {"dataframe_split": {"columns": cols, "data": [[r[c] for c in cols] for r in recs]}}


def _post(client: TestClient, path: str, body: dict[str, Any]) -> Any:
    # json.dumps writes NaN as the bare NaN many encoders send
    return client.post(path, content=json.dumps(body), headers={"content-type": "application/json"})


def _error(response: Any) -> str:
    assert 400 <= response.status_code < 500, response.text
    return str(response.json()["error"])


def test_the_signature_carries_the_declared_rules(client: TestClient) -> None:
    inputs = {c["name"]: c for c in client.get("/v1/models/spam").json()["inputs"]}
    assert inputs["n_links"] == {"name": "n_links", "type": "integer", "min": 0.0, "max": 500.0}
    assert inputs["language"] == {
        "name": "language",
        "type": "category",
        "categories": ["en", "de", "fr", "es"],
    }
    assert inputs["sender_domain"] == {"name": "sender_domain", "type": "category", "nullable": False}
    assert inputs["subject"] == {"name": "subject", "type": "text"}


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"n_links": float("nan")}, "column 'n_links' (integer) row 1: NaN is not a number"),
        ({"n_links": -3.5}, "column 'n_links' (integer) row 1: -3.5 is not a whole number"),
        ({"subject": 5}, "column 'subject' (text) row 1: got 5 (a number); send text"),
        ({"n_links": 600}, "column 'n_links' row 1: 600 is above the declared maximum 500"),
        ({"n_links": -3}, "column 'n_links' row 1: -3 is below the declared minimum 0"),
        ({"language": "it"}, "column 'language' row 1: 'it' is not among the declared categories"),
        ({"sender_domain": None}, "column 'sender_domain' row 1: missing, but the column is declared not"),
    ],
)
def test_bad_rows_get_4xx_naming_column_and_row_on_every_protocol(
    client: TestClient, spam_project: Path, changes: dict[str, Any], needle: str
) -> None:
    recs = _records(spam_project, **changes)
    native = _post(client, "/v1/models/spam/predict", {"records": recs})
    assert native.status_code == 422 and needle in _error(native)
    columns = _post(
        client, "/v1/models/spam/predict", {"columns": {k: [r[k] for r in recs] for k in recs[0]}}
    )
    assert columns.status_code == 422 and needle in _error(columns)
    # a BYTES tensor for the text (its JSON data holding the number); FP64 for non-integral n_links
    datatypes = {"n_links": "FP64"} if isinstance(changes.get("n_links"), float) else {}
    v2 = _post(client, "/v2/models/spam/infer", _v2(recs, datatypes))
    assert v2.status_code == 400 and needle in _error(v2)
    mlflow = _post(client, "/invocations", _split(recs))
    assert mlflow.status_code == 422 and needle in mlflow.json()["message"]
    assert mlflow.json()["error_code"] == "BAD_REQUEST"


def test_csv_and_v2_bytes_send_text_and_are_checked_too(client: TestClient, spam_project: Path) -> None:
    good = sample_records(spam_project, 3)
    csv = pd.DataFrame(good).to_csv(index=False).encode()
    ok = client.post("/invocations", content=csv, headers={"content-type": "text/csv"})
    assert ok.status_code == 200, ok.text
    bad = pd.DataFrame(_records(spam_project, n_links=600)).to_csv(index=False).encode()
    r = client.post("/invocations", content=bad, headers={"content-type": "text/csv"})
    assert r.status_code == 422 and "column 'n_links' row 1: 600 is above" in r.json()["message"]
    cols = list(good[0])
    rows = [[str(x[c]) for c in cols] for x in _records(spam_project, n_links=-2)]
    body = {"inputs": [{"name": "input-0", "shape": [3, len(cols)], "datatype": "BYTES", "data": rows}]}
    v2 = client.post("/v2/models/spam/infer", json=body)
    assert v2.status_code == 400 and "column 'n_links' row 1: -2 is below" in _error(v2)


@pytest.fixture
def flag_client(spam_project: Path) -> Iterator[TestClient]:
    y = spam_project / "mlfactory.yaml"
    text = y.read_text()
    anchor = "    label: is_spam\n"
    assert anchor in text
    y.write_text(text.replace(anchor, anchor + "    on_invalid_input: flag\n", 1))
    with make_client(spam_project) as c:
        yield c


def test_flag_mode_answers_and_names_the_broken_rules(flag_client: TestClient, spam_project: Path) -> None:
    recs = _records(spam_project, n_links=600, language="it")
    expected = [
        [],
        ["n_links: 600 above the declared maximum 500", "language: 'it' not among the declared categories"],
        [],
    ]
    native = flag_client.post("/v1/models/spam/predict", json={"records": recs})
    assert native.status_code == 200, native.text
    body = native.json()
    assert len(body["predictions"]) == 3 and body["input_violations"] == expected

    v2 = flag_client.post("/v2/models/spam/infer", json=_v2(recs))
    assert v2.status_code == 200, v2.text
    outs = {o["name"]: o for o in v2.json()["outputs"]}
    assert outs["input_violations"]["data"] == ["", "; ".join(expected[1]), ""]
    assert v2.json()["parameters"] == {"input_violations": 1}

    mlflow = flag_client.post("/invocations", json=_split(recs))
    assert mlflow.status_code == 200 and mlflow.json()["input_violations"] == expected

    clean = flag_client.post("/v1/models/spam/predict", json={"records": sample_records(spam_project, 2)})
    assert "input_violations" not in clean.json()
    # what the model cannot take is refused in flag mode too
    typed = flag_client.post("/v1/models/spam/predict", json={"records": _records(spam_project, n_links=2.5)})
    assert typed.status_code == 422 and "column 'n_links' (integer) row 1" in typed.json()["error"]

    log = flag_client.app.state.prediction_log  # type: ignore[attr-defined]
    log.flush()
    logged = log.query(model="spam", request_ids=body["request_ids"]).set_index("request_id")
    violations = logged.loc[body["request_ids"], "input_violations"].tolist()
    assert violations[1] == "; ".join(expected[1])
    assert pd.isna(violations[0]) and pd.isna(violations[2])
    assert logged.loc[body["request_ids"][1], "input.n_links"] == 600  # logged as the model saw it
