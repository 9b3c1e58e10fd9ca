"""A run's latest value of a key, as every metadata backend keeps it: the highest step, of equal steps the
latest timestamp, of equal timestamps the last logged; NaN kept as NaN; and what the lists, filters and
orders read is that value, not the history."""

import math
import random
import threading

from mlfactory.entities import Metric
from mlfactory.stores import MetadataStore
from mlfactory.tracking import search_runs


def _rule(history: list[Metric]) -> float:
    """The latest value by definition, computed from a history in logging order."""
    best = history[0]
    for m in history[1:]:
        if (m.step, m.timestamp) >= (best.step, best.timestamp):
            best = m
    return best.value


def test_an_equal_step_with_a_later_timestamp_wins_and_an_earlier_one_loses(metadata: MetadataStore) -> None:
    run_id = metadata.create_run("m")
    metadata.log_metrics(run_id, [Metric("f1", 0.5, 3, 10.0)])
    metadata.log_metrics(run_id, [Metric("f1", 0.1, 3, 5.0)])  # same step, measured earlier: not latest
    assert metadata.get_run(run_id).metrics == {"f1": 0.5}
    metadata.log_metrics(run_id, [Metric("f1", 0.7, 3, 11.0), Metric("f1", 0.2, 3, 10.5)])  # within a batch
    assert metadata.get_run(run_id).metrics == {"f1": 0.7}
    metadata.log_metrics(run_id, [Metric("f1", 0.8, 3, 11.0)])  # equal step and time: the last logged
    assert metadata.get_run(run_id).metrics == {"f1": 0.8}
    metadata.log_metrics(run_id, [Metric("f1", 0.3, 2, 99.0)])  # a lower step, however late: not latest
    assert metadata.get_run(run_id).metrics == {"f1": 0.8}
    history = metadata.metric_history(run_id, "f1")
    assert [(m.step, m.timestamp) for m in history] == sorted((m.step, m.timestamp) for m in history)
    assert history[-1].value == 0.8  # a history ends with the latest value


def test_random_out_of_order_logging_keeps_the_rule_for_every_read(metadata: MetadataStore) -> None:
    rng = random.Random(11)
    logged: dict[str, dict[str, list[Metric]]] = {}
    for _ in range(12):
        run_id = metadata.create_run("m")
        logged[run_id] = {}
        for _ in range(rng.randrange(1, 8)):
            batch = [
                Metric(rng.choice("abc"), rng.random(), rng.randrange(4), float(rng.randrange(3)))
                for _ in range(rng.randrange(1, 6))
            ]
            metadata.log_metrics(run_id, batch)
            for m in batch:
                logged[run_id].setdefault(m.key, []).append(m)
    expected = {r: {k: _rule(h) for k, h in keys.items()} for r, keys in logged.items()}
    assert {r.id: r.metrics for r in metadata.list_runs()} == expected
    assert {r.id: r.metrics for r in metadata.get_runs(list(expected))} == expected
    matching = {r for r, latest in expected.items() if latest.get("a", -1.0) > 0.5}
    assert {r.id for r in search_runs(metadata, "metrics.a > 0.5")} == matching
    having = [r for r in expected if "a" in expected[r]]
    ordered = [r.id for r in metadata.list_runs(sort="metrics.a", descending=False)]
    assert ordered[: len(having)] == sorted(having, key=lambda r: expected[r]["a"])


def test_concurrent_writers_with_timestamps_leave_the_rules_value(metadata: MetadataStore) -> None:
    run_id = metadata.create_run("m")
    failures: list[Exception] = []

    def write(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(15):
                batch = [
                    Metric("k", rng.random(), rng.randrange(3), float(rng.randrange(3))) for _ in range(3)
                ]
                metadata.log_metrics(run_id, batch)
        except Exception as exc:  # a writer that fails fails the test, below
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    history = metadata.metric_history(run_id, "k")
    assert len(history) == 4 * 15 * 3
    # the stored history's order is the logging order among equal (step, timestamp): its last is the latest
    assert metadata.get_run(run_id).metrics == {"k": history[-1].value}
    top = max((m.step, m.timestamp) for m in history)
    assert (history[-1].step, history[-1].timestamp) == top


def test_nan_is_kept_compares_unequal_and_sorts_after_numbers(metadata: MetadataStore) -> None:
    nan_run, low, high, without = (metadata.create_run("m") for _ in range(4))
    metadata.log_metrics(nan_run, [Metric("acc", 0.9, 0, 1.0), Metric("acc", math.nan, 1, 1.0)])
    metadata.log_metrics(low, [Metric("acc", math.nan, 0, 1.0), Metric("acc", 0.2, 1, 1.0)])
    metadata.log_metrics(high, [Metric("acc", 0.8, 0, 1.0)])
    metadata.log_metrics(without, [Metric("loss", 1.0, 0, 1.0)])

    assert math.isnan(metadata.get_run(nan_run).metrics["acc"])
    assert metadata.get_run(low).metrics == {"acc": 0.2}  # a NaN at an earlier step is not latest
    history = metadata.metric_history(nan_run, "acc")
    assert history[0].value == 0.9 and math.isnan(history[1].value)
    assert {r.id for r in search_runs(metadata, "metrics.acc > 0.1")} == {low, high}
    assert {r.id for r in search_runs(metadata, "metrics.acc < 0.5")} == {low}
    assert {r.id for r in search_runs(metadata, "metrics.acc != 0.8")} == {nan_run, low}
    assert {r.id for r in search_runs(metadata, "metrics.acc = nan")} == set()
    for descending, numbers in ((True, [high, low]), (False, [low, high])):
        ordered = [r.id for r in metadata.list_runs(sort="metrics.acc", descending=descending)]
        assert ordered == [*numbers, nan_run, without]
    metadata.log_metrics(nan_run, [Metric("acc", 0.4, 2, 1.0)])  # a later number replaces the NaN
    assert metadata.get_run(nan_run).metrics == {"acc": 0.4}


def test_a_batch_is_stored_exactly_as_logged(metadata: MetadataStore) -> None:
    """Every value of a large batch comes back bit for bit (17 significant digits, the extremes, infinities,
    integers given as values), with its step and timestamp, in logging order."""
    rng = random.Random(7)
    extremes = [math.inf, -math.inf, 5e-324, 1.7976931348623157e308, 0.1 + 0.2, 1 / 3]
    values = [*extremes, *(rng.uniform(-1e6, 1e6) for _ in range(2_000))]
    batch = [Metric(f"k{i % 3}", v, i // 3, 1_700_000_000.123456 + i) for i, v in enumerate(values)]
    batch.append(Metric("k0", 3, 10_000, 2_000_000_000.5))  # an int value: stored as a float
    run_id = metadata.create_run("m")
    metadata.log_metrics(run_id, batch)
    histories = metadata.metric_histories([run_id], ["k0", "k1", "k2"])[run_id]
    for key, history in histories.items():
        logged = [m for m in batch if m.key == key]
        assert [(m.step, m.timestamp) for m in history] == [(m.step, m.timestamp) for m in logged]
        assert [m.value for m in history] == [float(m.value) for m in logged]
    assert metadata.get_run(run_id).metrics == {"k0": 3.0, "k1": batch[-2].value, "k2": batch[-4].value}
