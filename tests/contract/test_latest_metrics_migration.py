"""Migration 0011 refills each run's stored latest values by step, then timestamp, then logging order, on
SQLite and PostgreSQL (the in-memory store has no migrations: it keeps the same rule as values arrive)."""

import math
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from mlfactory.entities import Metric
from mlfactory.stores import open_metadata_store
from mlfactory.stores.sql.engine import HEADS, MIGRATIONS, make_engine
from mlfactory.tracking import search_runs

REVISION = "0011_latest_by_time"
BEFORE = "0010_archive"  # what it revises
A, B, C = "a" * 32, "b" * 32, "c" * 32
# logged in this order: (run, key, value, step, timestamp)
LOGGED = [
    (A, "f1", 0.9, 3, 20.0),
    (A, "f1", 0.1, 1, 50.0),
    (A, "f1", 0.7, 3, 10.0),  # the same step logged later but measured earlier: 0.9 stays latest
    (A, "loss", 0.5, 2, 1.0),
    (A, "loss", 0.4, 2, 1.0),  # the same step and time logged later: the latest
    (B, "acc", 0.8, 7, 0.0),
    (B, "acc", 0.6, 2, 9.0),
]


def _before(url: str) -> None:
    """A database at every head but 0011 (0010 on its branch), holding metrics logged before 0011, when
    the latest value of a step was the last logged; and its stored latest values by that older rule."""
    engine = make_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        for head in sorted((HEADS - {REVISION}) | {BEFORE}):
            command.upgrade(config, head)
    meta = sa.MetaData()
    runs, metrics = (sa.Table(n, meta, autoload_with=engine) for n in ("runs", "metrics"))
    latest = sa.Table("latest_metrics", meta, autoload_with=engine)
    assert "timestamp" not in latest.c and "is_nan" not in metrics.c
    with engine.begin() as conn:
        for run_id in (A, B, C):
            row = dict(id=run_id, name="m", status="finished", started_at=datetime.now(UTC))
            conn.execute(sa.insert(runs).values(**row, params={}, tags={}, environment={}))
        for run_id, key, value, step, ts in LOGGED:  # one at a time: ids in logging order
            conn.execute(
                sa.insert(metrics).values(run_id=run_id, key=key, value=value, step=step, timestamp=ts)
            )
        conn.execute(sa.insert(latest).values(run_id=A, key="f1", value=0.7, step=3))  # the older rule's
        if engine.dialect.name == "postgresql":  # PostgreSQL could hold a NaN before 0011 (SQLite could not)
            conn.execute(sa.insert(metrics).values(run_id=C, key="x", value=math.nan, step=0, timestamp=0.0))
    engine.dispose()


def test_upgrading_refills_the_latest_values_by_step_then_time(metadata_url: str) -> None:
    _before(metadata_url)
    store = open_metadata_store(metadata_url)  # migrates to the heads
    try:
        assert store.get_run(A).metrics == {"f1": 0.9, "loss": 0.4}
        assert store.get_run(B).metrics == {"acc": 0.8}
        on_postgres = metadata_url.startswith("postgresql")
        assert str(store.get_run(C).metrics) == ("{'x': nan}" if on_postgres else "{}")
        assert {r.id for r in search_runs(store, "metrics.f1 > 0.8")} == {A}
        # later writes compare with the refilled rows, timestamps included
        store.log_metrics(A, [Metric("f1", 0.2, 3, 15.0), Metric("loss", math.nan, 2, 2.0)])
        assert store.get_run(A).metrics["f1"] == 0.9 and math.isnan(store.get_run(A).metrics["loss"])
        assert [m.value for m in store.metric_history(A, "f1")] == [0.1, 0.7, 0.2, 0.9]
    finally:
        store.close()
