from __future__ import annotations

import pandas as pd
import pytest

from mlfactory.errors import ValidationError
from mlfactory.features import Entity, FeatureView, compute_view, feature_view

e = Entity(name="c", join_keys=["cid"])
SOURCE = pd.DataFrame(
    {
        "cid": [1, 1, 2],
        "ts": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-01"]),
        "amount": [1.0, 2.5, 3.0],
        "note": ["a", "b", "c"],
    }
)


def view(fn, **features: str) -> FeatureView:  # type: ignore[no-untyped-def]
    return feature_view(entity=e, source="s", timestamp="ts", features=features or {"f": "number"}, name="v")(
        fn
    )


def test_plain_columns_are_normalized() -> None:
    v = FeatureView(
        name="v", entity=e, source="s", timestamp="ts", features={"amount": "number", "note": "text"}
    )
    out = compute_view(v, SOURCE)
    assert list(out.columns) == ["cid", "_event_ts", "_created_ts", "amount", "note"]
    assert str(out["_event_ts"].dt.tz) == "UTC" and (out["_event_ts"] == out["_created_ts"]).all()


def test_function_that_raises_names_the_view_and_the_error() -> None:
    def broken(df: pd.DataFrame) -> pd.DataFrame:
        return df["missing"]

    with pytest.raises(ValidationError, match=r"feature view 'v': its function .*broken raised KeyError"):
        compute_view(view(broken), SOURCE)


def test_function_must_return_a_frame_with_every_column() -> None:
    with pytest.raises(ValidationError, match="returned Series, not a DataFrame"):
        compute_view(view(lambda df: df["amount"]), SOURCE)
    with pytest.raises(ValidationError, match=r"lacks column\(s\) \['f'\]"):
        compute_view(view(lambda df: df), SOURCE)


def test_wrong_types_say_how_to_fix() -> None:
    with pytest.raises(ValidationError, match="declared number .* convert it"):
        compute_view(view(lambda df: df.assign(f=df["note"])), SOURCE)
    with pytest.raises(ValidationError, match="declared integer .* whole numbers"):
        compute_view(view(lambda df: df.assign(f=df["amount"]), f="integer"), SOURCE)
    with pytest.raises(ValidationError, match="declared text"):
        compute_view(view(lambda df: df.assign(f=df["amount"]), f="text"), SOURCE)
    with pytest.raises(ValidationError, match="must hold timestamps"):
        compute_view(view(lambda df: df.assign(f=1.0, ts="yesterday-ish")), SOURCE)


def test_integer_with_gaps_and_boolean_from_01() -> None:
    out = compute_view(
        view(lambda df: df.assign(f=[1.0, None, 3.0], g=[0, 1, 1]), f="integer", g="boolean"), SOURCE
    )
    assert str(out["f"].dtype) == "Int64" and out["f"].isna().sum() == 1
    assert out["g"].tolist() == [False, True, True]


def test_duplicate_keys_at_one_timestamp_are_refused() -> None:
    with pytest.raises(ValidationError, match="share their join keys and timestamp"):
        compute_view(view(lambda df: df.assign(f=1.0, ts=pd.Timestamp("2026-01-01"))), SOURCE)


def test_missing_timestamps_are_refused() -> None:
    with pytest.raises(ValidationError, match="have no 'ts'"):
        compute_view(view(lambda df: df.assign(f=1.0, ts=[pd.NaT, *df["ts"][1:]])), SOURCE)
