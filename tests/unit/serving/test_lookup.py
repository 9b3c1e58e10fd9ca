"""OnlineFeatures: merging looked-up features into every payload shape, the policy, and a store that is down
and comes back."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import orjson
import pytest

from mlfactory.errors import StoreUnavailableError, ValidationError
from mlfactory.features import OnlineStore, ServiceSpec, ViewSpec, open_online_store
from mlfactory.inputs import Columns, Records, Rows
from mlfactory.serving.lookup import OnlineFeatures

SPEC = ServiceSpec(
    name="svc",
    views=(
        ViewSpec(
            name="v",
            join_keys=("k",),
            features={"a": "number", "b": "number"},
            ttl_seconds=3600.0,
            defaults={"a": 0},
            code_version="c1",
        ),
    ),
    on_missing="reject",
)


@pytest.fixture
def store(tmp_path: Path) -> OnlineStore:
    s = open_online_store(f"sqlite:///{tmp_path / 'online.db'}")
    now = int(time.time() * 1_000_000)
    old = now - 7200 * 1_000_000
    rows = [("1", now, now, orjson.dumps({"a": 1.0, "b": 2.0})), ("2", old, old, orjson.dumps({"a": 5}))]
    s.write("v", rows)
    return s


def test_every_payload_shape_gets_the_features(store: OnlineStore) -> None:
    f = OnlineFeatures("sqlite:///x", lambda: store, policies={"m": "defaults"})
    out, st = f.complete("m", SPEC, Records([{"k": 1, "x": 9}, {"k": "2", "x": 8}, {"k": 3, "x": 7}]), 3)
    assert st == ["present", "stale", "not_found"]
    assert isinstance(out, Records)
    assert out.rows[0] == {"a": 1.0, "b": 2.0, "k": 1, "x": 9}
    assert out.rows[1] == {"a": 0, "b": None, "k": "2", "x": 8}
    cols, _ = f.complete("m", SPEC, Columns({"k": [1, 3], "b": [None, 4.0]}), 2)
    assert isinstance(cols, Columns) and cols.data["a"] == [1.0, 0] and cols.data["b"] == [None, 4.0]
    rows, _ = f.complete("m", SPEC, Rows(np.array([[1, 10], [3, 11]]), names=["k", "x"]), 2)
    assert isinstance(rows, Columns) and rows.data["a"] == [1.0, 0] and list(rows.data["x"]) == [10, 11]
    with pytest.raises(ValidationError, match="send rows with column names"):
        f.complete("m", SPEC, Rows([[1, 10]]), 1)


def test_the_project_policy_wins_over_the_signature(store: OnlineStore) -> None:
    rejecting = OnlineFeatures("sqlite:///x", lambda: store)
    with pytest.raises(ValidationError, match=r"row 1: k='3' is not found in view 'v'"):
        rejecting.complete("m", SPEC, Records([{"k": 1}, {"k": 3}]), 2)
    assert OnlineFeatures("u", lambda: store, policies={"m": "defaults"}).policy("m", SPEC) == "defaults"
    assert OnlineFeatures("u", lambda: store, policies={"other": "defaults"}).policy("m", SPEC) == "reject"


def test_a_store_that_is_down_then_back(store: OnlineStore) -> None:
    up = {"now": False}

    def opener() -> OnlineStore:
        if not up["now"]:
            raise StoreUnavailableError("online store redis://user:***@h:1/0 cannot be reached: refused")
        return store

    f = OnlineFeatures("redis://user:secret@h:1/0", opener, retry_interval=0.0)
    assert "secret" not in f.url
    state = f.check()
    assert state["ok"] is False and "redis://user:***@h:1/0" in state["error"]
    with pytest.raises(StoreUnavailableError, match="cannot be reached"):
        f.complete("m", SPEC, Records([{"k": 1}]), 1)
    up["now"] = True
    assert f.check() == {"url": f.url, "ok": True, "error": None}
    assert f.complete("m", SPEC, Records([{"k": 1}]), 1)[1] == ["present"]


def test_retries_are_spaced(store: OnlineStore) -> None:
    calls = []

    def opener() -> OnlineStore:
        calls.append(1)
        raise StoreUnavailableError("online store redis://h:1/0 cannot be reached")

    f = OnlineFeatures("redis://h:1/0", opener, retry_interval=60.0)
    for _ in range(5):
        assert f.check()["ok"] is False
    assert len(calls) == 1
