"""On SQLite a read takes no write lock: under WAL it reads its snapshot while a writer holds the lock, so
listing and searching never wait for (nor make wait) a training run or a promotion that is writing."""

import sqlite3
from pathlib import Path

from mlfactory.entities import Metric, VersionStatus
from mlfactory.stores import open_metadata_store
from mlfactory.tracking import search_runs


def test_reads_answer_while_another_connection_holds_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    store = open_metadata_store(f"sqlite:///{path}")
    run_id = store.create_run("r", params={"C": 1})
    store.log_metrics(run_id, [Metric("acc", 0.9, 0, 0.0)])
    store.create_model_version(
        "m", status=VersionStatus.READY, run_id=run_id, artifact="a" * 64, flavor="skops",
        signature={}, metrics={}, gates=[], profile={}, lineage={}, card="",
    )  # fmt: skip
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # the write lock, held until the end of the test
    writer.execute("INSERT INTO events (time, kind, actor, payload, reason) VALUES ('', 'x', 'x', '{}', '')")
    try:
        # a read that took the write lock would wait out the busy timeout, then fail as unavailable
        assert [r.id for r in store.list_runs()] == [run_id]
        assert [r.id for r in search_runs(store, "metrics.acc > 0.5 and params.C = 1")] == [run_id]
        assert store.get_run(run_id[:8]).metrics == {"acc": 0.9}
        assert [v.version for v in store.list_model_versions("m")] == [1]
        assert [e.kind for e in store.list_events()] == ["model.registered"]  # not the uncommitted one
        # what a server reads on every request or reload, and the dashboard's lists
        assert store.active_tokens() == {}
        assert store.routing_state().aliases == {} and store.get_aliases("m") == {}
        assert store.get_routing_policies() == {} and store.get_rollout("m").model == "m"
        assert store.list_rollouts() == [] and store.list_datasets() == []
        assert store.list_monitor_reports("m") == [] and store.get_feedback(["x"]) == []
        assert store.list_feature_views() == [] and store.list_audits() == []
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        store.close()
