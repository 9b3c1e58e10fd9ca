"""Profiles: numbers agree with numpy, bins and frequencies are exact, and everything is plain JSON."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlfactory.data import profile_frame
from mlfactory.data.profile import (
    BINNED_TYPES,
    DATASET_RESOLUTION,
    MONITORING_RESOLUTION,
    QUANTILES,
    build_reference,
    text_views,
)


def test_numeric_statistics_match_numpy() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(10, 3, size=5000)
    x[:50] = np.nan
    x[50] = np.inf
    prof = profile_frame(pd.DataFrame({"x": x}), {"x": "number"})["columns"]["x"]
    finite = x[np.isfinite(x)]
    assert prof["count"] == len(finite) == 4949
    assert prof["nulls"] == 50 and prof["infinite"] == 1
    assert prof["mean"] == pytest.approx(finite.mean())
    assert prof["std"] == pytest.approx(finite.std(ddof=1))
    assert prof["min"] == finite.min() and prof["max"] == finite.max()
    assert prof["quantile_levels"] == list(QUANTILES)
    assert prof["quantiles"] == pytest.approx(np.quantile(finite, QUANTILES).tolist())
    edges = np.quantile(finite, np.linspace(0, 1, 11))
    assert prof["bins"]["edges"] == pytest.approx(edges.tolist())
    assert prof["bins"]["counts"] == np.histogram(finite, bins=edges)[0].tolist()
    assert sum(prof["bins"]["counts"]) == len(finite)


def test_bin_edges_are_deduplicated_and_counts_exact() -> None:
    x = np.array([0] * 80 + [1] * 15 + [5] * 5)
    prof = profile_frame(pd.DataFrame({"x": x}), {"x": "integer"})["columns"]["x"]
    edges = np.unique(np.quantile(x, np.linspace(0, 1, 11)))
    assert len(edges) < 11
    assert prof["bins"]["edges"] == pytest.approx(edges.tolist())
    assert prof["bins"]["counts"] == np.histogram(x, bins=edges)[0].tolist()
    assert prof["bins"]["counts"][0] == 80  # the zeros fill the first bin: [0, 0.2)
    assert prof["min"] == 0 and isinstance(prof["min"], int)


def test_constant_and_empty_numeric_columns() -> None:
    df = pd.DataFrame({"c": [3.0, 3.0], "e": [np.nan, np.nan]})
    cols = profile_frame(df, {"c": "number", "e": "number"})["columns"]
    assert cols["c"]["bins"] == {"edges": [3.0, 3.0], "counts": [2]}
    assert cols["e"]["count"] == 0 and cols["e"]["nulls"] == 2 and cols["e"]["mean"] is None
    assert cols["e"]["bins"] == {"edges": [], "counts": []}
    json.dumps(cols, allow_nan=False)


def test_category_frequencies_keep_top_100_and_an_other_bucket() -> None:
    values = [f"v{i:03d}" for i in range(150) for _ in range(200 - i)] + [None] * 7
    prof = profile_frame(pd.DataFrame({"c": values}), {"c": "category"})["columns"]["c"]
    freq = prof["frequencies"]
    assert len(freq) == 101 and freq["v000"] == 200 and freq["v099"] == 101
    assert "v100" not in freq
    assert freq["__other__"] == sum(200 - i for i in range(100, 150))
    assert prof["distinct"] == 150 and prof["nulls"] == 7
    assert sum(freq.values()) == prof["count"] == len(values) - 7


def test_boolean_frequencies() -> None:
    prof = profile_frame(pd.DataFrame({"b": [True, True, False]}), {"b": "boolean"})["columns"]["b"]
    assert prof["frequencies"] == {"True": 2, "False": 1, "__other__": 0}


def test_text_lengths_and_vocabulary() -> None:
    docs = ["The cat sat", "the dog", "A cat and a dog and a cat", None]
    prof = profile_frame(pd.DataFrame({"t": docs}), {"t": "text"})["columns"]["t"]
    words = np.array([3, 2, 8])
    chars = np.array([len(d) for d in docs[:3]])
    assert prof["documents"] == 3 and prof["nulls"] == 1
    assert prof["words"]["mean"] == pytest.approx(words.mean())
    assert prof["words"]["std"] == pytest.approx(words.std(ddof=1))
    assert prof["chars"]["quantiles"] == pytest.approx(np.quantile(chars, QUANTILES).tolist())
    # document frequency: how many documents hold the token, lowercased
    assert prof["vocabulary"] == {"cat": 2, "dog": 2, "the": 2, "a": 1, "and": 1, "sat": 1}


def test_datetime_min_max() -> None:
    d = pd.to_datetime(["2024-01-02", "2023-05-01", None], utc=True)
    prof = profile_frame(pd.DataFrame({"d": d}), {"d": "datetime"})["columns"]["d"]
    assert prof == {
        "type": "datetime",
        "count": 2,
        "nulls": 1,
        "min": "2023-05-01T00:00:00+00:00",
        "max": "2024-01-02T00:00:00+00:00",
    }


def test_profile_is_plain_json_and_skips_unknown_columns() -> None:
    df = pd.DataFrame({"i": np.arange(5, dtype=np.int32), "c": list("aabbc"), "t": ["x y"] * 5})
    prof = profile_frame(df, {"i": "integer", "c": "category", "t": "text", "missing": "number"})
    assert prof["n_rows"] == 5 and set(prof["columns"]) == {"i", "c", "t"}

    def plain(v: object) -> None:
        assert type(v) in (int, float, str, bool, type(None), list, dict), type(v)
        if isinstance(v, dict):
            for k, item in v.items():
                assert type(k) is str
                plain(item)
        elif isinstance(v, list):
            for item in v:
                plain(item)

    plain(prof)
    assert json.loads(json.dumps(prof, allow_nan=False)) == prof


def test_wrongly_typed_values_do_not_break_the_profile() -> None:
    df = pd.DataFrame({"x": ["1", "oops", "3"]})
    prof = profile_frame(df, {"x": "number"})["columns"]["x"]
    assert prof["count"] == 2 and prof["nulls"] == 1 and prof["mean"] == 2.0


@pytest.mark.slow
def test_a_million_rows_by_25_columns_profiles_completely() -> None:
    rng = np.random.default_rng(0)
    n = 1_000_000
    data: dict[str, np.ndarray] = {}
    types: dict[str, str] = {}
    for i in range(20):
        data[f"n{i}"] = rng.normal(size=n)
        types[f"n{i}"] = "number"
    keys = np.array([f"k{j}" for j in range(30)])
    for i in range(5):
        data[f"c{i}"] = keys[rng.integers(0, 30, size=n)]
        types[f"c{i}"] = "category"
    prof = profile_frame(pd.DataFrame(data), types)
    assert len(prof["columns"]) == 25
    assert all(sum(c["bins"]["counts"]) == n for c in prof["columns"].values() if c["type"] == "number")


def test_resolution_sets_how_many_bins_and_categories_a_profile_keeps() -> None:
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"x": rng.normal(size=5000), "c": [f"v{i % 250}" for i in range(5000)]})
    types = {"x": "number", "c": "category"}
    coarse = profile_frame(df, types)["columns"]
    fine = profile_frame(df, types, MONITORING_RESOLUTION)["columns"]
    assert len(coarse["x"]["bins"]["counts"]) == DATASET_RESOLUTION.bins == 10
    assert len(fine["x"]["bins"]["counts"]) == MONITORING_RESOLUTION.bins == 100
    assert len(coarse["c"]["frequencies"]) == DATASET_RESOLUTION.max_categories + 1  # plus "__other__"
    assert len(fine["c"]["frequencies"]) == MONITORING_RESOLUTION.max_categories + 1
    assert fine["c"]["frequencies"]["__other__"] == 5000 - sum(
        n for k, n in fine["c"]["frequencies"].items() if k != "__other__"
    )


def test_the_monitoring_reference_bins_at_the_profile_quantiles_of_its_resolution() -> None:
    rng = np.random.default_rng(5)
    x = rng.lognormal(size=3000)
    df = pd.DataFrame({"x": x, "c": rng.choice(list("abc"), 3000)})
    types = {"x": "number", "c": "category"}
    reference = build_reference(df, types)["columns"]
    profile = profile_frame(df, types, MONITORING_RESOLUTION)["columns"]
    # one builder: the reference's edges are the profile's quantile edges plus as many equal-width ones
    assert set(profile["x"]["bins"]["edges"]) <= set(reference["x"]["edges"])
    assert sum(reference["x"]["counts"]) == profile["x"]["count"] == 3000
    assert reference["c"]["frequencies"] == {k: v for k, v in profile["c"]["frequencies"].items() if v}


def test_booleans_are_counted_as_categories_by_both_layouts() -> None:
    df = pd.DataFrame({"b": [True, False, True, True]})
    assert "boolean" not in BINNED_TYPES  # numeric in frames, but two values compare as frequencies
    assert profile_frame(df, {"b": "boolean"})["columns"]["b"]["frequencies"] == {
        "True": 3,
        "False": 1,
        "__other__": 0,
    }
    assert build_reference(df, {"b": "boolean"})["columns"]["b"]["kind"] == "categorical"


def test_text_views_of_no_documents_are_empty() -> None:
    views = text_views(pd.Series([], dtype="object"), ["hello"])
    assert set(views) == {"chars", "words", "oov_rate"} and all(len(v) == 0 for v in views.values())
