"""Materialization: the latest value per entity from a feature table into the online store, incrementally.

Only rows that became available (``max(event, created)``) after the view's watermark and not after ``now``
are read; the store's compare-and-set keeps the newest value per entity, so running twice changes nothing.
A view whose code version changed is rewritten in full.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from mlfactory.features.offline import ViewTable, connect, lit, q, us
from mlfactory.features.online.base import OnlineStore, Watermark, entity_key


@dataclass(frozen=True)
class MaterializeResult:
    """What one materialization of one view did."""

    view: str
    rows_read: int
    entities_written: int
    watermark: datetime | None
    full: bool
    seconds: float = 0.0


def to_us(ts: datetime) -> int:
    ts = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    return int(ts.timestamp() * 1_000_000)


def from_us(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC)


def _rows(
    con: object, sql: str, keys: tuple[str, ...], feats: tuple[str, ...]
) -> Iterator[tuple[str, int, int, bytes]]:
    reader = con.sql(sql).to_arrow_reader(50_000)  # type: ignore[attr-defined]
    for batch in reader:
        cols = batch.to_pydict()
        key_cols = [cols[k] for k in keys]
        feat_cols = [cols[f] for f in feats]
        entities = [entity_key(v) for v in zip(*key_cols, strict=True)]
        for i, ent in enumerate(entities):
            payload = orjson.dumps({f: c[i] for f, c in zip(feats, feat_cols, strict=True)})
            yield ent, cols["_e"][i], cols["_c"][i], payload


def materialize_view(
    table: ViewTable,
    code_version: str,
    online: OnlineStore,
    *,
    since: datetime | None = None,
    now: datetime | None = None,
    memory_limit: str = "2GB",
) -> MaterializeResult:
    """Write the view's newest values per entity that became available after the watermark (or ``since``).

    Args:
        table: the view's feature table.
        code_version: the view's code version; a change from the stored one rewrites the view in full.
        online: the online store.
        since: start from this time instead of the stored watermark.
        now: rows available after this are left for a later run (default: the current time).
        memory_limit: DuckDB's memory limit.
    """
    import time

    started = time.perf_counter()
    mark = online.watermark(table.name)
    changed = mark is not None and mark.code_version != code_version
    start_us = to_us(since) if since is not None else (mark.us if mark is not None and not changed else None)
    now_us = to_us(now or datetime.now(UTC))
    avail = f"greatest({us('_event_ts')}, {us('_created_ts')})"
    cond = f"{avail} <= {now_us}" + ("" if start_us is None else f" AND {avail} > {start_us}")
    keys = ", ".join(q(k) for k in table.join_keys)
    src = f"read_parquet({lit(table.path)})"
    with connect(memory_limit) as con:
        rows_read, newest = con.execute(f"SELECT count(*), max({avail}) FROM {src} WHERE {cond}").fetchall()[
            0
        ]
        sql = (
            f"SELECT {keys}, {us('_event_ts')} AS _e, {us('_created_ts')} AS _c, "
            f"{', '.join(q(f) for f in table.features)} FROM {src} WHERE {cond} "
            f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY _event_ts DESC, _created_ts DESC) = 1"
        )
        kept = mark.us if mark is not None and not changed else None
        best = max(u for u in (newest, kept) if u is not None) if (newest, kept) != (None, None) else None
        watermark = Watermark(best, code_version) if best is not None else None
        written = online.write(
            table.name, _rows(con, sql, table.join_keys, table.features), watermark=watermark, force=changed
        )
    return MaterializeResult(
        view=table.name,
        rows_read=int(rows_read),
        entities_written=written,
        watermark=from_us(watermark.us) if watermark else None,
        full=start_us is None,
        seconds=time.perf_counter() - started,
    )
