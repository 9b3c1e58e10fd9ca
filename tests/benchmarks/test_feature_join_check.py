"""The feature benchmark's cross-tool check finds rows one tool dropped and values that differ."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]


def load_features_benchmark() -> object:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("features_bench", ROOT / "benchmarks" / "features.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dropped_rows_and_differing_values_are_counted(tmp_path: Path) -> None:
    bench = load_features_benchmark()
    ours = pd.DataFrame(
        {"row": [0, 1, 2, 3], "k": [5, 6, 7, 8], "a0": [1.0, np.nan, 3.0, 4.0], "b0": [0.5] * 4}
    )
    theirs = pd.DataFrame(
        {"row": [3, 1, 0], "a0": [4.0, np.nan, 1.5], "b0": [0.5, 0.5, 0.5]}
    )  # row 2 dropped
    ours.to_parquet(tmp_path / "ours.parquet")
    theirs.to_parquet(tmp_path / "theirs.parquet")
    check = bench.compare_joins(tmp_path / "ours.parquet", tmp_path / "theirs.parquet")  # type: ignore[attr-defined]
    assert (check["rows_ours"], check["rows_feast"], check["only_ours"], check["only_feast"]) == (4, 3, 1, 0)
    assert check["only_ours_examples"] == [2]
    assert check["values_compared"] == 6 and check["values_differ"] == 1  # NaN equals NaN; 1.0 vs 1.5 differs
    assert check["rows_differ_examples"] == [0]
