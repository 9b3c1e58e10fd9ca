"""Input checks: every bad input is a ValidationError naming the column and the row."""

from __future__ import annotations

import math

import numpy as np
import orjson
import pytest

from mlfactory.errors import PayloadTooLargeError, ValidationError
from mlfactory.inputs import Columns, InputSpec, Records, Rows

SIG = {
    "inputs": [
        {"name": "a", "type": "number"},
        {"name": "b", "type": "integer"},
        {"name": "lang", "type": "category"},
        {"name": "text", "type": "text"},
    ]
}
NUM = {"inputs": [{"name": "x", "type": "number"}, {"name": "y", "type": "number"}]}
BOOL = {"name": "ok", "type": "boolean"}


def rec(**kw: object) -> dict[str, object]:
    return {"a": 1.5, "b": 2, "lang": "en", "text": "hi", **kw}


def test_records_columns_and_rows_agree() -> None:
    spec = InputSpec(SIG)
    a = spec.check(Records([rec(), rec(a=2.5, lang=None, text=None)]))
    b = spec.check(
        Columns({"a": [1.5, 2.5], "b": [2, 2], "lang": ["en", None], "text": ["hi", None], "extra": [0, 0]})
    )
    c = spec.check(Rows([[1.5, 2, "en", "hi"], [2.5, 2, None, None]]))
    for batch in (a, b, c):
        assert batch.n == 2
        assert batch.columns["a"].tolist() == [1.5, 2.5]
        assert batch.columns["lang"].tolist() == ["en", None]
        assert batch.columns["text"].tolist() == ["hi", ""]  # text is never missing: empty, as in training
    assert list(a.frame().columns) == ["a", "b", "lang", "text"]


def test_numeric_only_uses_one_matrix() -> None:
    batch = InputSpec(NUM).check(Records([{"x": 1, "y": 2.0}, {"x": 3, "y": 4}]))
    assert batch.matrix is not None and batch.matrix.dtype == np.float64
    assert batch.take(np.array([1])).matrix.tolist() == [[3.0, 4.0]]


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        (Records([rec(), {"a": 1}]), "row 1: missing input column(s) ['b', 'lang', 'text']"),
        (Records([rec(), rec(a="abc")]), "column 'a' (number) row 1: got 'abc' (text)"),
        (Records([rec(b=[1, 2])]), "column 'b' (integer) row 0: got a list"),
        (Records([rec(lang={"x": 1})]), "column 'lang' (category) row 0: got an object"),
        (Records([rec(), rec(), rec(a=math.inf)]), "column 'a' row 2: infinity is not allowed"),
        (Records([rec(), 5]), "row 1: expected an object"),
        (Columns({"a": [1.0], "b": [1, 2], "lang": ["en"], "text": ["x"]}), "different lengths"),
        (Columns({"a": 1.0, "b": [1], "lang": ["en"], "text": ["x"]}), "column 'a' must be a list"),
        (Columns({"a": [1.0]}), "missing input column(s) ['b', 'lang', 'text']"),
        (Rows([[1.0, 2, "en"]]), "row 0 has 3 values; expected 4"),
        (Rows([[1.0, 2, "en", "x"]], names=["a", "b", "lang", "zzz"]), "missing input column(s) ['text']"),
        (Records([]), "no rows to predict"),
    ],
)
def test_bad_input_names_field_and_row(payload: object, needle: str) -> None:
    with pytest.raises(ValidationError) as err:
        InputSpec(SIG).check(payload)  # type: ignore[arg-type]
    assert needle in str(err.value)


def test_several_bad_columns_are_all_reported() -> None:
    with pytest.raises(ValidationError) as err:
        InputSpec(SIG).check(Records([rec(a="x", b="y")]))
    assert len(err.value.reasons) == 2


def test_missing_numbers_only_where_the_model_cannot_take_them() -> None:
    ok = InputSpec(NUM, allow_nan=True).check(Records([{"x": None, "y": 1}]))
    assert math.isnan(ok.matrix[0, 0])
    with pytest.raises(ValidationError, match=r"column 'x' \(number\) row 1: missing value"):
        InputSpec(NUM, allow_nan=False).check(Records([{"x": 1, "y": 1}, {"x": None, "y": 1}]))
    with pytest.raises(ValidationError, match=r"column 'y' \(number\) row 0: missing value"):
        InputSpec(NUM, allow_nan=False).check(Rows(np.array([[1.0, np.nan]])))


def test_text_numbers_only_when_the_transport_is_text() -> None:
    spec = InputSpec(NUM)
    with pytest.raises(ValidationError, match="row 0: got '1.5'"):
        spec.check(Rows([["1.5", "2"]]))
    assert spec.check(Rows([["1.5", "2"]], strings_are_numbers=True)).matrix.tolist() == [[1.5, 2.0]]
    with pytest.raises(ValidationError, match="row 0: 'abc' is not a number"):
        spec.check(Rows([["abc", "2"]], strings_are_numbers=True))


def test_row_limit() -> None:
    with pytest.raises(PayloadTooLargeError, match="over this server's limit of 2 rows"):
        InputSpec(NUM).check(Records([{"x": 1, "y": 1}] * 3), max_rows=2)


def test_typed_records_decoding_agrees_with_the_general_path() -> None:
    spec = InputSpec(
        {"inputs": [{"name": "x y", "type": "number"}, {"name": "class", "type": "integer"}, BOOL]}
    )
    rows = [{"x y": 1, "class": 2, "ok": True, "extra": "ignored"}, {"x y": None, "class": -1, "ok": False}]
    decoded = spec.decode_records(orjson.dumps({"records": rows, "key": "user-7"}))
    assert decoded is not None
    payload, key = decoded
    assert key == "user-7"
    np.testing.assert_array_equal(spec.check(payload).matrix, spec.check(Records(rows)).matrix)


@pytest.mark.parametrize(
    "body",
    [
        b'{"records": [{"x": "1.5", "y": 2}]}',  # text in a number: the general path names it
        b'{"records": [{"x": 1}]}',  # a missing column
        b'{"records": [{"x": NaN, "y": 1}]}',  # not JSON
        b'{"records": []}',
        b'{"columns": {"x": [1], "y": [2]}}',
        b'[{"x": 1, "y": 2}]',
    ],
)
def test_typed_records_decoding_leaves_everything_else_to_the_general_path(body: bytes) -> None:
    assert InputSpec(NUM).decode_records(body) is None


def test_typed_records_decoding_is_only_for_numeric_models() -> None:
    assert InputSpec(SIG).decode_records(orjson.dumps({"records": [rec()]})) is None


def test_date_times_spelled_differently_in_one_request_all_parse_to_their_utc_instants() -> None:
    from datetime import UTC, datetime

    import pandas as pd

    from mlfactory.inputs.values import ColumnType

    column = ColumnType("sent_at", "datetime")
    values = ["2024-05-01 11:59:59", "2024-05-01T12:00:00+02:00", "2024-05-01T10:00:00Z", "2024-05-01", None]
    parsed, why = column.dates(values)
    assert why is None and parsed is not None
    expected = [datetime(2024, 5, 1, 11, 59, 59), datetime(2024, 5, 1, 10), datetime(2024, 5, 1, 10)]
    expected += [datetime(2024, 5, 1)]
    assert list(pd.DatetimeIndex(parsed[:4])) == [pd.Timestamp(e, tz=UTC) for e in expected]
    assert pd.isna(parsed[4])


def test_a_number_or_non_iso_text_is_not_a_date_time_and_the_row_is_named() -> None:
    from mlfactory.inputs.values import ColumnType

    column = ColumnType("sent_at", "datetime")
    for bad, shown in (
        (1714557600000, "1714557600000"),
        ("yesterday", "yesterday"),
        ("2024-13-45", "2024-13-45"),
    ):
        parsed, why = column.dates(["2024-05-01T10:00:00Z", bad])
        assert parsed is None and why is not None
        assert why.startswith("column 'sent_at' (datetime) row 1:") and shown in why, why
