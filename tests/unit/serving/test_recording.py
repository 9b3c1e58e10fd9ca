"""Answered rows are recorded in one place, once per group, whether a routed version or the shadow answered;
failed rows become one event per version and route."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from mlfactory.config import ServerConfig
from mlfactory.inputs import Batch, Records
from mlfactory.serving import RoutingPolicy, ServingRuntime
from mlfactory.serving.prepare import Preparer
from mlfactory.serving.recording import Answered, FailureTally, Recorder
from mlfactory.serving.router import build_table
from mlfactory.serving.served import ModelFailedError
from mlfactory.serving.shadow import ShadowJob, ShadowScorer
from unit.serving.fakes import FakeLog, FakeMetadata, FakeServed


def _batch(n: int) -> Batch:
    return Batch(["x", "y"], matrix=np.ones((n, 2)))


def _rows(n: int) -> Records:
    return Records([{"x": i, "y": 1.0} for i in range(n)])


def test_record_appends_once_and_tells_every_observer() -> None:
    log = FakeLog()
    recorder = Recorder(log)  # type: ignore[arg-type]
    seen: list[tuple[str, int, str, int]] = []
    recorder.observers.append(lambda *a: seen.append(a))
    batch = _batch(3)
    recorder.record(Answered("spam", 2, "canary", 100.0, 1.5, ["a", "b", "c"], batch, np.zeros(3), None))
    assert len(log.appends) == 1
    row = log.appends[0]
    assert (row["model"], row["version"], row["route"], row["time"]) == ("spam", 2, "canary", 100.0)
    assert row["request_ids"] == ["a", "b", "c"] and row["batch"] is batch
    assert seen == [("spam", 2, "canary", 3)]


def test_without_a_log_observers_still_count() -> None:
    recorder = Recorder(None)
    seen: list[Any] = []
    recorder.observers.append(lambda *a: seen.append(a))
    recorder.record(Answered("spam", 1, "production", 0.0, 0.0, ["a"], _batch(1), np.zeros(1), None))
    assert seen == [("spam", 1, "production", 1)]


def test_failed_rows_flush_as_one_event_per_version_and_route() -> None:
    meta = FakeMetadata()
    tally = FailureTally(meta, "server")  # type: ignore[arg-type]
    tally.add("spam", 2, "canary", 3)
    tally.add("spam", 2, "canary", 4)
    tally.add("spam", 1, "production", 1)
    tally.flush()
    assert [(e["kind"], e["payload"]) for e in meta.events] == [
        ("serving.predict_failed", {"version": 1, "route": "production", "rows": 1}),
        ("serving.predict_failed", {"version": 2, "route": "canary", "rows": 7}),
    ]
    tally.flush()  # counted once: nothing left to record
    assert len(meta.events) == 2


def _scorer(log: FakeLog, queue: int = 4) -> ShadowScorer:
    return ShadowScorer(Preparer(None, 100), Recorder(log), queue)  # type: ignore[arg-type]


def test_shadow_reuses_the_checked_rows_and_records_once() -> None:
    log = FakeLog()
    scorer, shadow, primary = _scorer(log), FakeServed(9), FakeServed(1)
    full = _batch(2)
    asyncio.run(scorer.score(shadow, ShadowJob(_rows(2), primary, full, ["r0", "r1"], 5.0)))  # type: ignore[arg-type]
    assert shadow.calls == [2]
    assert len(log.appends) == 1
    row = log.appends[0]
    assert (row["version"], row["route"], row["request_ids"], row["batch"]) == (
        9,
        "shadow",
        ["r0", "r1"],
        full,
    )


def test_a_failing_shadow_is_counted_never_recorded_and_a_full_queue_skips() -> None:
    log = FakeLog()
    scorer = _scorer(log, queue=0)
    job = ShadowJob(_rows(1), FakeServed(1), None, ["r0"], 0.0)  # type: ignore[arg-type]
    asyncio.run(scorer.score(FakeServed(9, fails=True), job))  # type: ignore[arg-type]
    assert (scorer.failed, log.appends) == (1, [])

    async def start() -> None:
        scorer.start(FakeServed(9), job)  # type: ignore[arg-type]

    asyncio.run(start())
    assert scorer.skipped == 1 and log.appends == []


def _runtime(
    log: FakeLog, *served: FakeServed, policy: RoutingPolicy, shadow: FakeServed | None = None
) -> Any:
    registry = SimpleNamespace(metadata=FakeMetadata())
    rt = ServingRuntime(registry, ServerConfig(), log, seed=0)  # type: ignore[arg-type]
    by_number = {sv.number: sv for sv in served}
    rt.tables = {"spam": build_table("spam", policy, 1, by_number, shadow, revision=7)}  # type: ignore[arg-type]
    return rt


def test_a_routed_request_is_recorded_once_per_group_and_once_for_the_shadow() -> None:
    log = FakeLog()
    production, canary, shadow = FakeServed(1), FakeServed(2), FakeServed(3)
    rt = _runtime(log, production, canary, policy=RoutingPolicy(canary=2, canary_weight=50), shadow=shadow)
    seen: list[Any] = []
    rt.observers.append(lambda *a: seen.append(a))

    async def run() -> Any:
        result = await rt.predict("spam", _rows(40))
        await rt.drain()
        return result

    result = asyncio.run(run())
    routes = sorted(a["route"] for a in log.appends)
    assert routes == ["canary", "production", "shadow"]
    rows = {a["route"]: len(a["request_ids"]) for a in log.appends}
    assert rows["canary"] + rows["production"] == 40 and rows["shadow"] == 40
    assert sorted(s[2] for s in seen) == routes  # the metrics saw exactly what the log got
    assert result.route_revision == 7
    assert set(result.predictions.tolist()) == {10.0, 20.0}
    by_id = dict(zip(result.request_ids, result.versions.tolist(), strict=True))
    canary_ids = next(a["request_ids"] for a in log.appends if a["route"] == "canary")
    assert {by_id[i] for i in canary_ids} == {2}


def test_a_failing_version_counts_its_rows_and_records_nothing() -> None:
    log = FakeLog()
    rt = _runtime(log, FakeServed(1, fails=True), policy=RoutingPolicy())
    with pytest.raises(ModelFailedError):
        asyncio.run(rt.predict("spam", _rows(3)))
    assert log.appends == []
    rt.flush_failures()
    assert [e["payload"] for e in rt.metadata.events] == [{"version": 1, "route": "production", "rows": 3}]
