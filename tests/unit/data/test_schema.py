"""Schema inference and validation: every rule, and every problem of a frame listed at once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlfactory.config import ColumnSpec
from mlfactory.data import infer_schema, schema_from_declared, validate


def declared(**columns: ColumnSpec) -> dict:
    return schema_from_declared(columns)


def check(df: pd.DataFrame, schema: dict, *, strict: bool = True, max_null_rate: float = 0.5) -> dict:
    return validate(df, schema, max_null_rate=max_null_rate, strict=strict)


def one(reasons: list[str], *words: str) -> str:
    """The single reason mentioning every word."""
    hits = [r for r in reasons if all(w in r for w in words)]
    assert len(hits) == 1, (words, reasons)
    return hits[0]


# -- inference ---------------------------------------------------------------------------------------------


def test_infer_types() -> None:
    df = pd.DataFrame(
        {
            "f": [1.5, 2.0, np.nan],
            "i": [1, 2, 3],
            "b": [True, False, True],
            "d": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"], utc=True),
            "c": ["red", "blue", "red"],
            "t": [
                "this is a rather long review about the product that goes on and on",
                "another lengthy and detailed opinion written by a customer of ours",
                "a third piece of free text that is certainly not a category value",
            ],
        }
    )
    cols = infer_schema(df)["columns"]
    assert {k: v["type"] for k, v in cols.items()} == {
        "f": "number",
        "i": "integer",
        "b": "boolean",
        "d": "datetime",
        "c": "category",
        "t": "text",
    }
    assert cols["c"]["categories"] == ["blue", "red"]
    assert "categories" not in cols["t"]
    assert cols["f"]["nullable"] is True and cols["i"]["nullable"] is False
    assert all("min" not in spec and "max" not in spec for spec in cols.values())


def test_many_distinct_strings_are_text() -> None:
    df = pd.DataFrame({"s": [f"v{i}" for i in range(51)]})
    assert infer_schema(df)["columns"]["s"]["type"] == "text"
    assert infer_schema(df.head(50))["columns"]["s"]["type"] == "category"


def test_object_booleans_with_nulls_are_boolean() -> None:
    assert infer_schema(pd.DataFrame({"b": [True, None, False]}))["columns"]["b"]["type"] == "boolean"


def test_schema_from_declared_keeps_set_checks_only() -> None:
    schema = declared(age=ColumnSpec(type="integer", min=0, max=120, nullable=False))
    assert schema == {"columns": {"age": {"type": "integer", "nullable": False, "min": 0, "max": 120}}}


# -- validation rules --------------------------------------------------------------------------------------


def test_clean_data_passes() -> None:
    df = pd.DataFrame({"x": [1.0, 2.0], "c": ["a", "b"]})
    schema = declared(x=ColumnSpec(type="number"), c=ColumnSpec(type="category", categories=["a", "b"]))
    result = check(df, schema)
    assert result == {"reasons": [], "warnings": [], "checked_rows": 2}


def test_missing_column() -> None:
    schema = declared(x=ColumnSpec(type="integer"), y=ColumnSpec(type="text"))
    result = check(pd.DataFrame({"x": [1]}), schema)
    assert one(result["reasons"], "'y'", "missing")


def test_new_column_is_an_error_when_strict_and_a_warning_otherwise() -> None:
    df = pd.DataFrame({"x": [1], "extra": [2]})
    schema = declared(x=ColumnSpec(type="integer"))
    assert one(check(df, schema, strict=True)["reasons"], "extra")
    lenient = check(df, schema, strict=False)
    assert lenient["reasons"] == [] and one(lenient["warnings"], "extra")


def test_string_in_number_column_names_column_value_and_row() -> None:
    df = pd.DataFrame({"x": ["1.5", "2", "abc", "4", "zzz"]})
    reason = one(check(df, declared(x=ColumnSpec(type="number")))["reasons"], "'x'")
    assert "2 values are not numbers" in reason and "'abc'" in reason and "row 3" in reason


def test_non_integral_floats_in_integer_column() -> None:
    df = pd.DataFrame({"n": [1.0, 2.0, 2.5, np.nan]})
    reason = one(check(df, declared(n=ColumnSpec(type="integer")))["reasons"], "'n'")
    assert "1 values are not whole" in reason and "2.5" in reason and "row 3" in reason


def test_nulls_in_non_nullable_column() -> None:
    df = pd.DataFrame({"n": [1.0, np.nan, 3.0, 4.0]})
    schema = declared(n=ColumnSpec(type="number", nullable=False))
    assert one(check(df, schema)["reasons"], "'n'", "not nullable", "row 2")
    lenient = check(df, schema, strict=False)
    assert lenient["reasons"] == [] and one(lenient["warnings"], "'n'", "not nullable")


def test_null_rate_over_source_and_column_limits() -> None:
    df = pd.DataFrame({"a": [1.0, np.nan, np.nan, 4.0], "b": [1.0, np.nan, 3.0, 4.0]})
    schema = declared(a=ColumnSpec(type="number"), b=ColumnSpec(type="number", max_null_rate=0.1))
    reasons = check(df, schema, max_null_rate=0.3)["reasons"]
    assert one(reasons, "'a'", "50.0%", "30.0%")
    assert one(reasons, "'b'", "25.0%", "10.0%")
    assert check(df, schema, max_null_rate=0.5)["reasons"] == [one(reasons, "'b'")]


def test_zero_column_null_limit_is_honoured() -> None:
    df = pd.DataFrame({"a": [1.0, np.nan, 3.0]})
    assert one(check(df, declared(a=ColumnSpec(type="number", max_null_rate=0.0)))["reasons"], "'a'", "null")


@pytest.mark.parametrize("strict", [True, False])
def test_infinity_is_always_an_error(strict: bool) -> None:
    df = pd.DataFrame({"x": [1.0, np.inf, -np.inf]})
    schema = {"columns": {"x": {"type": "number", "nullable": True}}}
    reason = one(check(df, schema, strict=strict)["reasons"], "'x'")
    assert "2 values are infinite" in reason and "row 2" in reason


def test_range_checks_count_and_show_an_example() -> None:
    df = pd.DataFrame({"age": [-1, 5, 130, 140, 30]})
    reasons = check(df, declared(age=ColumnSpec(type="integer", min=0, max=120)))["reasons"]
    assert "1 values are below the minimum 0" in one(reasons, "below")
    above = one(reasons, "above")
    assert "2 values are above the maximum 120" in above and "130" in above and "row 3" in above


def test_unseen_categories_error_when_declared_warning_with_share_when_inferred() -> None:
    df = pd.DataFrame({"c": ["a", "b", "z", "z"]})
    strict = check(df, declared(c=ColumnSpec(type="category", categories=["a", "b"])))
    assert "'z'" in one(strict["reasons"], "'c'", "2 values")
    inferred = infer_schema(pd.DataFrame({"c": ["a", "b"]}))
    lenient = check(df, inferred, strict=False)
    assert lenient["reasons"] == []
    assert "50.0% of rows" in one(lenient["warnings"], "'c'", "'z'")


def test_booleans_and_datetimes_are_type_checked() -> None:
    df = pd.DataFrame({"b": ["true", "no", "maybe"], "d": ["2024-01-01", "soon", None]})
    reasons = check(df, declared(b=ColumnSpec(type="boolean"), d=ColumnSpec(type="datetime")))["reasons"]
    assert "'maybe'" in one(reasons, "'b'")
    assert "'soon'" in one(reasons, "'d'", "row 2")


def test_a_frame_with_several_problems_lists_them_all() -> None:
    df = pd.DataFrame(
        {
            "x": ["1", "oops", "3", "4"],
            "n": [1.0, 2.5, np.inf, np.nan],
            "age": [10, 200, 30, 40],
            "c": ["a", "a", "q", "a"],
            "extra": [1, 2, 3, 4],
        }
    )
    schema = declared(
        x=ColumnSpec(type="number"),
        n=ColumnSpec(type="integer", nullable=False),
        age=ColumnSpec(type="integer", max=120),
        c=ColumnSpec(type="category", categories=["a"]),
        gone=ColumnSpec(type="text"),
    )
    result = check(df, schema)
    reasons = result["reasons"]
    for words in [
        ("'x'", "oops"),
        ("'n'", "whole"),
        ("'n'", "infinite"),
        ("'n'", "not nullable"),
        ("'age'", "above"),
        ("'c'", "'q'"),
        ("'gone'", "missing"),
        ("new columns", "extra"),
    ]:
        one(reasons, *words)
    assert len(reasons) == 8
    assert result["checked_rows"] == 4


def test_validation_is_vectorized_enough_for_a_million_rows() -> None:
    rng = np.random.default_rng(0)
    n = 1_000_000
    df = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(["a", "b", "c"], size=n)})
    df.loc[123_456, "x"] = np.inf
    schema = declared(
        x=ColumnSpec(type="number", min=-10, max=10), c=ColumnSpec(type="category", categories=["a"])
    )
    reasons = check(df, schema)["reasons"]
    assert one(reasons, "'x'", "row 123457")
    assert one(reasons, "'c'")
