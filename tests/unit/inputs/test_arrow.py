"""Arrow columns become the arrays the input check reads: types kept, nulls as each kind's missing value."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest

from mlfactory.errors import ValidationError
from mlfactory.inputs import InputSpec, arrow_payload


def stream(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def test_numbers_stay_typed_and_nulls_are_missing() -> None:
    table = pa.table({"x": [1.5, None, 3.0], "n": [1, 2, 3], "b": [True, False, True]})
    payload = arrow_payload(stream(table))
    assert payload.table and payload.data["x"].dtype == np.float64 and np.isnan(payload.data["x"][1])
    assert payload.data["n"].dtype == np.int64 and payload.data["b"].dtype == np.bool_


def test_integer_codes_with_nulls_stay_whole_in_a_category_column() -> None:
    spec = InputSpec({"inputs": [{"name": "code", "type": "category"}, {"name": "n", "type": "integer"}]})
    batch = spec.check(arrow_payload(stream(pa.table({"code": [3, None, 7], "n": [1, None, 2]}))))
    assert batch.columns["code"].tolist() == ["3", None, "7"]
    assert batch.columns["n"][0] == 1 and np.isnan(batch.columns["n"][1])


def test_timestamps_with_and_without_zone_read_as_utc() -> None:
    spec = InputSpec({"inputs": [{"name": "t", "type": "datetime"}]})
    aware = pa.array([datetime(2024, 5, 1, 12, tzinfo=UTC), None], pa.timestamp("us", tz="Europe/Paris"))
    naive = pa.array([datetime(2024, 5, 1, 12), None], pa.timestamp("ms"))
    for column in (aware, naive):
        values = spec.check(arrow_payload(stream(pa.table({"t": column})))).columns["t"]
        assert str(values[0]) == "2024-05-01 12:00:00+00:00"


@pytest.mark.parametrize(
    ("column", "needle"),
    [
        (pa.array([{"a": 1}]), "column 'c' is an Arrow struct<a: int64> column"),
        (pa.array([[1.0]]), "column 'c' is an Arrow list<item: double> column"),
    ],
)
def test_nested_columns_are_refused_by_name(column: pa.Array, needle: str) -> None:
    with pytest.raises(ValidationError, match="send numbers, booleans, text") as info:
        arrow_payload(stream(pa.table({"c": column})))
    assert needle in str(info.value)


def test_not_a_stream() -> None:
    with pytest.raises(ValidationError, match="not an Arrow IPC stream"):
        arrow_payload(b"ARROW1\x00\x00 not really")
