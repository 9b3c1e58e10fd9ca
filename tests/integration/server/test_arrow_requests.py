"""Rows sent as an Arrow IPC stream to the native endpoint: the same answers as JSON, every bad stream a clean
4xx naming what was wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
from fastapi.testclient import TestClient

from serving_helpers import make_client, sample_records

ARROW = {"content-type": "application/vnd.apache.arrow.stream"}
URL = "/v1/models/spam/predict"


def stream(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=7)  # several record batches, as a streaming client sends
    return sink.getvalue().to_pybytes()


def records_table(recs: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(recs)


def test_arrow_answers_as_json_does(client: TestClient, spam_project: Path) -> None:
    recs = sample_records(spam_project, 40)
    recs[3] = {**recs[3], "language": None, "subject": None}  # missing category and text
    by_json = client.post(URL, json={"records": recs})
    by_arrow = client.post(URL, content=stream(records_table(recs)), headers=ARROW)
    assert by_json.status_code == 200 and by_arrow.status_code == 200, by_arrow.text
    a, b = by_json.json(), by_arrow.json()
    assert b["predictions"] == a["predictions"] and b["probabilities"] == a["probabilities"]
    assert b["classes"] == a["classes"] and len(set(b["request_ids"])) == len(recs)


def test_dictionary_and_large_string_columns(client: TestClient, spam_project: Path) -> None:
    recs = sample_records(spam_project, 20)
    table = records_table(recs)
    i = table.column_names.index("language")
    table = table.set_column(i, "language", table.column("language").dictionary_encode())
    j = table.column_names.index("body")
    table = table.set_column(j, "body", table.column("body").cast(pa.large_string()))
    by_arrow = client.post(URL, content=stream(table), headers=ARROW).json()
    assert by_arrow["predictions"] == client.post(URL, json={"records": recs}).json()["predictions"]


def _bad(recs: list[dict[str, Any]]) -> list[tuple[str, bytes, str]]:
    table = records_table(recs)
    file_sink = pa.BufferOutputStream()
    with pa.ipc.new_file(file_sink, table.schema) as w:
        w.write_table(table)
    no_links = table.drop_columns(["n_links"])
    text_hours = table.set_column(
        table.column_names.index("hour_sent"), "hour_sent", pa.array(["noon"] * len(recs))
    )
    nested = table.append_column("tags", pa.array([[1, 2]] * len(recs)))
    return [
        ("empty body", b"", "body is empty"),
        ("JSON sent as Arrow", b'{"records": []}', "not an Arrow IPC stream"),
        ("the file format", file_sink.getvalue().to_pybytes(), "not an Arrow IPC stream"),
        ("truncated", stream(table)[:-40], "not an Arrow IPC stream"),
        ("missing column", stream(no_links), "missing input column(s) ['n_links']"),
        ("text in a number column", stream(text_hours), "column 'hour_sent' (integer) row 0: got 'noon'"),
        ("nested column", stream(nested), "column 'tags' is an Arrow list<item: int64> column"),
        ("no rows", stream(table.slice(0, 0)), "no rows to predict"),
    ]


def test_bad_streams_are_clean_4xx(client: TestClient, spam_project: Path) -> None:
    for name, body, needle in _bad(sample_records(spam_project, 3)):
        r = client.post(URL, content=body, headers=ARROW)
        assert r.status_code == 422, (name, r.text)
        assert needle in r.json()["error"], (name, r.text)
    assert client.post(URL, json={"records": sample_records(spam_project, 1)}).status_code == 200


def test_row_limit_applies(spam_project: Path) -> None:
    with make_client(spam_project, max_rows=2) as c:
        r = c.post(URL, content=stream(records_table(sample_records(spam_project, 3))), headers=ARROW)
        assert r.status_code == 413 and "limit of 2 rows" in r.json()["error"]
