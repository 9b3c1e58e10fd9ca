"""A run's stored latest metric values, and the reads that load many runs or many histories at once, on
every metadata backend."""

import dataclasses
import random
import threading
from datetime import timedelta

import pytest

from mlfactory.entities import Metric, Run, RunStatus
from mlfactory.errors import ConfigError, ConflictError, NotFoundError
from mlfactory.stores import MetadataStore
from mlfactory.tracking import search_runs

KEYS = ("loss", "acc", "f1")


def _random_batches(rng: random.Random, batches: int) -> list[list[Metric]]:
    """Batches of values at few, often repeated steps, some going back to earlier steps: every kind of tie."""
    return [
        [Metric(rng.choice(KEYS), rng.random(), rng.randrange(6), 0.0) for _ in range(rng.randrange(1, 6))]
        for _ in range(batches)
    ]


def _latest_from_histories(store: MetadataStore, run_id: str) -> dict[str, float]:
    """The latest values by definition: the last of each history (by step, then in logging order)."""
    histories = {k: store.metric_history(run_id, k) for k in KEYS}
    return {k: h[-1].value for k, h in histories.items() if h}


def test_stored_latest_values_are_the_highest_step_then_the_last_logged(metadata: MetadataStore) -> None:
    rng = random.Random(7)
    run_ids = [metadata.create_run("m") for _ in range(20)]
    for run_id in run_ids:
        for batch in _random_batches(rng, rng.randrange(1, 8)):
            metadata.log_metrics(run_id, batch)
    expected = {r: _latest_from_histories(metadata, r) for r in run_ids}
    assert any(len(set(h)) < len(h) for r in run_ids for h in _steps_per_key(metadata, r))  # ties happened
    assert {r: metadata.get_run(r).metrics for r in run_ids} == expected
    assert {r.id: r.metrics for r in metadata.get_runs(run_ids)} == expected
    assert {r.id: r.metrics for r in metadata.list_runs()} == expected
    cut = 0.5
    matching = {r for r, latest in expected.items() if latest.get("acc", -1.0) > cut}
    assert {r.id for r in search_runs(metadata, f"metrics.acc > {cut}")} == matching


def _steps_per_key(store: MetadataStore, run_id: str) -> list[list[int]]:
    return [[m.step for m in store.metric_history(run_id, k)] for k in KEYS]


def test_a_lower_step_logged_later_leaves_the_latest_value(metadata: MetadataStore) -> None:
    run_id = metadata.create_run("m")
    metadata.log_metrics(run_id, [Metric("f1", 0.9, 5, 0.0)])
    metadata.log_metrics(run_id, [Metric("f1", 0.1, 4, 0.0), Metric("loss", 2.0, 0, 0.0)])
    assert metadata.get_run(run_id).metrics == {"f1": 0.9, "loss": 2.0}
    metadata.log_metrics(run_id, [Metric("f1", 0.3, 5, 0.0), Metric("f1", 0.4, 5, 0.0)])
    assert metadata.get_run(run_id).metrics == {"f1": 0.4, "loss": 2.0}
    metadata.log_metrics(run_id, [])
    assert metadata.get_run(run_id).metrics == {"f1": 0.4, "loss": 2.0}


def test_writers_at_once_leave_the_latest_value_of_the_stored_history(metadata: MetadataStore) -> None:
    run_id = metadata.create_run("m")
    failures: list[Exception] = []

    def write(seed: int) -> None:
        try:
            for batch in _random_batches(random.Random(seed), 15):
                metadata.log_metrics(run_id, batch)
        except Exception as exc:  # a writer that fails fails the test, below
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert metadata.get_run(run_id).metrics == _latest_from_histories(metadata, run_id)


def test_runs_sort_by_a_metrics_latest_value_those_without_it_last(metadata: MetadataStore) -> None:
    values = [0.3, None, 0.9, 0.3, 0.1, None, 0.5]  # ties and runs without the metric
    ids = [metadata.create_run("m") for _ in values]
    for run_id, value in zip(ids, values, strict=True):
        metadata.log_metrics(run_id, [Metric("other", 1.0, 0, 0.0)])
        if value is not None:
            metadata.log_metrics(run_id, [Metric("acc", 1.0 - value, 0, 0.0), Metric("acc", value, 1, 0.0)])
    newest = [r.id for r in metadata.list_runs()]
    latest = {i: v for i, v in zip(ids, values, strict=True) if v is not None}
    without = [i for i in newest if i not in latest]
    largest = sorted(
        (i for i in newest if i in latest), key=lambda i: -latest[i]
    )  # stable: ties newest first
    smallest = sorted((i for i in newest if i in latest), key=lambda i: latest[i])
    assert [r.id for r in metadata.list_runs(sort="metrics.acc")] == largest + without
    assert [r.id for r in metadata.list_runs(sort="metrics.acc", descending=False)] == smallest + without
    assert [r.id for r in metadata.list_runs(sort="metrics.acc", offset=2, limit=3)] == largest[2:5]
    found = search_runs(metadata, "metrics.acc > 0.2", sort="metrics.acc", descending=False)
    assert [r.id for r in found] == [i for i in smallest if latest[i] > 0.2]
    with pytest.raises(ConfigError, match="metrics.KEY"):
        metadata.list_runs(sort="metrics.")


def test_get_runs_answers_each_id_in_order_as_get_run_does(metadata: MetadataStore) -> None:
    ids = [metadata.create_run(f"r{i}", params={"i": i}, tags={"t": str(i)}) for i in range(5)]
    for i, run_id in enumerate(ids):
        metadata.log_metrics(run_id, [Metric("acc", i / 10, 0, 0.0), Metric("acc", i / 5, 1, 0.0)])
    metadata.log_artifact(ids[1], "model", "c" * 64)
    asked = [ids[3], ids[0][:12], ids[3], ids[1]]
    runs = metadata.get_runs(asked)
    assert [r.id for r in runs] == [ids[3], ids[0], ids[3], ids[1]]
    assert runs == [metadata.get_run(i) for i in asked]
    assert runs[3].artifacts == {"model": "c" * 64} and runs[0].params == {"i": 3}
    assert runs[0].tags == {"t": "3"} and runs[0].metrics == {"acc": pytest.approx(0.6)}
    assert metadata.get_runs([]) == []
    with pytest.raises(NotFoundError, match="no run 'ffffffff'"):
        metadata.get_runs([ids[0], "ffffffff"])
    with pytest.raises(ConflictError, match="prefix '' matches 5 runs"):
        metadata.get_runs([ids[0], ""])


def test_metric_histories_read_many_series_and_cut_long_ones(metadata: MetadataStore) -> None:
    a, b = metadata.create_run("a"), metadata.create_run("b")
    metadata.log_metrics(a, [Metric("loss", float(s), s, float(s)) for s in range(100)])
    metadata.log_metrics(b, [Metric("loss", float(s), s, 0.0) for s in reversed(range(50))])
    metadata.log_metrics(
        b, [Metric("acc", 0.2, 1, 0.0), Metric("acc", 0.1, 0, 0.0), Metric("acc", 0.3, 1, 0.0)]
    )
    keys = ["loss", "acc", "none"]
    whole = metadata.metric_histories([a, b, "ffffffff"], keys)
    assert whole == {r: {k: metadata.metric_history(r, k) for k in keys} for r in (a, b, "ffffffff")}
    assert [m.value for m in whole[b]["acc"]] == [0.1, 0.2, 0.3]  # by step, then in logging order
    cut = metadata.metric_histories([a, b], ["loss", "acc"], most=10)
    assert [m.step for m in cut[a]["loss"]] == list(range(0, 100, 11))  # every 11th: 99 is 9 * 11
    assert [m.step for m in cut[b]["loss"]] == [*range(0, 50, 6), 49]  # every 6th, and the last
    assert cut[a]["loss"][-1] == Metric("loss", 99.0, 99, 99.0)
    assert cut[b]["acc"] == whole[b]["acc"]  # three values: kept whole
    assert all(len(s) <= 10 for r in cut.values() for s in r.values())
    assert metadata.metric_histories([a], [], most=2) == {a: {}}
    with pytest.raises(ConfigError, match="at least 2 values"):
        metadata.metric_histories([a], ["loss"], most=1)


def test_a_read_run_is_the_run_its_constructor_makes(metadata: MetadataStore) -> None:
    # the SQL store sets a read run's fields as a whole, past the dataclass's __init__: every field, typed
    run_id = metadata.create_run("r", params={"C": 1}, tags={"t": "x"}, environment={"pid": 1})
    metadata.log_metrics(run_id, [Metric("acc", 0.5, 0, 0.0)])
    metadata.log_artifact(run_id, "model", "d" * 64)
    metadata.end_run(run_id, RunStatus.FAILED, error="boom")
    for run in (metadata.get_run(run_id), *metadata.list_runs(), *search_runs(metadata, "params.C = 1")):
        assert set(vars(run)) == {f.name for f in dataclasses.fields(Run)}
        assert run == dataclasses.replace(run)
        assert (run.status, run.error, run.metrics, run.artifacts) == (
            RunStatus.FAILED,
            "boom",
            {"acc": 0.5},
            {"model": "d" * 64},
        )
        assert run.started_at.utcoffset() == run.ended_at.utcoffset() == timedelta(0)  # type: ignore[union-attr]
