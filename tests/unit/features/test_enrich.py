from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from mlfactory.errors import ValidationError
from mlfactory.features import NOT_FOUND, PRESENT, STALE, enrich_records, lookup, open_online_store
from mlfactory.features.online import OnlineStore
from mlfactory.features.spec import ServiceSpec, ViewSpec

SPEC = ServiceSpec(
    name="svc",
    on_missing="reject",
    views=(
        ViewSpec(
            name="fresh",
            join_keys=("cid",),
            features={"a": "number"},
            ttl_seconds=3600,
            defaults={"a": 0.0},
            code_version="c",
        ),
        ViewSpec(
            name="other",
            join_keys=("cid", "shop"),
            features={"b": "category"},
            ttl_seconds=None,
            defaults={},
            code_version="c",
        ),
    ),
)


@pytest.fixture
def online(tmp_path: Path) -> OnlineStore:
    store = open_online_store("sqlite:///o.db", root=tmp_path)
    now_us = int(time.time() * 1e6)
    store.write(
        "fresh",
        [
            ("1", now_us - 10**6, now_us, orjson.dumps({"a": 1.5})),
            ("2", now_us - 7200 * 10**6, now_us, orjson.dumps({"a": 2.5})),
        ],
    )
    store.write(
        "other",
        [
            ("1\x1fs", 0, 0, orjson.dumps({"b": "x"})),
            ("2\x1fs", 0, 0, orjson.dumps({"b": "y"})),
            ("3\x1fs", 0, 0, orjson.dumps({"b": "z"})),
        ],
    )
    return store


def test_statuses_and_defaults(online: OnlineStore) -> None:
    cols = {"cid": [1, 2, 3], "shop": ["s", "s", "s"]}
    got = lookup(SPEC, online, cols, 3, on_missing="defaults")
    assert got.statuses == [PRESENT, STALE, NOT_FOUND]
    assert got.columns == {"a": [1.5, 0.0, 0.0], "b": ["x", "y", "z"]}
    assert got.problems == {1: {"fresh": STALE}, 2: {"fresh": NOT_FOUND}}


def test_reject_names_rows_keys_and_the_fix(online: OnlineStore) -> None:
    with pytest.raises(ValidationError) as err:
        lookup(SPEC, online, {"cid": [1, 3], "shop": ["s", "s"]}, 2)
    message = str(err.value)
    assert "row 1: cid='3' is not found in view 'fresh'" in message
    assert "features materialize" in message and "on_missing_features: defaults" in message
    assert err.value.reasons == ["row 1: fresh not found"]


def test_missing_key_column_is_a_clear_error(online: OnlineStore) -> None:
    with pytest.raises(ValidationError, match="must carry the entity key 'shop'"):
        lookup(SPEC, online, {"cid": [1]}, 1)
    with pytest.raises(ValidationError, match="row 0 lacks the entity key 'shop'"):
        enrich_records([{"cid": 1}], SPEC, online)


def test_enrich_records_merges_request_values_over_features(online: OnlineStore) -> None:
    rows, statuses = enrich_records([{"cid": 1, "shop": "s", "n": 3, "b": "mine"}], SPEC, online)
    assert statuses == [PRESENT]
    assert rows == [{"a": 1.5, "b": "mine", "cid": 1, "shop": "s", "n": 3}]
