from __future__ import annotations

import pandas as pd

from mlfactory.features import compare


def test_mismatch_rates_and_largest_differences() -> None:
    served = pd.DataFrame(
        {"request_id": ["r1", "r2", "r3", "r4"], "x": [1.0, 2.0, None, 4.0], "c": ["a", "b", "c", None]}
    )
    offline = pd.DataFrame({"x": [1.0, 2.5, None, 14.0], "c": ["a", "b", "d", None]})
    report = compare(served, offline, {"x": "number", "c": "category"})
    assert report["rows"] == 4
    x, c = report["features"]["x"], report["features"]["c"]
    assert (x["mismatches"], x["mismatch_rate"], x["max_abs_diff"]) == (2, 0.5, 10.0)
    assert x["examples"][0] == {"id": "r4", "served": 4.0, "offline": 14.0}
    assert (c["mismatches"], c["examples"][0]["id"]) == (1, "r3")
    assert report["max_mismatch_rate"] == 0.5


def test_a_value_missing_on_one_side_is_a_mismatch() -> None:
    report = compare(
        pd.DataFrame({"x": [None, 1.0]}), pd.DataFrame({"x": [1.0, 1.0 + 1e-12]}), {"x": "number"}
    )
    assert report["features"]["x"]["mismatches"] == 1
    assert report["features"]["x"]["missing_on_one_side"] == 1
