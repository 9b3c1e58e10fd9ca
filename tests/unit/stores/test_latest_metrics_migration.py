"""Migration 0008 fills each run's stored latest metric values from the metrics a database already holds."""

from datetime import UTC, datetime

from alembic import command
from alembic.config import Config
from sqlalchemy import insert, inspect

from mlfactory.entities import Metric
from mlfactory.stores import open_metadata_store
from mlfactory.stores.sql import schema as t
from mlfactory.stores.sql.engine import HEADS, MIGRATIONS, make_engine

REVISION = "0008_latest_metrics"
AFTER = "0011_latest_by_time"  # the runs branch's head, built on 0008
# logged in this order: (run, key, value, step)
LOGGED = [
    ("a" * 32, "f1", 0.9, 3),
    ("a" * 32, "f1", 0.1, 1),
    ("a" * 32, "f1", 0.7, 3),  # the same step logged later: the latest
    ("a" * 32, "f1", 0.2, 2),
    *[("a" * 32, "loss", 1 / (s + 1), s) for s in range(20)],
    ("b" * 32, "f1", 0.5, 0),
    ("b" * 32, "acc", 0.8, 7),
    ("b" * 32, "acc", 0.6, 2),
]


def _at_previous_heads(url: str) -> None:
    """A database migrated to every head but 0008, holding three runs (one without metrics)."""
    engine = make_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        for head in sorted(HEADS - {AFTER}):
            command.upgrade(config, head)
    with engine.begin() as conn:
        assert "latest_metrics" not in conn.dialect.get_table_names(conn)
        for run_id in ("a" * 32, "b" * 32, "c" * 32):
            conn.execute(
                insert(t.runs).values(
                    id=run_id,
                    name="m",
                    status="finished",
                    started_at=datetime.now(UTC),
                    params={},
                    tags={},
                    environment={},
                )
            )
        for run_id, key, value, step in LOGGED:  # one at a time: ids in logging order
            conn.execute(
                insert(t.metrics).values(run_id=run_id, key=key, value=value, step=step, timestamp=0.0)
            )
    engine.dispose()


def test_upgrading_fills_the_latest_value_of_every_run_and_key(metadata_url: str) -> None:
    _at_previous_heads(metadata_url)
    store = open_metadata_store(metadata_url)  # migrates to the heads
    try:
        assert store.get_run("a" * 32).metrics == {"f1": 0.7, "loss": 1 / 20}
        assert store.get_run("b" * 32).metrics == {"f1": 0.5, "acc": 0.8}
        assert store.get_run("c" * 32).metrics == {}
        # later writes compare with the filled rows: an equal step logged later wins, a lower one loses
        store.log_metrics("a" * 32, [Metric("f1", 0.3, 3, 0.0), Metric("loss", 9.0, 5, 0.0)])
        assert store.get_run("a" * 32).metrics == {"f1": 0.3, "loss": 1 / 20}
    finally:
        store.close()


def _event_indexes(url: str) -> dict[str, list[str]]:
    engine = make_engine(url)
    try:
        return {str(i["name"]): list(i["column_names"]) for i in inspect(engine).get_indexes("events")}
    finally:
        engine.dispose()


def test_upgrading_indexes_the_events_by_kind_as_the_schema_declares(metadata_url: str) -> None:
    _at_previous_heads(metadata_url)
    assert "ix_events_kind_time" not in _event_indexes(metadata_url)
    open_metadata_store(metadata_url).close()  # migrates to the heads
    declared = {str(i.name): [c.name for c in i.columns] for i in t.events.indexes}
    assert _event_indexes(metadata_url) == declared
    assert declared["ix_events_kind_time"] == ["kind", "time"]
