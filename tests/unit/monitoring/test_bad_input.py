"""Bad windows and columns give a clear message in the report: never a crash, never a silent zero."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlfactory.config import MonitoringConfig
from mlfactory.monitoring import compare_frames

RNG = np.random.default_rng(0)
REF = pd.DataFrame(
    {
        "x": RNG.normal(size=500),
        "c": RNG.choice(list("ab"), 500),
        "k": np.full(500, 3.0),
        "one": ["only"] * 500,
    }
)


def _by_column(result: dict) -> dict[str, dict]:
    return {c["column"]: c for c in result["columns"]}


def test_empty_window() -> None:
    result = compare_frames(REF, REF.iloc[:0])
    assert result["rows"] == 0 and "the window is empty" in result["messages"][0]
    assert result["dataset"]["drifted"] is None
    assert all(c["drifted"] is None for c in result["columns"])


def test_window_smaller_than_minimum() -> None:
    result = compare_frames(REF, REF.iloc[:20], settings=MonitoringConfig(min_rows=100))
    assert "fewer than the minimum of 100" in result["messages"][0]
    assert all(c["status"] == "insufficient" and c["drifted"] is None for c in result["columns"])
    assert result["columns"][0]["statistic"] is not None  # the numbers are still shown


def test_column_missing_from_window() -> None:
    cols = _by_column(compare_frames(REF, REF.drop(columns=["x"])))
    assert cols["x"]["status"] == "missing" and "not in the window" in cols["x"]["messages"][0]
    assert cols["x"]["drifted"] is None and cols["c"]["drifted"] is not None


def test_all_null_column() -> None:
    cur = REF.assign(x=np.nan, c=None)
    cols = _by_column(compare_frames(REF, cur))
    for name in ("x", "c"):
        assert (
            cols[name]["status"] == "no_data"
            and "all 500 values in the window are null" in cols[name]["messages"][0]
        )


def test_constant_columns() -> None:
    same = _by_column(compare_frames(REF, REF))
    assert same["k"]["drifted"] is False and "constant in the reference" in same["k"]["messages"][0]
    moved = _by_column(compare_frames(REF, REF.assign(k=4.0)))
    assert moved["k"]["drifted"] is True


def test_reference_with_one_category() -> None:
    same = _by_column(compare_frames(REF, REF))
    assert same["one"]["drifted"] is False
    assert any("single category" in m for m in same["one"]["messages"])
    assert any("nothing to compare" in m for m in same["one"]["messages"])
    other = _by_column(compare_frames(REF, REF.assign(one=np.where(RNG.random(500) < 0.3, "other", "only"))))
    assert other["one"]["drifted"] is True


def test_method_that_does_not_fit_the_column() -> None:
    settings = MonitoringConfig(columns={"c": {"method": "ks"}, "x": {"method": "z"}})
    cols = _by_column(compare_frames(REF, REF, settings=settings))
    assert cols["c"]["status"] == "error" and "does not apply to categorical" in cols["c"]["messages"][0]
    assert cols["x"]["status"] == "error" and cols["x"]["drifted"] is None


def test_all_null_reference_column() -> None:
    ref = REF.assign(x=np.nan)
    cols = _by_column(compare_frames(ref, REF, types={"x": "number", "c": "category"}))
    assert cols["x"]["status"] == "no_reference"
