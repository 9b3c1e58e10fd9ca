from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlfactory.features import ViewTable, materialize_view, open_online_store
from mlfactory.features.online import OnlineStore

T0 = pd.Timestamp("2026-01-01", tz="UTC")


def ts(days: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(days=days)


@pytest.fixture
def online(tmp_path: Path) -> OnlineStore:
    return open_online_store("sqlite:///o.db", root=tmp_path)


def table(tmp_path: Path, rows: list[tuple[int, float, float, float]]) -> ViewTable:
    frame = pd.DataFrame(rows, columns=["k", "e", "c", "x"])
    frame["_event_ts"] = frame.pop("e").map(ts)
    frame["_created_ts"] = frame.pop("c").map(ts)
    path = tmp_path / f"t{len(list(tmp_path.glob('t*.parquet')))}.parquet"
    frame.to_parquet(path)
    return ViewTable(name="v", path=path, join_keys=("k",), features=("x",), ttl_seconds=None)


def values(online: OnlineStore, keys: list[int]) -> list[float | None]:
    return [None if r is None else r.values["x"] for r in online.read("v", [str(k) for k in keys])]


def test_latest_per_entity_then_incremental_and_idempotent(tmp_path: Path, online: OnlineStore) -> None:
    t1 = table(tmp_path, [(1, 0, 0, 1.0), (1, 2, 2, 2.0), (2, 1, 1, 5.0), (3, 30, 30, 9.0)])
    r = materialize_view(t1, "c1", online, now=ts(10))
    assert (r.rows_read, r.entities_written, r.full) == (3, 2, True)  # key 3 lies in the future
    assert values(online, [1, 2, 3]) == [2.0, 5.0, None]
    assert r.watermark == ts(2)
    again = materialize_view(t1, "c1", online, now=ts(10))
    assert (again.rows_read, again.entities_written, again.full) == (0, 0, False)
    later = materialize_view(t1, "c1", online, now=ts(40))
    assert (later.rows_read, later.entities_written) == (1, 1) and values(online, [3]) == [9.0]


def test_a_late_backfill_never_replaces_a_newer_value(tmp_path: Path, online: OnlineStore) -> None:
    materialize_view(table(tmp_path, [(1, 5, 5, 5.0)]), "c1", online, now=ts(10))
    backfill = table(tmp_path, [(1, 5, 5, 5.0), (1, 3, 8, 3.0)])  # event 3 written at day 8
    r = materialize_view(backfill, "c1", online, now=ts(10))
    assert r.rows_read == 1 and values(online, [1]) == [5.0]


def test_changed_code_rewrites_everything(tmp_path: Path, online: OnlineStore) -> None:
    materialize_view(table(tmp_path, [(1, 5, 5, 5.0)]), "c1", online, now=ts(10))
    r = materialize_view(table(tmp_path, [(1, 1, 1, 1.0)]), "c2", online, now=ts(10))
    assert r.full and values(online, [1]) == [1.0]
    assert online.watermark("v").code_version == "c2"  # type: ignore[union-attr]


def test_since_reprocesses_from_a_time(tmp_path: Path, online: OnlineStore) -> None:
    t = table(tmp_path, [(1, 1, 1, 1.0), (2, 2, 2, 2.0)])
    materialize_view(t, "c1", online, now=ts(10))
    online.clear("v")
    r = materialize_view(t, "c1", online, now=ts(10), since=ts(1.5).to_pydatetime())
    assert r.rows_read == 1 and values(online, [1, 2]) == [None, 2.0]
