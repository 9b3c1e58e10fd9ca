"""The families the first suite leaves out (control, feedback, features, monitoring), on every backend.

Each test pins a guarantee the interface documents: compare-and-set, leases, idempotence, the event written
with each change, ordering, and the NotFoundError cases. The in-memory fake runs them too.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from mlfactory.entities import VersionStatus
from mlfactory.errors import ConflictError, NotFoundError
from mlfactory.stores import MetadataStore


def test_rollouts_move_by_compare_and_set_with_one_event_each(metadata: MetadataStore) -> None:
    idle = metadata.get_rollout("m")
    assert (idle.state, idle.revision, idle.paused, idle.data) == ("idle", 0, False, {})
    assert metadata.list_rollouts() == []  # reading an untouched model stores nothing
    moved = metadata.save_rollout(
        "m",
        expect_revision=0,
        state="canary",
        challenger=2,
        champion=1,
        data={"step": 1},
        event="rollout.canary",
        actor="ctl",
        reason="new version",
        payload={"weight": 10},
    )
    assert (moved.state, moved.revision, moved.challenger, moved.champion, moved.data) == (
        "canary",
        1,
        2,
        1,
        {"step": 1},
    )
    with pytest.raises(ConflictError, match="changed meanwhile"):
        metadata.save_rollout(
            "m",
            expect_revision=0,
            state="idle",
            challenger=None,
            champion=1,
            data={},
            event="rollout.aborted",
            actor="other",
            reason="",
        )
    assert metadata.get_rollout("m") == moved  # the refused move changed nothing
    [event] = metadata.list_events(model="m")
    assert (event.kind, event.actor, event.reason) == ("rollout.canary", "ctl", "new version")
    assert event.payload == {
        "from_state": "idle",
        "to_state": "canary",
        "challenger": 2,
        "champion": 1,
        "weight": 10,
    }
    paused = metadata.set_paused("m", True, actor="ana", reason="incident")
    assert paused.kind == "controller.paused"
    now = metadata.get_rollout("m")
    assert now.paused and (now.state, now.revision) == ("canary", 1)  # pausing keeps the rollout
    assert metadata.set_paused("m", False, actor="ana").kind == "controller.resumed"
    assert [r.model for r in metadata.list_rollouts()] == ["m"]


def test_of_concurrent_movers_expecting_one_revision_exactly_one_wins(metadata: MetadataStore) -> None:
    metadata.get_rollout("m")
    results: list[str] = []
    start = threading.Barrier(6)

    def move(i: int) -> None:
        start.wait()
        try:
            metadata.save_rollout(
                "m",
                expect_revision=0,
                state=f"s{i}",
                challenger=None,
                champion=None,
                data={},
                event="rollout.step",
                actor=f"c{i}",
                reason="",
            )
            results.append("won")
        except ConflictError:
            results.append("conflict")

    threads = [threading.Thread(target=move, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["conflict"] * 5 + ["won"]
    assert metadata.get_rollout("m").revision == 1
    assert len(metadata.list_events(kinds=["rollout.step"])) == 1


def test_leases_belong_to_one_owner_until_released_expired_or_taken_over(metadata: MetadataStore) -> None:
    assert metadata.acquire_lease("m", "a", 60)
    assert metadata.acquire_lease("m", "a", 60)  # renewing
    assert not metadata.acquire_lease("m", "b", 60)
    assert not metadata.acquire_lease("m", "b", 60, take_over="c")  # c does not hold it
    assert metadata.acquire_lease("m", "b", 60, take_over="a")  # a is known gone
    assert metadata.get_rollout("m").lease_owner == "b"
    metadata.release_lease("m", "a")  # not the holder: nothing happens
    assert not metadata.acquire_lease("m", "a", 60)
    metadata.release_lease("m", "b")
    released = metadata.get_rollout("m")
    assert released.lease_owner is None and released.lease_until is not None
    assert metadata.acquire_lease("m", "a", -1)  # a lease that ended already...
    assert metadata.acquire_lease("m", "b", 60)  # ...is free for anyone
    assert metadata.list_events(model="m") == []  # leases renew every tick: no events


def test_feedback_replaces_labels_sets_problems_aside_and_summarizes_once(metadata: MetadataStore) -> None:
    assert metadata.add_feedback([], actor="app", model="m") == 0
    stored = metadata.add_feedback(
        [("r1", 1), ("r2", 0), ("r3", "x"), ("r1", 0)],
        actor="app",
        model="m",
        problems={"r3": "not a class of the model"},
    )
    assert stored == 2
    got = {f.request_id: f for f in metadata.get_feedback()}
    assert {k: f.label for k, f in got.items()} == {"r1": 0, "r2": 0}  # r1 kept its last label
    assert (got["r1"].model, got["r1"].actor, got["r1"].problem) == ("m", "app", None)
    assert got["r1"].received_at.tzinfo is not None
    aside = metadata.get_feedback(["r3"], include_invalid=True)
    assert [f.problem for f in aside] == ["not a class of the model"]
    assert metadata.get_feedback(["r3"]) == []
    assert metadata.add_feedback([("r2", 1), ("r4", 1)], actor="app", model="m") == 2
    assert {f.request_id: f.label for f in metadata.get_feedback(["r2", "r4", "nope"])} == {
        "r2": 1,
        "r4": 1,
    }
    [summary] = metadata.list_events(kinds=["feedback.received"])  # one per model and hour
    assert (summary.model, summary.payload["labels"], summary.payload["invalid"]) == ("m", 2, 1)
    future = datetime.now(UTC) + timedelta(hours=1)
    assert metadata.get_feedback(since=future) == []


def test_feature_views_tables_and_training_sets_are_recorded_once(metadata: MetadataStore) -> None:
    assert metadata.register_feature_view("v", "c1", entity="e", source="s", definition={"a": 1})
    assert not metadata.register_feature_view("v", "c1", entity="e", source="s", definition={"a": 2})
    assert metadata.register_feature_view("v", "c2", entity="e", source="s", definition={"a": 3})
    assert metadata.register_feature_view("w", "c1", entity="e", source="s", definition={})
    views = metadata.list_feature_views("v")
    assert [(v.code_version, v.definition) for v in views] == [("c1", {"a": 1}), ("c2", {"a": 3})]
    assert views[0].created_at.tzinfo is not None and (views[0].entity, views[0].source) == ("e", "s")
    assert len(metadata.list_feature_views()) == 3
    assert metadata.get_feature_table("v", "c1", "d") is None
    metadata.add_feature_table("v", "c1", "d", digest="a" * 64, n_rows=5, backfills=True)
    metadata.add_feature_table("v", "c1", "d", digest="b" * 64, n_rows=6, backfills=False)  # no-op
    table = metadata.get_feature_table("v", "c1", "d")
    assert table is not None
    assert (table.view, table.code_version, table.dataset_id) == ("v", "c1", "d")
    assert (table.digest, table.n_rows, table.backfills) == ("a" * 64, 5, True)
    assert metadata.add_training_set("t", digest="c" * 64, n_rows=9, spec={"views": ["v"]})
    assert not metadata.add_training_set("t", digest="d" * 64, n_rows=1, spec={})
    ts = metadata.get_training_set("t")
    assert (ts.id, ts.digest, ts.n_rows, ts.spec) == ("t", "c" * 64, 9, {"views": ["v"]})
    with pytest.raises(NotFoundError, match="no training set 'nope'"):
        metadata.get_training_set("nope")


def test_skew_reports_are_numbered_listed_newest_first_and_logged(metadata: MetadataStore) -> None:
    first = metadata.add_skew_report("m", {"rows": 10, "max_mismatch_rate": 0.1}, actor="t")
    second = metadata.add_skew_report("m", {"rows": 20, "max_mismatch_rate": 0.0}, actor="t")
    metadata.add_skew_report("n", {"rows": 1}, actor="t")
    assert second > first
    reports = metadata.list_skew_reports("m")
    assert [(r.id, r.model, r.report["rows"]) for r in reports] == [(second, "m", 20), (first, "m", 10)]
    assert [r.id for r in metadata.list_skew_reports("m", limit=1)] == [second]
    events = metadata.list_events(model="m", kinds=["features.skew"])
    assert [e.payload for e in events] == [
        {"report": first, "rows": 10, "max_mismatch_rate": 0.1},
        {"report": second, "rows": 20, "max_mismatch_rate": 0.0},
    ]


def _report(metadata: MetadataStore, version: int, route: str, share: float) -> str:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return metadata.add_monitor_report(
        model="m",
        version=version,
        route=route,
        window_start=start,
        window_end=start + timedelta(hours=1),
        rows=100,
        status="drift" if share > 0.5 else "ok",
        metrics={"drift.share": share, "drift.dataset": float(share > 0.5), "performance.accuracy": None},
        report={"drift": {"share": share}},
        actor="mon",
    )


def test_monitor_reports_are_summaries_oldest_first_with_the_full_one_on_demand(
    metadata: MetadataStore,
) -> None:
    ids = [_report(metadata, 1, "production", 0.1), _report(metadata, 1, "production", 0.7)]
    ids.append(_report(metadata, 2, "canary", 0.2))
    listed = metadata.list_monitor_reports("m")
    assert [r.id for r in listed] == ids and all(r.report is None for r in listed)
    assert [r.id for r in metadata.list_monitor_reports("m", limit=2)] == ids[1:]  # newest two, oldest first
    assert [r.id for r in metadata.list_monitor_reports("m", version=1)] == ids[:2]
    assert [r.id for r in metadata.list_monitor_reports("m", route="canary")] == ids[2:]
    assert metadata.list_monitor_reports("other") == []
    future = datetime.now(UTC) + timedelta(hours=1)
    assert metadata.list_monitor_reports(since=future) == []
    full = metadata.list_monitor_reports("m", full=True)
    assert [r.report for r in full][1] == {"drift": {"share": 0.7}}
    one = metadata.get_monitor_report(ids[1])
    assert (one.model, one.version, one.route, one.rows, one.status) == ("m", 1, "production", 100, "drift")
    assert one.metrics == {"drift.share": 0.7, "drift.dataset": 1.0, "performance.accuracy": None}
    assert one.window_start == datetime(2026, 1, 1, tzinfo=UTC) and one.created_at.tzinfo is not None
    assert one.report == {"drift": {"share": 0.7}}
    with pytest.raises(NotFoundError, match="no monitoring report 'nope'"):
        metadata.get_monitor_report("nope")
    events = metadata.list_events(kinds=["monitor.report"])
    assert [(e.payload["report"], e.payload["dataset_drift"]) for e in events] == list(
        zip(ids, [0.0, 1.0, 0.0], strict=True)
    )


def test_what_a_store_hands_out_is_not_its_state(metadata: MetadataStore) -> None:
    """Changing a returned value changes nothing stored (a fake that shared its dicts would let a test
    pass that fails on a database)."""
    metadata.set_routing_policy("m", {"canary": 2, "canary_weight": 10}, actor="t")
    metadata.get_routing_policies()["m"]["canary_weight"] = 99
    assert metadata.get_routing_policies("m") == {"m": {"canary": 2, "canary_weight": 10}}
    _report(metadata, 1, "production", 0.1)
    metadata.list_monitor_reports("m")[0].metrics["drift.share"] = 1.0
    assert metadata.list_monitor_reports("m")[0].metrics["drift.share"] == 0.1


def test_of_concurrent_alias_movers_expecting_one_version_exactly_one_wins(metadata: MetadataStore) -> None:
    for _ in range(3):
        metadata.create_model_version(
            "m",
            status=VersionStatus.READY,
            run_id=None,
            artifact="b" * 64,
            flavor="skops",
            signature={"inputs": []},
            metrics={},
            gates=[],
            profile={},
            lineage={},
            card="",
        )
    metadata.move_alias("m", "production", 1, kind="alias.set", actor="t", reason="")
    results: list[str] = []
    start = threading.Barrier(6)

    def move(i: int) -> None:
        start.wait()
        try:
            to = 2 + i % 2
            metadata.move_alias("m", "production", to, kind="alias.set", actor=f"p{i}", reason="", expect=1)
            results.append("won")
        except ConflictError:
            results.append("conflict")

    threads = [threading.Thread(target=move, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["conflict"] * 5 + ["won"]
    [won] = metadata.list_events(kinds=["alias.set"])[1:]
    assert metadata.get_aliases("m") == {("m", "production"): won.payload["to"]}
