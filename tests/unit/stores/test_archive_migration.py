"""Migration 0010 adds the archived state to a database that already holds runs and versions: they stay
live, and the indexes it creates are the ones the schema declares."""

from datetime import UTC, datetime

from alembic import command
from alembic.config import Config
from sqlalchemy import insert, inspect

from mlfactory.stores import open_metadata_store
from mlfactory.stores.sql import schema as t
from mlfactory.stores.sql.engine import HEADS, MIGRATIONS, make_engine

REVISION = "0010_archive"
BEFORE = "0008_latest_metrics"  # what it revises
RUNS_HEAD = "0011_latest_by_time"  # the runs branch's head, built on it


def _before_archive(url: str) -> None:
    """A database at every head but 0010 (0008 on its branch), holding a run and the version it trained."""
    engine = make_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        for head in sorted((HEADS - {RUNS_HEAD}) | {BEFORE}):
            command.upgrade(config, head)
    columns = ("id", "name", "status", "started_at", "params", "tags", "environment")
    with engine.begin() as conn:
        assert "archived_at" not in {c["name"] for c in inspect(conn).get_columns("runs")}
        run = dict(zip(columns, ("a" * 32, "spam", "finished", datetime.now(UTC), {}, {}, {}), strict=True))
        conn.execute(insert(t.runs).values(**run))
        conn.execute(
            insert(t.model_versions).values(
                name="spam",
                version=1,
                status="ready",
                run_id="a" * 32,
                artifact="0" * 64,
                flavor="skops",
                signature={},
                metrics={},
                gates=[],
                profile={},
                lineage={},
                card="",
                created_at=datetime.now(UTC),
            )
        )
    engine.dispose()


def _indexes(url: str, table: str) -> dict[str, list[str]]:
    engine = make_engine(url)
    try:
        return {str(i["name"]): list(i["column_names"]) for i in inspect(engine).get_indexes(table)}
    finally:
        engine.dispose()


def test_upgrading_keeps_stored_runs_and_versions_live(metadata_url: str) -> None:
    _before_archive(metadata_url)
    store = open_metadata_store(metadata_url)  # migrates to the heads
    try:
        assert [r.id for r in store.list_runs()] == ["a" * 32]
        assert store.get_run("a" * 32).archived_at is None
        assert [v.version for v in store.list_model_versions("spam")] == [1]
        store.archive_model_versions("spam", [1], reason="never served", actor="test")
        store.archive_runs(["a" * 32], reason="trained spam/1", actor="test")
        assert store.list_runs() == [] and store.list_model_versions("spam") == []
    finally:
        store.close()


def test_upgrading_creates_the_indexes_the_schema_declares(metadata_url: str) -> None:
    _before_archive(metadata_url)
    open_metadata_store(metadata_url).close()
    for table in (t.runs, t.model_versions):
        declared = {str(i.name): [c.name for c in i.columns] for i in table.indexes}
        assert _indexes(metadata_url, table.name) == declared
    assert _indexes(metadata_url, "runs")["ix_runs_live_started"] == ["started_at"]
    assert _indexes(metadata_url, "model_versions")["ix_model_versions_run"] == ["run_id"]
