"""One suite for the online store interface, run against SQLite and Redis."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from mlfactory.errors import ConfigError, StoreUnavailableError
from mlfactory.features.online import OnlineStore, Watermark, entity_key, open_online_store


@pytest.fixture(params=["sqlite", "redis"])
def online(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OnlineStore]:
    if request.param == "sqlite":
        store = open_online_store("sqlite:///online.db", root=tmp_path)
        yield store
        store.close()
        return
    url = request.getfixturevalue("redis_url")
    prefix = f"mlftest-{uuid.uuid4().hex[:10]}:"
    sep = "&" if "?" in url else "?"
    store = open_online_store(f"{url}{sep}prefix={prefix}")
    yield store
    client = store._redis  # type: ignore[attr-defined]
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.unlink(*keys)
    store.close()


def row(key: str, event: int, created: int | None = None, **values: object) -> tuple[str, int, int, bytes]:
    return key, event, event if created is None else created, orjson.dumps(values)


def test_write_then_read_many_in_order_with_missing(online: OnlineStore) -> None:
    online.write("v", [row(str(i), 100 + i, x=i, name=f"n{i}") for i in range(150)])
    keys = [str(i) for i in range(0, 200, 2)]  # 100 keys, 25 of them unknown
    got = online.read("v", keys)
    assert len(got) == 100
    for k, rec in zip(keys, got, strict=True):
        if int(k) < 150:
            assert (
                rec is not None
                and rec.values == {"x": int(k), "name": f"n{k}"}
                and rec.event_us == 100 + int(k)
            )
        else:
            assert rec is None
    assert online.read("v", []) == []
    assert online.count("v") == 150


def test_newer_wins_and_rewrites_are_idempotent(online: OnlineStore) -> None:
    assert online.write("v", [row("a", 200, x=2)]) == 1
    assert online.write("v", [row("a", 100, x=1)]) == 0  # older event: ignored
    assert online.read("v", ["a"])[0].values == {"x": 2}  # type: ignore[union-attr]
    online.write("v", [row("a", 200, 300, x=3)])  # same event time, written later (a correction): wins
    assert online.read("v", ["a"])[0].values == {"x": 3}  # type: ignore[union-attr]
    online.write("v", [row("a", 200, 300, x=3)])
    assert online.read("v", ["a"])[0] == online.read("v", ["a"])[0]
    assert online.count("v") == 1
    online.write("v", [row("a", 50, x=0)], force=True)  # a view whose code changed replaces everything
    assert online.read("v", ["a"])[0].values == {"x": 0}  # type: ignore[union-attr]


def test_views_are_isolated_and_read_together(online: OnlineStore) -> None:
    online.write("v1", [row("a", 1, x=1)])
    online.write("v2", [row("a", 1, y=2), row("b", 1, y=3)])
    both = online.read_views(["v1", "v2"], ["a", "b"])
    assert both["v1"][0].values == {"x": 1} and both["v1"][1] is None  # type: ignore[union-attr]
    assert [r.values for r in both["v2"]] == [{"y": 2}, {"y": 3}]  # type: ignore[union-attr]
    assert online.clear("v2") == 2
    assert online.read("v2", ["a"]) == [None]
    assert online.read("v1", ["a"])[0] is not None


def test_watermark_is_stored_with_the_rows(online: OnlineStore) -> None:
    assert online.watermark("v") is None
    online.write("v", [row("a", 5, x=1)], watermark=Watermark(5, "abc"))
    assert online.watermark("v") == Watermark(5, "abc")
    online.write("v", [], watermark=Watermark(9, "def"))
    assert online.watermark("v") == Watermark(9, "def")
    online.clear("v")
    assert online.watermark("v") is None


def test_awkward_keys_and_values(online: OnlineStore) -> None:
    keys = ["spaß", "a*b", "[x]", "with space", entity_key(["a", 1]), "-"]
    online.write("v", [row(k, -(10**15), x=None, s="ü", f=1.5) for k in keys])  # before 1970 too
    got = online.read("v", keys)
    assert all(r is not None and r.values == {"x": None, "s": "ü", "f": 1.5} for r in got)
    assert got[0].event_us == -(10**15)  # type: ignore[union-attr]
    assert online.count("v") == len(keys)


def test_batch_of_100_is_one_round_trip(online: OnlineStore, monkeypatch: pytest.MonkeyPatch) -> None:
    online.write("v", [row(str(i), 1, x=i) for i in range(100)])
    calls: list[str] = []
    if hasattr(online, "_redis"):
        client = online._redis
        original = client.execute_command
        monkeypatch.setattr(
            client, "execute_command", lambda *a, **k: calls.append(a[0]) or original(*a, **k)
        )
    else:
        conn = online._conn()  # type: ignore[attr-defined]
        conn.set_trace_callback(calls.append)
    assert all(r is not None for r in online.read("v", [str(i) for i in range(100)]))
    assert len(calls) == 1, calls


def test_concurrent_readers_and_writer(online: OnlineStore) -> None:
    online.write("v", [row(str(i), 1, x=i) for i in range(50)])
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for _ in range(50):
                got = online.read("v", [str(i) for i in range(50)])
                assert all(r is not None for r in got)
        except BaseException as exc:  # collected and re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for step in range(2, 20):
        online.write("v", [row(str(i), step, x=i * step) for i in range(50)])
    for t in threads:
        t.join()
    assert not errors
    assert online.read("v", ["3"])[0].values == {"x": 3 * 19}  # type: ignore[union-attr]


def test_unknown_scheme_lists_valid_ones() -> None:
    with pytest.raises(ConfigError, match="sqlite, redis"):
        open_online_store("memcached://x")


def test_redis_that_is_down_names_the_url() -> None:
    with pytest.raises(StoreUnavailableError, match=r"redis://127\.0\.0\.1:1/0"):
        open_online_store("redis://127.0.0.1:1/0")


def test_entity_keys_are_normalized() -> None:
    assert entity_key([42]) == entity_key([42.0]) == entity_key(["42"])
    assert entity_key(["a", 1]) != entity_key(["a1"])
