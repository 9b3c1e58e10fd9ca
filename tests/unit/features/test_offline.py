"""Point-in-time joins against a brute-force reference, including backfills and TTLs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from mlfactory.config import parse_size
from mlfactory.errors import ValidationError
from mlfactory.features import ViewTable, point_in_time_join, read_range

DAY_US = 86_400 * 1_000_000
T0 = pd.Timestamp("2026-01-01", tz="UTC")


def ts(days: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(days=days)


def reference(labels: pd.DataFrame, feats: pd.DataFrame, key: str, ttl_days: float | None, col: str) -> list:
    """For each label: among rows true and written by t, the latest event (then created); within the TTL."""
    out = []
    for _, lab in labels.iterrows():
        t = lab["t"]
        rows = feats[(feats[key] == lab[key]) & (feats["_event_ts"] <= t) & (feats["_created_ts"] <= t)]
        if rows.empty:
            out.append(None)
            continue
        best = rows.sort_values(["_event_ts", "_created_ts"]).iloc[-1]
        if ttl_days is not None and best["_event_ts"] < t - pd.Timedelta(days=ttl_days):
            out.append(None)
        else:
            out.append(best[col])
    return out


def random_world(seed: int, n_feat: int = 400, n_labels: int = 300, backfill_share: float = 0.3):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    event = rng.integers(0, 60 * 24, n_feat) / 24  # hours, as days
    delay = np.where(rng.random(n_feat) < backfill_share, rng.integers(1, 20 * 24, n_feat) / 24, 0.0)
    feats = pd.DataFrame(
        {
            "k": rng.integers(0, 15, n_feat),
            "_event_ts": [ts(d) for d in event],
            "_created_ts": [ts(d) for d in event + delay],
            "x": rng.normal(size=n_feat),
        }
    ).drop_duplicates(["k", "_event_ts", "_created_ts"])
    labels = pd.DataFrame(
        {
            "k": rng.integers(0, 17, n_labels),
            "t": [ts(d) for d in rng.integers(0, 70 * 24, n_labels) / 24],
            "label": rng.integers(0, 2, n_labels),
        }
    )
    return feats, labels


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("ttl_days", [None, 5.0])
@pytest.mark.parametrize("group_bytes", [None, 1], ids=["one-query", "grouped"])
def test_matches_brute_force_with_backfills(
    tmp_path: Path, seed: int, ttl_days: float | None, group_bytes: int | None
) -> None:
    feats, labels = random_world(seed)
    feats.to_parquet(tmp_path / "f.parquet")
    view = ViewTable(
        name="v",
        path=tmp_path / "f.parquet",
        join_keys=("k",),
        features=("x",),
        ttl_seconds=None if ttl_days is None else ttl_days * 86400,
        backfills=True,
    )
    n = point_in_time_join(labels, "t", [view], tmp_path / "out.parquet", group_bytes=group_bytes)
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert n == len(labels) == len(out)
    assert out[["k", "t", "label"]].equals(labels[["k", "t", "label"]])  # input order kept
    expected = reference(labels, feats, "k", ttl_days, "x")
    got = out["x"].tolist()
    for e, g in zip(expected, got, strict=True):
        assert (e is None and (g is None or math.isnan(g))) or e == pytest.approx(g)


def test_a_backfilled_value_is_never_used_before_it_was_written(tmp_path: Path) -> None:
    feats = pd.DataFrame(
        {"k": [1, 1], "_event_ts": [ts(1), ts(3)], "_created_ts": [ts(1), ts(10)], "x": [1.0, 3.0]}
    )
    feats.to_parquet(tmp_path / "f.parquet")
    labels = pd.DataFrame({"k": [1, 1, 1], "t": [ts(4), ts(9.9), ts(10)]})
    view = ViewTable(
        name="v", path=tmp_path / "f.parquet", join_keys=("k",), features=("x",), ttl_seconds=None
    )
    point_in_time_join(labels, "t", [view], tmp_path / "o.parquet")
    assert pd.read_parquet(tmp_path / "o.parquet")["x"].tolist() == [1.0, 1.0, 3.0]


@pytest.mark.parametrize("group_bytes", [None, 1], ids=["one-query", "one-view-per-query"])
def test_several_views_multi_keys_and_key_types(tmp_path: Path, group_bytes: int | None) -> None:
    a = pd.DataFrame(
        {"k": ["1", "2"], "_event_ts": [ts(0), ts(0)], "_created_ts": [ts(0), ts(0)], "a": [10, 20]}
    )
    b = pd.DataFrame(
        {
            "k": [1, 2],
            "r": ["x", "x"],
            "_event_ts": [ts(1), ts(5)],
            "_created_ts": [ts(1), ts(5)],
            "b": ["p", "q"],
        }
    )
    a.to_parquet(tmp_path / "a.parquet")
    b.to_parquet(tmp_path / "b.parquet")
    labels = pd.DataFrame({"k": [1, 2, 2, 3], "r": ["x", "x", "y", "x"], "t": [ts(2), ts(2), ts(6), ts(6)]})
    views = [
        ViewTable(
            name="a",
            path=tmp_path / "a.parquet",
            join_keys=("k",),
            features=("a",),
            ttl_seconds=None,
            backfills=False,
        ),
        ViewTable(
            name="b", path=tmp_path / "b.parquet", join_keys=("k", "r"), features=("b",), ttl_seconds=None
        ),
    ]
    assert point_in_time_join(labels, "t", views, tmp_path / "o.parquet", group_bytes=group_bytes) == 4
    out = pd.read_parquet(tmp_path / "o.parquet")
    assert out.columns.tolist() == ["k", "r", "t", "a", "b"]
    assert out["a"].tolist()[:3] == [10, 20, 20] and pd.isna(out["a"].iloc[3])
    assert out["b"].iloc[0] == "p" and out["b"].iloc[1:].isna().all()


def test_labels_from_a_parquet_file_and_bad_inputs(tmp_path: Path) -> None:
    feats, labels = random_world(5, 50, 40)
    feats.to_parquet(tmp_path / "f.parquet")
    labels.to_parquet(tmp_path / "l.parquet")
    view = ViewTable(
        name="v", path=tmp_path / "f.parquet", join_keys=("k",), features=("x",), ttl_seconds=None
    )
    assert point_in_time_join(tmp_path / "l.parquet", "t", [view], tmp_path / "o.parquet") == 40
    assert pd.read_parquet(tmp_path / "o.parquet")["label"].tolist() == labels["label"].tolist()
    with pytest.raises(ValidationError, match="no event time column 'when'"):
        point_in_time_join(labels, "when", [view], tmp_path / "o.parquet")
    with pytest.raises(ValidationError, match="lack join key"):
        point_in_time_join(labels.drop(columns="k"), "t", [view], tmp_path / "o.parquet")
    with pytest.raises(ValidationError, match="clashes with a column of the labels"):
        point_in_time_join(labels.assign(x=1), "t", [view], tmp_path / "o.parquet")


def test_read_range_without_entities(tmp_path: Path) -> None:
    feats, _ = random_world(7, 100, 1)
    feats.to_parquet(tmp_path / "f.parquet")
    view = ViewTable(
        name="v", path=tmp_path / "f.parquet", join_keys=("k",), features=("x",), ttl_seconds=None
    )
    got = read_range(view, ts(10), ts(20))
    assert len(got) == int(((feats["_event_ts"] >= ts(10)) & (feats["_event_ts"] < ts(20))).sum())
    assert got["_event_ts"].is_monotonic_increasing


def test_grouped_views_give_the_one_query_result(tmp_path: Path) -> None:
    """Views split over several queries are glued back row by row in label order, from a Parquet file too."""
    views = []
    for i in range(3):
        feats, labels = random_world(10 + i, 300, 500)
        feats.rename(columns={"x": f"x{i}"}).to_parquet(tmp_path / f"f{i}.parquet")
        views.append(
            ViewTable(
                name=f"v{i}",
                path=tmp_path / f"f{i}.parquet",
                join_keys=("k",),
                features=(f"x{i}",),
                ttl_seconds=3 * 86400,
                backfills=i != 1,
            )
        )
    labels.to_parquet(tmp_path / "l.parquet")
    one = point_in_time_join(tmp_path / "l.parquet", "t", views, tmp_path / "one.parquet")
    budget = 8 * 12 * 800  # about two of these views per query
    split = point_in_time_join(
        tmp_path / "l.parquet", "t", views, tmp_path / "split.parquet", group_bytes=budget
    )
    a, b = pd.read_parquet(tmp_path / "one.parquet"), pd.read_parquet(tmp_path / "split.parquet")
    assert one == split == len(labels)
    pd.testing.assert_frame_equal(a, b)
    assert a[["k", "t", "label"]].equals(labels)
    assert a[["x0", "x1", "x2"]].notna().sum().min() > 50  # the views did match rows


def test_memory_limits_parse_like_duckdb(tmp_path: Path) -> None:
    assert parse_size("2GB") == 2_000_000_000
    assert parse_size("512 MiB") == 512 * 2**20
    assert parse_size("1.5gb") == 1_500_000_000
    feats, labels = random_world(3, 20, 5)
    feats.to_parquet(tmp_path / "f.parquet")
    view = ViewTable(
        name="v", path=tmp_path / "f.parquet", join_keys=("k",), features=("x",), ttl_seconds=None
    )
    with pytest.raises(ValidationError, match="'lots' is not a size; write a number and a unit"):
        point_in_time_join(labels, "t", [view], tmp_path / "o.parquet", memory_limit="lots")
    assert not (tmp_path / "o.parquet").exists()


@pytest.mark.parametrize("group_bytes", [None, 1], ids=["one-group", "one-view-per-group"])
def test_feature_values_of_every_type_are_taken_by_position(tmp_path: Path, group_bytes: int | None) -> None:
    """Values are taken from the view's file by row position: types, NULLs in the file, and labels with no
    row (unknown entity, before the first row, past the TTL) all come out right, whatever the file's order."""
    feats = pd.DataFrame(
        {
            "k": [2, 1, 2, 1],
            "_event_ts": [ts(3), ts(1), ts(1), ts(3)],
            "_created_ts": [ts(3), ts(1), ts(1), ts(3)],
            "s": ["b3", "a1", None, "a3"],
            "flag": [True, False, True, None],
            "n": pd.array([23, 11, 21, None], dtype="Int64"),
            "when": [ts(30), ts(10), ts(20), ts(40)],
        }
    )
    feats.to_parquet(tmp_path / "f.parquet")
    other = pd.DataFrame({"k": [1], "_event_ts": [ts(0)], "_created_ts": [ts(0)], "x": [0.5]})
    other.to_parquet(tmp_path / "g.parquet")
    labels = pd.DataFrame({"k": [1, 2, 2, 3, 1, 1], "t": [ts(2), ts(2), ts(4), ts(4), ts(0.5), ts(9)]})
    views = [
        ViewTable(
            name="v",
            path=tmp_path / "f.parquet",
            join_keys=("k",),
            features=("s", "flag", "n", "when"),
            ttl_seconds=5 * 86400,
        ),
        ViewTable(name="w", path=tmp_path / "g.parquet", join_keys=("k",), features=("x",), ttl_seconds=None),
    ]
    assert point_in_time_join(labels, "t", views, tmp_path / "o.parquet", group_bytes=group_bytes) == 6
    out = pd.read_parquet(tmp_path / "o.parquet")
    got = {c: [None if pd.isna(v) else v for v in out[c]] for c in ("s", "flag", "n", "when", "x")}
    assert got["s"] == ["a1", None, "b3", None, None, None]  # a NULL in the file stays NULL
    assert got["flag"] == [False, True, True, None, None, None]
    assert got["n"] == [11, 21, 23, None, None, None]
    assert got["when"] == [ts(10), ts(20), ts(30), None, None, None]
    assert got["x"] == [0.5, None, None, None, 0.5, 0.5]
    schema = pq.read_schema(tmp_path / "o.parquet")
    assert str(schema.field("n").type) == "int64" and str(schema.field("flag").type) == "bool"
    assert str(schema.field("when").type) == "timestamp[us, tz=UTC]"


def test_low_cardinality_columns_keep_their_dictionary(tmp_path: Path) -> None:
    """The written file dictionary-encodes a column with few distinct values, not continuous features."""
    feats, labels = random_world(4, 5000, 5000)
    feats.to_parquet(tmp_path / "f.parquet")
    view = ViewTable(
        name="v", path=tmp_path / "f.parquet", join_keys=("k",), features=("x",), ttl_seconds=None
    )
    point_in_time_join(labels, "t", [view], tmp_path / "o.parquet")
    meta = pq.ParquetFile(tmp_path / "o.parquet").metadata
    encodings = {
        meta.schema.column(i).name: meta.row_group(0).column(i).encodings for i in range(meta.num_columns)
    }
    assert any("DICTIONARY" in e for e in encodings["label"])
    assert not any("DICTIONARY" in e for e in encodings["x"])
