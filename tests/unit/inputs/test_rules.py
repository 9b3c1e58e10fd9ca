"""Input checks against a signature's types and the rules its source declares (issue 10, point 6)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from mlfactory.entities import DatasetVersion
from mlfactory.errors import ValidationError
from mlfactory.inputs import Batch, Columns, InputSpec, Records, Rows, frame_payload, signature_inputs

RULED = {
    "inputs": [
        {"name": "n", "type": "integer", "min": 0.0, "max": 500.0},
        {"name": "x", "type": "number"},
        {"name": "lang", "type": "category", "categories": ["en", "de"], "nullable": False},
        {"name": "t", "type": "text"},
    ]
}
OLD = {"inputs": [{"name": c["name"], "type": c["type"]} for c in RULED["inputs"]]}  # before rules existed
NUMERIC = {
    "inputs": [
        {"name": "a", "type": "integer", "min": 0.0},
        {"name": "b", "type": "number", "max": 1.0},
        {"name": "ok", "type": "boolean"},
    ]
}


def rec(**kw: Any) -> dict[str, Any]:
    return {"n": 3, "x": 1.5, "lang": "en", "t": "hello", **kw}


def num(**kw: Any) -> dict[str, Any]:
    return {"a": 1, "b": 0.5, "ok": True, **kw}


def error(spec: InputSpec, payload: Any, **kw: Any) -> str:
    with pytest.raises(ValidationError) as err:
        spec.check(payload, **kw)
    return str(err.value)


def dataset(schema: dict[str, Any], origin: str) -> DatasetVersion:
    return DatasetVersion(
        id="emails@1",
        source="emails",
        version=1,
        content_hash="0" * 64,
        artifact="0" * 64,
        n_rows=10,
        schema=schema,
        profile={},
        validation={"reasons": [], "warnings": [], "schema_origin": origin},
        valid=True,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


# -- the signature records declared rules only -----------------------------------------------------------


def test_signature_records_the_declared_rules() -> None:
    schema = {
        "columns": {
            "n_links": {"type": "integer", "nullable": True, "min": 0, "max": 500},
            "language": {"type": "category", "nullable": True, "categories": ["en", "de"]},
            "sender": {"type": "category", "nullable": False},
            "subject": {"type": "text", "nullable": True, "max_null_rate": 0.1},
        }
    }
    types = {"n_links": "integer", "language": "category", "sender": "category", "subject": "text"}
    assert signature_inputs(types, dataset(schema, "declared")) == [
        {"name": "n_links", "type": "integer", "min": 0.0, "max": 500.0},
        {"name": "language", "type": "category", "categories": ["en", "de"]},
        {"name": "sender", "type": "category", "nullable": False},
        {"name": "subject", "type": "text"},
    ]


def test_an_inferred_schema_gives_no_rules() -> None:
    schema = {
        "columns": {
            "language": {"type": "category", "nullable": False, "categories": ["en", "de"]},
            "n": {"type": "integer", "nullable": False},
        }
    }
    types = {"n": "integer", "language": "category"}
    for origin in ("inferred", "previous"):
        assert signature_inputs(types, dataset(schema, origin)) == [
            {"name": "n", "type": "integer"},
            {"name": "language", "type": "category"},
        ]


def test_rules_only_where_they_mean_something_for_the_models_type() -> None:
    schema = {"columns": {"code": {"type": "integer", "min": 0, "max": 9}, "kind": {"type": "category"}}}
    # an integer column the model treats as a category: bounds would compare text with numbers
    got = signature_inputs(
        {"code": "category", "kind": "category", "extra": "number"}, dataset(schema, "declared")
    )
    assert got == [
        {"name": "code", "type": "category"},
        {"name": "kind", "type": "category"},
        {"name": "extra", "type": "number"},
    ]


# -- types: always enforced ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        (Records([rec(), rec(x=math.nan)]), "column 'x' (number) row 1: NaN is not a number"),
        (Records([rec(x=-math.inf)]), "column 'x' row 0: infinity is not allowed"),
        (Columns({"n": [1], "x": [math.nan], "lang": ["en"], "t": ["a"]}), "column 'x' (number) row 0: NaN"),
        (Rows([[1, 2.0, "en", "a"], [1, math.nan, "en", "a"]]), "column 'x' (number) row 1: NaN"),
        (Records([rec(), rec(n=-3.5)]), "column 'n' (integer) row 1: -3.5 is not a whole number"),
        (Records([rec(t=5)]), "column 't' (text) row 0: got 5 (a number); send text"),
        (Records([rec(lang=1.5)]), "column 'lang' (category) row 0: got 1.5 (a number); send text"),
        (Records([rec(lang=True)]), "column 'lang' (category) row 0: got True; send text"),
        (Records([rec(t=["a"])]), "column 't' (text) row 0: got a list; send text"),
        (Records([rec(lang=math.nan)]), "column 'lang' (category) row 0: got nan (a number)"),
        (Rows([["1", "nan", "en", "a"]], strings_are_numbers=True), "column 'x' (number) row 0: NaN"),
        (
            Columns({"n": np.array([1]), "x": [1.0], "lang": np.array([7]), "t": ["a"]}),
            "'lang' (category) row 0",
        ),
    ],
)
def test_types_are_enforced_with_and_without_rules(payload: Any, needle: str) -> None:
    for sig in (RULED, OLD):
        for mode in ("reject", "flag"):  # the model cannot take these: never flagged, always refused
            assert needle in error(InputSpec(sig), payload, on_invalid=mode)


def test_numeric_models_refuse_nan_non_integers_and_non_booleans_on_every_path() -> None:
    spec = InputSpec(NUMERIC)
    assert "column 'b' (number) row 1: NaN" in error(spec, Records([num(), num(b=math.nan)]))
    assert "column 'b' (number) row 0: NaN" in error(spec, Rows([[1, math.nan, 1]]))
    assert "column 'a' (integer) row 0: 2.5 is not a whole number" in error(
        spec, Rows(np.array([[2.5, 0, 1]]))
    )
    assert "column 'ok' (boolean) row 1: 2 is not a boolean" in error(spec, Records([num(), num(ok=2)]))
    body = orjson.dumps({"records": [num(), num(a=-3.5)]})
    decoded = spec.decode_records(body)
    assert decoded is not None
    assert "column 'a' (integer) row 1: -3.5 is not a whole number" in error(spec, decoded[0])


def test_null_is_a_missing_value_and_nan_in_arrays_or_tables_too() -> None:
    spec = InputSpec(NUMERIC)
    assert math.isnan(spec.check(Records([num(b=None)])).matrix[0, 1])  # type: ignore[index]
    assert math.isnan(spec.check(Rows(np.array([[1.0, np.nan, 1.0]]))).matrix[0, 1])  # type: ignore[index]
    decoded = spec.decode_records(orjson.dumps({"records": [num(b=None)]}))
    assert decoded is not None and math.isnan(spec.check(decoded[0]).matrix[0, 1])  # type: ignore[index]
    mixed = InputSpec(OLD)
    batch = mixed.check(Columns({"n": [1], "x": [None], "lang": [None], "t": [None]}))
    assert (
        math.isnan(batch.columns["x"][0]) and batch.columns["lang"][0] is None and batch.columns["t"][0] == ""
    )
    with pytest.raises(ValidationError, match="row 0: missing value"):
        InputSpec(NUMERIC, allow_nan=False).check(Records([num(b=None)]))


def test_tables_keep_their_conventions() -> None:
    """CSV files and DataFrames: NaN is the missing value and numbers in a text column are its text."""
    frame = pd.DataFrame({"n": [1, 2], "x": [np.nan, 2.0], "lang": ["en", np.nan], "t": [12, 13]})
    batch = InputSpec(OLD).check(frame_payload(frame, InputSpec(OLD)))
    assert batch.columns["t"].tolist() == ["12", "13"] and batch.columns["lang"].tolist() == ["en", None]
    csv = Columns({"n": np.array([1]), "x": [math.nan], "lang": ["en"], "t": [7]}, True, table=True)
    assert InputSpec(OLD).check(csv).columns["t"].tolist() == ["7"]


def test_v2_bytes_text_still_reads_numbers_in_number_columns() -> None:
    rows = np.array([[b"3", b"1.5", b"en", b"hi"]], dtype=object)
    batch = InputSpec(RULED).check(Rows(rows, strings_are_numbers=True))
    assert batch.columns["n"].tolist() == [3.0] and batch.columns["t"].tolist() == ["hi"]


# -- declared rules --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        (Records([rec(), rec(n=-3)]), "column 'n' row 1: -3 is below the declared minimum 0"),
        (
            Records([rec(n=501), rec(), rec(n=600)]),
            "column 'n' rows 0, 2: 501 is above the declared maximum 500",
        ),
        (
            Columns({"n": [1], "x": [1.0], "lang": ["xx"], "t": ["a"]}),
            "column 'lang' row 0: 'xx' is not among",
        ),
        (
            Rows([[1, 2.0, None, "a"]]),
            "column 'lang' row 0: missing, but the column is declared not nullable",
        ),
    ],
)
def test_declared_rules_are_enforced_naming_column_rule_and_rows(payload: Any, needle: str) -> None:
    message = error(InputSpec(RULED), payload)
    assert needle in message and "on_invalid_input: flag" in message


def test_numeric_fast_paths_apply_the_rules() -> None:
    spec = InputSpec(NUMERIC)
    body = orjson.dumps({"records": [num(), num(a=-1), num(b=3)]})
    decoded = spec.decode_records(body)
    assert decoded is not None
    message = error(spec, decoded[0])
    assert "column 'a' row 1: -1 is below the declared minimum 0" in message
    assert "column 'b' row 2: 3 is above the declared maximum 1" in message
    assert "column 'a' row 0: -2" in error(spec, Rows(np.array([[-2.0, 0.0, 1.0]])))
    assert "column 'a' row 0: -2" in error(spec, Rows([[-2, 0, 1]]))
    assert spec.check(Records([num(a=None, b=None)])).n == 1  # a missing value breaks no bound


def test_signatures_without_rules_keep_working() -> None:
    batch = InputSpec(OLD).check(Records([rec(n=-3), rec(n=9999, lang="xx"), rec(lang=None)]))
    assert batch.n == 3 and batch.violations is None
    assert batch.columns["lang"].tolist() == ["en", "xx", None]


def test_flag_mode_answers_and_names_each_rows_broken_rules() -> None:
    spec = InputSpec(RULED)
    batch = spec.check(Records([rec(), rec(n=600, lang="xx"), rec(lang=None), rec(n=-1)]), on_invalid="flag")
    assert batch.n == 4
    assert batch.flagged() == [
        [],
        ["n: 600 above the declared maximum 500", "lang: 'xx' not among the declared categories"],
        ["lang: missing, but the column is declared not nullable"],
        ["n: -1 below the declared minimum 0"],
    ]
    assert batch.columns["n"].tolist() == [3.0, 600.0, 3.0, -1.0]  # answered as sent
    part = batch.take(np.array([1, 3]))
    assert part.flagged() == [batch.flagged()[1], batch.flagged()[3]]  # type: ignore[index]
    clean = spec.check(Records([rec()]), on_invalid="flag")
    assert clean.violations is None and clean.flagged() is None
    merged = Batch.concat([clean, part])
    assert merged.flagged() == [[], *part.flagged()]  # type: ignore[misc]


def test_flag_mode_on_a_numeric_matrix() -> None:
    spec = InputSpec(NUMERIC)
    batch = spec.check(Rows(np.array([[1.0, 0.5, 1.0], [-4.0, 0.5, 0.0]])), on_invalid="flag")
    assert batch.matrix is not None and batch.flagged() == [[], ["a: -4 below the declared minimum 0"]]


def test_rules_are_part_of_what_makes_two_specs_take_the_same_inputs() -> None:
    assert InputSpec(RULED).rules != InputSpec(OLD).rules
    assert InputSpec(RULED).rules == InputSpec(RULED).rules


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="on_invalid must be one of"):
        InputSpec(OLD).check(Records([rec()]), on_invalid="ignore")  # type: ignore[arg-type]
