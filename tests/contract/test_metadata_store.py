"""One suite for the metadata store interface, run against SQLite and PostgreSQL."""

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlfactory.entities import ApiToken, Metric, Role, RunStatus, VersionStatus
from mlfactory.errors import ConflictError, NotFoundError
from mlfactory.stores import MetadataStore, open_metadata_store


def dataset(store: MetadataStore, source: str, content_hash: str, valid: bool = True):  # type: ignore[no-untyped-def]
    return store.add_dataset(
        source=source,
        content_hash=content_hash,
        artifact="a" * 64,
        n_rows=3,
        schema={"columns": {}},
        profile={"x": 1},
        validation={"reasons": [] if valid else ["bad"]},
        valid=valid,
    )


def version(store: MetadataStore, name: str = "m", status: VersionStatus = VersionStatus.READY):  # type: ignore[no-untyped-def]
    return store.create_model_version(
        name,
        status=status,
        run_id=None,
        artifact="b" * 64,
        flavor="skops",
        signature={"inputs": []},
        metrics={"accuracy": 0.9},
        gates=[{"metric": "accuracy", "passed": status == VersionStatus.READY}],
        profile={},
        lineage={"dataset": "d"},
        card="# v{version}",
    )


def test_same_content_is_the_same_dataset_version(metadata: MetadataStore) -> None:
    first, created = dataset(metadata, "s", "h1" * 32)
    again, created_again = dataset(metadata, "s", "h1" * 32)
    second, _ = dataset(metadata, "s", "h2" * 32)
    other, _ = dataset(metadata, "t", "h1" * 32)
    assert created and not created_again
    assert again == first
    assert (first.version, second.version, other.version) == (1, 2, 1)
    assert [d.id for d in metadata.list_datasets("s")] == [first.id, second.id]
    assert metadata.get_dataset(second.id).profile == {"x": 1}
    with pytest.raises(NotFoundError, match="no dataset version 'nope'"):
        metadata.get_dataset("nope")


def test_run_lifecycle_params_metrics_artifacts(metadata: MetadataStore) -> None:
    run_id = metadata.create_run("m", params={"C": 1}, tags={"a": "b"}, environment={"python": "3"})
    metadata.log_params(run_id, {"max_iter": 5})
    metadata.set_tags(run_id, {"c": "d"})
    metadata.log_metrics(run_id, [Metric("loss", 1.0 / (s + 1), s, 0.0) for s in range(100)])
    metadata.log_metrics(run_id, [Metric("acc", 0.5, 0, 0.0)])
    # the latest value is the highest step's, and of two at one step the one logged last, whatever the order
    metadata.log_metrics(run_id, [Metric("f1", 0.9, 3, 0.0), Metric("f1", 0.1, 1, 0.0)])
    metadata.log_metrics(run_id, [Metric("f1", 0.7, 3, 0.0), Metric("f1", 0.2, 2, 0.0)])
    metadata.log_artifact(run_id, "model", "c" * 64)
    metadata.end_run(run_id, RunStatus.FINISHED)
    run = metadata.get_run(run_id[:10])
    assert run.params == {"C": 1, "max_iter": 5}
    assert run.tags == {"a": "b", "c": "d"}
    assert run.metrics == {"loss": pytest.approx(1 / 100), "acc": 0.5, "f1": 0.7}
    assert metadata.list_runs(ids=[run_id])[0].metrics == run.metrics
    assert run.artifacts == {"model": "c" * 64}
    assert run.status == RunStatus.FINISHED and run.duration_s is not None and run.duration_s >= 0
    history = metadata.metric_history(run_id, "loss")
    assert [m.step for m in history] == list(range(100))
    with pytest.raises(NotFoundError):
        metadata.get_run("ffffffff")


def test_list_runs_newest_first_and_filters(metadata: MetadataStore) -> None:
    ids = [metadata.create_run("a" if i % 2 else "b") for i in range(6)]
    metadata.end_run(ids[0], RunStatus.FAILED, error="boom")
    runs = metadata.list_runs()
    assert {r.id for r in runs} == set(ids)
    assert [r.started_at for r in runs] == sorted((r.started_at for r in runs), reverse=True)
    assert {r.id for r in metadata.list_runs(name="a")} == set(ids[1::2])
    failed = metadata.list_runs(status=RunStatus.FAILED)
    assert [r.id for r in failed] == [ids[0]] and failed[0].error == "boom"
    assert len(metadata.list_runs(limit=2)) == 2


def test_versions_number_up_and_card_gets_its_number(metadata: MetadataStore) -> None:
    v1, v2 = version(metadata), version(metadata, status=VersionStatus.REJECTED)
    assert (v1.version, v2.version) == (1, 2)
    assert v2.card == "# v2" and v2.status == VersionStatus.REJECTED
    assert [v.version for v in metadata.list_model_versions("m")] == [1, 2]
    latest = metadata.latest_model_version("m")
    assert latest is not None and latest.version == 2 and metadata.latest_model_version("x") is None
    assert metadata.list_model_names() == ["m"]
    with pytest.raises(NotFoundError, match=r"has no version 9 \(versions: \[1, 2\]\)"):
        metadata.get_model_version("m", 9)
    for beyond in (2**31, 2**63, 10**30, -1, 0):  # numbers no column holds: not found, not a crash
        with pytest.raises(NotFoundError, match=f"has no version {beyond} "):
            metadata.get_model_version("m", beyond)
    with pytest.raises(NotFoundError):
        metadata.move_alias("m", "production", 10**30, kind="alias.set", actor="x", reason="")
    with pytest.raises(NotFoundError, match="no model named 'x'"):
        metadata.list_model_versions("x")
    kinds = [e.kind for e in metadata.list_events(model="m")]
    assert kinds == ["model.registered", "model.registered"]


def test_a_registered_version_is_the_one_read_back(metadata_url: str) -> None:
    # the SQL stores return what they wrote without reading it: the JSON as the database gives it back
    metadata = open_metadata_store(metadata_url)
    gate = {"metric": "acc", "op": ">=", "threshold": 0.5, "value": 0.9, "passed": True}
    made = metadata.create_model_version(
        "m", status=VersionStatus.READY, run_id=None, artifact="a" * 64, flavor="skops",
        signature={"columns": [("x", "float")]}, metrics={1: 0.5, "acc": (0.9,)}, gates=[gate],
        profile={"rows": 3}, lineage={"dataset": "d@1"}, card="# {version}, v{version}",
    )  # fmt: skip
    assert made == metadata.get_model_version("m", 1)
    assert made.card == "# 1, v1" and made.metrics == {"1": 0.5, "acc": [0.9]}
    metadata.close()


def test_move_alias_writes_one_event_and_checks_expectation(metadata: MetadataStore) -> None:
    version(metadata)
    version(metadata)
    e1 = metadata.move_alias("m", "production", 1, kind="alias.set", actor="ana", reason="first")
    e2 = metadata.move_alias("m", "production", 2, kind="alias.set", actor="bo", reason="better", expect=1)
    assert (e1.payload["from"], e1.payload["to"]) == (None, 1)
    assert (e2.payload["from"], e2.payload["to"], e2.actor, e2.reason) == (1, 2, "bo", "better")
    assert metadata.get_aliases("m") == {("m", "production"): 2}
    assert metadata.get_model_version("m", 2).aliases == ("production",)
    with pytest.raises(ConflictError, match="moved meanwhile"):
        metadata.move_alias("m", "production", 1, kind="alias.set", actor="x", reason="", expect=1)
    with pytest.raises(NotFoundError):
        metadata.move_alias("m", "production", 7, kind="alias.set", actor="x", reason="")
    assert metadata.get_aliases("m") == {("m", "production"): 2}  # failed moves changed nothing
    metadata.move_alias("m", "production", None, kind="alias.removed", actor="x", reason="")
    assert metadata.get_aliases("m") == {}


def test_routing_state_names_each_models_newest_alias_or_routing_event(metadata: MetadataStore) -> None:
    assert metadata.routing_state() == ({}, {}, {})
    version(metadata)
    version(metadata)
    version(metadata, "n")
    e1 = metadata.move_alias("m", "production", 1, kind="alias.set", actor="t", reason="")
    e2 = metadata.move_alias("n", "staging", 1, kind="alias.set", actor="t", reason="")
    canary = {"canary": 2, "canary_weight": 10}
    e3 = metadata.set_routing_policy("m", canary, actor="t")
    metadata.add_event("serving.load_failed", actor="t", model="m")  # not a routing change
    assert metadata.routing_state() == (
        {("m", "production"): 1, ("n", "staging"): 1},
        {"m": canary},
        {"m": e3.id, "n": e2.id},
    )
    assert e1.id < e2.id < e3.id
    e4 = metadata.move_alias("m", "production", 2, kind="alias.set", actor="t", reason="")
    e5 = metadata.set_routing_policy("m", None, actor="t")
    state = metadata.routing_state()
    assert (state.aliases[("m", "production")], state.policies, state.revisions) == (
        2,
        {},
        {"m": e5.id, "n": e2.id},
    )
    assert e4.id < e5.id
    metadata.move_alias("n", "staging", None, kind="alias.removed", actor="t", reason="")
    assert metadata.routing_state().revisions == {"m": e5.id}  # n routes nothing any more


def test_routing_state_is_one_snapshot_while_another_writer_changes_routes(metadata: MetadataStore) -> None:
    """Read while routes change: each state's aliases and policy are exactly those its revision left."""
    version(metadata)
    version(metadata)
    version(metadata)
    after: dict[int, tuple[int, dict[str, Any] | None]] = {}  # event id -> (production, policy) it left
    done = threading.Event()

    def write() -> None:
        production, policy = 1, None
        try:
            for i in range(40):
                if i % 2:
                    policy = {"canary": 3, "canary_weight": i} if i % 4 == 1 else None
                    event = metadata.set_routing_policy("m", policy, actor="t")
                else:
                    production = 2 if production == 1 else 1
                    event = metadata.move_alias(
                        "m", "production", production, kind="alias.set", actor="t", reason=""
                    )
                after[event.id] = (production, policy)
        finally:
            done.set()

    writer = threading.Thread(target=write)
    writer.start()
    states = []
    while not done.is_set():
        states.append(metadata.routing_state())
    writer.join()
    assert len(after) == 40
    read = [
        (s.revisions["m"], s.aliases[("m", "production")], s.policies.get("m")) for s in states if s.revisions
    ]
    assert [(production, policy) for _, production, policy in read] == [after[r] for r, _, _ in read]


def test_events_filter_by_time_kind_and_limit(metadata: MetadataStore) -> None:
    for i in range(5):
        metadata.add_event("custom", actor="t", model="m", payload={"i": i}, reason=str(i))
    metadata.add_event("other", actor="t", model="n")
    assert [e.payload["i"] for e in metadata.list_events(kinds=["custom"], limit=2)] == [3, 4]
    assert len(metadata.list_events(model="n")) == 1
    future = datetime.now(UTC) + timedelta(hours=1)
    assert metadata.list_events(since=future) == []


def test_reopening_keeps_everything(metadata_url: str) -> None:
    store = open_metadata_store(metadata_url)
    run_id = store.create_run("x")
    store.close()
    again = open_metadata_store(metadata_url)  # migrations already applied: a no-op
    assert again.get_run(run_id).name == "x"
    again.close()


SEARCHES = [
    "params.C = 1",
    "params.C > 0.5",
    "params.C != 1",
    "params.C = abc",
    "params.C != abc",
    "params.C > abc",
    "params.solver = lbfgs",
    "params.solver != 'lbfgs'",
    "params.solver > a",
    "params.flag = true",
    "params.flag = 0",
    "params.flag > false",
    "params.odd = 1",
    "params.odd > 05",
    "params.lst = x",
    "params.lst != x",
    "params.missing = 1",
    "params.missing != 1",
    "params.dotted.key = 3",
    "tags.team = 'a'",
    "tags.team > B",
    "tags.team <= Zed",
    "metrics.acc >= 0.5",
    "metrics.acc < 0.2",
    "metrics.acc != x",
    "metrics.acc = x",
    "metrics.none > 0",
    "status = failed",
    "status != finished",
    "name = m",
    "name > l",
    "dataset = d1",
    "dataset != d1",
    "metrics.acc > 0.3 and params.C = 1 and tags.team = b",
]


def test_search_in_the_database_agrees_with_filtering_loaded_runs(metadata: MetadataStore) -> None:
    from mlfactory.tracking import filter_runs, search_runs

    teams = ["a", "b", "B", "Zed", "alpha"]
    for i in range(30):
        params: dict[str, Any] = {
            "C": [0, 1, 0.5][i % 3],
            "solver": ["lbfgs", "saga", "Adam"][i % 3],
            "flag": i % 4 == 0,
            "odd": ["1", "07", "x"][i % 3],
            "lst": [1, 2] if i % 5 == 0 else "x",
            "dotted.key": i % 4,
        }
        if i % 7 == 0:
            params["C"] = "abc"
        run_id = metadata.create_run(
            "m" if i % 3 else "other", params=params, dataset_id="d1" if i % 2 else None
        )
        metadata.set_tags(run_id, {"team": teams[i % len(teams)]})
        # the latest value (highest step) counts, not the largest
        metadata.log_metrics(run_id, [Metric("acc", 0.9, 0, 0.0), Metric("acc", (i % 10) / 10, 1, 0.0)])
        metadata.end_run(run_id, RunStatus.FAILED if i % 4 == 1 else RunStatus.FINISHED)
    runs = metadata.list_runs()
    for expr in SEARCHES:
        expected = [r.id for r in filter_runs(runs, expr)]
        assert [r.id for r in search_runs(metadata, expr)] == expected, expr
    expr = "metrics.acc >= 0.5 and params.C = 1"
    expected = [r.id for r in filter_runs(runs, expr)]
    assert len(expected) >= 3
    assert [r.id for r in search_runs(metadata, expr, limit=2)] == expected[:2]
    assert [r.id for r in search_runs(metadata, expr, name="m")] == [
        r.id for r in filter_runs(runs, expr + " and name = m")
    ]


def test_tokens_keep_only_a_hash_are_named_once_and_revoke_at_once(metadata: MetadataStore) -> None:
    secret = ApiToken.new_secret()
    made = metadata.add_token("ana", Role.OPERATOR, ApiToken.digest(secret), actor="admin")
    assert made.role is Role.OPERATOR and made.active and made.created_by == "admin"
    assert metadata.active_tokens() == {ApiToken.digest(secret): made}
    with pytest.raises(ConflictError, match="named 'ana' exists"):
        metadata.add_token("ana", Role.VIEWER, ApiToken.digest(ApiToken.new_secret()), actor="admin")
    metadata.revoke_token("ana", actor="admin", reason="left the team")
    assert metadata.active_tokens() == {}
    assert not metadata.list_tokens()[0].active
    with pytest.raises(NotFoundError, match="no active token named 'ana'"):
        metadata.revoke_token("ana", actor="admin")
    events = metadata.list_events(kinds=["token.created", "token.revoked"])
    assert [e.kind for e in events] == ["token.created", "token.revoked"]
    assert secret not in str([e.payload for e in events])  # the secret is never written anywhere
    assert Role.ADMIN.allows(Role.OPERATOR) and not Role.PREDICTOR.allows(Role.OPERATOR)
