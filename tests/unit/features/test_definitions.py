from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from mlfactory.entities import Signature
from mlfactory.errors import ConfigError
from mlfactory.features import Entity, FeatureService, FeatureView, feature_view, parse_ttl
from mlfactory.features.spec import ServiceSpec, service_spec

customer = Entity(name="customer", join_keys=["customer_id"])


def plain(**kw: object) -> FeatureView:
    args = dict(
        name="orders_view", entity=customer, source="orders", timestamp="ts", features={"amount": "number"}
    )
    args.update(kw)
    return FeatureView(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("15m", timedelta(minutes=15)),
        ("45s", timedelta(seconds=45)),
        ("2w", timedelta(weeks=2)),
        (90, timedelta(seconds=90)),
        (None, None),
    ],
)
def test_ttl_forms(text: object, expected: timedelta | None) -> None:
    assert parse_ttl(text) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["30 days", "-1d", "0s", "d"])
def test_bad_ttl_says_how_to_write_it(bad: str) -> None:
    with pytest.raises(ConfigError, match="ttl"):
        parse_ttl(bad)


def test_entity_needs_keys_and_valid_names() -> None:
    with pytest.raises(ConfigError, match="at least one join key"):
        Entity(name="e", join_keys=[])
    with pytest.raises(ConfigError, match="not valid"):
        Entity(name="e", join_keys=["bad key"])
    assert Entity(name="e", join_keys="k").join_keys == ("k",)
    assert Entity.from_dict(customer.to_dict()) == customer


def test_view_validates_features() -> None:
    with pytest.raises(ConfigError, match="declares no features"):
        plain(features={})
    with pytest.raises(ConfigError, match="allowed: number"):
        plain(features={"amount": "float"})
    with pytest.raises(ConfigError, match="name of a join key"):
        plain(features={"customer_id": "number"})
    with pytest.raises(ConfigError, match="mapping of name to type"):
        plain(features=["amount"])
    with pytest.raises(ConfigError, match="undeclared features"):
        plain(defaults={"nope": 1})
    with pytest.raises(ConfigError, match="reserved"):
        plain(features={"_event_ts": "number"})


def test_code_version_follows_settings_and_function_source() -> None:
    assert plain().code_version == plain().code_version
    assert plain(ttl="1d").code_version != plain().code_version

    def one(df: pd.DataFrame) -> pd.DataFrame:
        return df.assign(amount=1.0)

    def two(df: pd.DataFrame) -> pd.DataFrame:
        return df.assign(amount=2.0)

    v1 = feature_view(
        entity=customer, source="orders", timestamp="ts", features={"amount": "number"}, name="v"
    )(one)
    v2 = feature_view(
        entity=customer, source="orders", timestamp="ts", features={"amount": "number"}, name="v"
    )(two)
    assert v1.code_version != v2.code_version
    assert v1.to_dict()["code_version"] == v1.code_version


def test_service_refuses_duplicate_feature_names_and_can_select() -> None:
    a = plain(name="a", features={"x": "number", "y": "number"})
    b = plain(name="b", features={"y": "number", "z": "number"})
    with pytest.raises(ConfigError, match="'y' comes from both 'a' and 'b'"):
        FeatureService(name="s", features=[a, b])
    svc = FeatureService(name="s", features=[a, b.select("z")])
    assert svc.feature_names == ["x", "y", "z"]
    with pytest.raises(ConfigError, match="has no feature"):
        a.select("nope")
    with pytest.raises(ConfigError, match="lists no feature views"):
        FeatureService(name="s", features=[])


def test_service_spec_round_trips() -> None:
    a = plain(name="a", features={"x": "number", "n": "integer"}, defaults={"n": 0}, ttl="1d")
    spec = service_spec(FeatureService(name="s", features=[a]), "defaults")
    back = ServiceSpec.from_signature(Signature.from_json({"feature_service": spec.to_dict()}))
    assert back == spec
    assert back.join_keys == ["customer_id"] and back.features == {"x": "number", "n": "integer"}
    assert back.views[0].ttl_seconds == 86400 and back.on_missing == "defaults"
    assert ServiceSpec.from_signature(Signature()) is None
