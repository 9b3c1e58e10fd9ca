"""The triggers are pure functions of the evidence: each fires, or not, with the numbers in its reason."""

from datetime import timedelta
from typing import Any

import pytest

from mlfactory.control.triggers import (
    DriftWindow,
    LatestReport,
    TriggerInputs,
    check_triggers,
    drift,
    estimated,
    new_data,
    performance,
    schedule,
)
from mlfactory.entities import DatasetVersion
from mlfactory.monitoring import ReportMetrics
from unit.control.fakes import T0, policy, rows, version


def inputs(triggers: dict[str, Any], hours: float = 1.0, **evidence: Any) -> TriggerInputs:
    return TriggerInputs(
        name="spam",
        task="classification",
        policy=policy(triggers=triggers, window_rows=100),
        champion=version(1, dataset="emails@1", created=T0),
        now=T0 + timedelta(hours=hours),
        **evidence,
    )


def dataset(id: str, *, valid: bool = True) -> DatasetVersion:
    return DatasetVersion(
        id=id,
        source="emails",
        version=2,
        content_hash="h",
        artifact="a",
        n_rows=10,
        schema={},
        profile={},
        validation={},
        valid=valid,
        created_at=T0,
    )


def report(**metrics: float) -> LatestReport:
    return LatestReport("r7", ReportMetrics.from_flat(metrics))


def test_schedule_fires_once_production_is_older_than_it() -> None:
    fired = schedule(inputs({"schedule": "24h"}, hours=25))
    assert fired is not None and fired.kind == "schedule"
    assert fired.reason == "production spam/1 is 25.0 h old (schedule 24.0 h)"
    assert fired.details == {"age_s": 25 * 3600.0, "schedule_s": 24 * 3600.0}
    assert schedule(inputs({"schedule": "24h"}, hours=23)) is None
    assert schedule(inputs({}, hours=1000)) is None  # no schedule in the policy


def test_new_data_fires_on_a_valid_dataset_nobody_trained_on() -> None:
    on = {"new_data": True}
    fired = new_data(inputs(on, newest_dataset=dataset("emails@2")))
    assert fired is not None
    assert fired.reason == "new dataset version emails@2 (production trained on emails@1)"
    assert fired.details == {"dataset": "emails@2"}
    assert new_data(inputs(on, newest_dataset=dataset("emails@1"))) is None  # production's own
    assert new_data(inputs(on, newest_dataset=dataset("emails@2", valid=False))) is None
    tried = frozenset({"emails@2"})  # a challenger was already trained on it
    assert new_data(inputs(on, newest_dataset=dataset("emails@2"), tried_datasets=tried)) is None
    assert new_data(inputs({}, newest_dataset=dataset("emails@2"))) is None  # trigger off


def test_performance_fires_on_the_realized_metric_below_its_floor() -> None:
    on = {"performance_metric": "accuracy", "performance_below": 0.9}
    fired = performance(inputs(on, labelled=rows(100, correct=80)))
    assert fired is not None and fired.kind == "performance"
    assert fired.reason == "realized accuracy 0.800 on the last 100 labelled rows is below 0.9"
    assert fired.details == {"metric": "accuracy", "value": 0.8, "threshold": 0.9, "rows": 100}
    assert performance(inputs(on, labelled=rows(100, correct=95))) is None
    # labels decide over an estimate when there are enough of them
    assert (
        performance(inputs(on, labelled=rows(100, correct=95), report=report(**{"estimated.accuracy": 0.5})))
        is None
    )
    assert performance(inputs({}, labelled=rows(100, correct=0))) is None  # trigger off


def test_before_labels_a_low_estimate_fires_only_when_the_report_calls_it_reliable() -> None:
    on = {"performance_metric": "accuracy", "performance_below": 0.9}
    few = rows(20, correct=0)  # too few labelled rows to measure: the estimate decides
    fired = performance(
        inputs(on, labelled=few, report=report(**{"estimated.accuracy": 0.7, "estimated.reliable": 1.0}))
    )
    assert fired is not None and fired.details["estimated"] is True and fired.details["report"] == "r7"
    assert "estimated accuracy 0.700" in fired.reason and "monitoring report r7" in fired.reason
    low = {"estimated.accuracy": 0.7}
    assert estimated(report(**low, **{"estimated.reliable": 0.0}), "accuracy", 0.9) is None
    assert estimated(report(**low), "accuracy", 0.9) is not None  # older reports say nothing on reliability
    assert estimated(report(**{"estimated.accuracy": 0.95}), "accuracy", 0.9) is None
    assert estimated(None, "accuracy", 0.9) is None  # no report yet


def test_drift_fires_after_enough_drifted_windows_in_a_row() -> None:
    windows = tuple(DriftWindow(f"r{i}", T0, 0.5, ("subject", "length")) for i in range(3))
    fired = drift(inputs({"drift_windows": 2}, drift=windows))
    assert fired is not None
    assert fired.reason == "dataset drift in 3 consecutive windows (drifted columns: subject, length)"
    assert [w["report"] for w in fired.details["windows"]] == ["r1", "r2"]  # the newest k
    assert fired.details["windows"][0]["drifted"] == ["subject", "length"]
    assert drift(inputs({"drift_windows": 4}, drift=windows)) is None
    assert drift(inputs({}, drift=windows)) is None


def test_check_triggers_returns_every_fired_trigger_in_order() -> None:
    windows = tuple(DriftWindow(f"r{i}", T0, 0.5, ("subject",)) for i in range(2))
    evidence = inputs({"schedule": "1h", "drift_windows": 2}, hours=2, drift=windows)
    assert [f.kind for f in check_triggers(evidence)] == ["schedule", "drift"]
    assert check_triggers(inputs({"schedule": "1h"}, hours=0.5)) == []


def test_performance_counts_labels_of_a_class_the_model_does_not_know_as_misses() -> None:
    """A binary model's F1 on feedback with a new class: its rows called the second class are wrong."""
    labelled = rows(100, correct=90)  # 90 labels 1, then 10 labels 0
    labelled.loc[:19, "label"] = 2  # a class production never predicts
    on = {"performance_metric": "f1", "performance_below": 0.9}
    fired = performance(inputs(on, labelled=labelled))
    precision, recall = 0.7, 1.0  # 20 of its 100 calls of class 1 are of the new class
    assert fired is not None
    assert fired.details["value"] == pytest.approx(2 * precision * recall / (precision + recall))
    accuracy = performance(inputs({**on, "performance_metric": "accuracy"}, labelled=labelled))
    assert accuracy is not None and accuracy.details["value"] == 0.7
