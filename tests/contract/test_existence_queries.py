"""Existence tests the stores answer without reading a table: which event kinds the log holds (by actor and
by what the payload sets) and whether a registered version carries lineage. Every backend must agree."""

from __future__ import annotations

from typing import Any

from mlfactory.entities import VersionStatus
from mlfactory.stores import MetadataStore


def _version(metadata: MetadataStore, name: str, run_id: str | None, lineage: dict[str, Any]) -> None:
    metadata.create_model_version(
        name,
        status=VersionStatus.READY,
        run_id=run_id,
        artifact="a" * 64,
        flavor="skops",
        signature={"inputs": []},
        metrics={},
        gates=[],
        profile={},
        lineage=lineage,
        card="",
    )


def test_kinds_seen_are_the_asked_kinds_the_log_holds(metadata: MetadataStore) -> None:
    assert metadata.kinds_seen(["a.b"]) == set()
    metadata.add_event("a.b", actor="ana")
    metadata.add_event("c.d", actor="ana")
    assert metadata.kinds_seen(["a.b", "x.y"]) == {"a.b"}
    assert metadata.kinds_seen(["a.b", "c.d", "a.b"]) == {"a.b", "c.d"}
    assert metadata.kinds_seen([]) == set()


def test_kinds_seen_by_an_actor_prefix_take_it_literally(metadata: MetadataStore) -> None:
    metadata.add_event("rollout.promoted", actor="ana")
    metadata.add_event("rollout.promoted", actor="controllerX")  # a LIKE wildcard would match this
    assert metadata.kinds_seen(["rollout.promoted"], actor_prefix="controller:") == set()
    assert metadata.kinds_seen(["rollout.promoted"], actor_prefix="controller_") == set()
    metadata.add_event("rollout.promoted", actor="controller:host:1:ab")
    assert metadata.kinds_seen(["rollout.promoted"], actor_prefix="controller:") == {"rollout.promoted"}


def test_kinds_seen_by_a_set_payload_path_skip_null_empty_and_missing(metadata: MetadataStore) -> None:
    paths = ["to.canary", "to.ab"]
    for payload in (
        {},
        {"to": None},
        {"to": {"canary": None, "ab": []}},
        {"to": {"ab": {}}},
        {"to": {"canary": ""}},
        {"from": {"canary": 3}},
    ):
        metadata.add_event("routing.set", actor="t", model="m", payload=payload)
    assert metadata.kinds_seen(["routing.set"], payload_set=paths) == set()
    metadata.add_event("routing.set", actor="t", model="m", payload={"to": {"ab": [[1, 50.0], [2, 50.0]]}})
    assert metadata.kinds_seen(["routing.set"], payload_set=paths) == {"routing.set"}
    assert metadata.kinds_seen(["routing.set"], payload_set=["to.canary"]) == set()
    metadata.add_event("routing.set", actor="t", model="m", payload={"to": {"canary": 2, "ab": []}})
    assert metadata.kinds_seen(["routing.set"], payload_set=["to.canary"]) == {"routing.set"}


def test_a_version_with_lineage_needs_both_a_run_and_a_dataset(metadata: MetadataStore) -> None:
    assert metadata.any_version_with_lineage() is False
    run = metadata.create_run("train")
    _version(metadata, "m", None, {"dataset": "iris@1"})
    _version(metadata, "m", run, {})
    _version(metadata, "n", run, {"dataset": ""})
    _version(metadata, "n", run, {"dataset": None, "source": "iris"})
    assert metadata.any_version_with_lineage() is False
    _version(metadata, "n", run, {"dataset": "iris@1"})
    assert metadata.any_version_with_lineage() is True


def test_latest_events_are_each_models_newest_of_the_kinds(metadata: MetadataStore) -> None:
    assert metadata.latest_events(["m", "n"], ["alias.set"]) == {}
    metadata.add_event("alias.set", actor="t", model="m", reason="first")
    metadata.add_event("alias.set", actor="t", model="n", reason="n's")
    newest = metadata.add_event("rollout.idle", actor="t", model="m", reason="newest")
    metadata.add_event("monitor.alert", actor="t", model="m", reason="not a decision")
    metadata.add_event("alias.set", actor="t", model="other", reason="not asked")
    found = metadata.latest_events(["m", "n", "absent"], ["alias.set", "rollout.idle"])
    assert set(found) == {"m", "n"}
    assert found["m"] == newest and found["n"].reason == "n's"
    assert metadata.latest_events(["m"], [])["m"].reason == "not a decision"
