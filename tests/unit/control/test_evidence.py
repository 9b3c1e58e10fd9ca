"""The triggers' evidence is gathered from the stores only as far as the policy needs it."""

from datetime import UTC, datetime
from typing import Any

import pytest

from mlfactory.control.evidence import Datasets, gather
from mlfactory.entities import PRODUCTION, DatasetVersion
from mlfactory.stores import MetadataStore
from unit.control.fakes import MODEL, T0, Traffic, World, rows, version


def model(**policy: Any) -> Any:
    from mlfactory.config import ModelConfig

    return ModelConfig.model_validate(
        {"source": "emails", "label": "spam", "features": {"numeric": ["length"]}, "policy": policy}
    )


def never(source: str) -> DatasetVersion:
    raise AssertionError(f"'{source}' was ingested though no trigger needs it")


def report(store: MetadataStore, *, drifted: bool, **metrics: float) -> str:
    return store.add_monitor_report(
        model=MODEL,
        version=1,
        route=PRODUCTION,
        window_start=None,
        window_end=datetime.now(UTC),
        rows=100,
        status="drift" if drifted else "ok",
        metrics={"drift.dataset": float(drifted), "drift.share": 0.5 if drifted else 0.0, **metrics},
        report={"drift": {"columns": ["subject"] if drifted else []}},
        actor="test",
    )


def test_a_policy_without_triggers_reads_nothing(world: World) -> None:
    inputs = gather(
        world.store, Traffic(), Datasets(never), name=MODEL, model=model(), champion=version(1), now=T0
    )
    assert inputs.newest_dataset is None and inputs.labelled is None
    assert inputs.report is None and inputs.drift == () and inputs.tried_datasets == frozenset()
    assert inputs.now == T0 and inputs.champion.version == 1


def test_the_new_data_trigger_ingests_once_per_pass_and_knows_what_was_tried(world: World) -> None:
    ingested: list[str] = []

    def ingest(source: str) -> DatasetVersion:
        ingested.append(source)
        return DatasetVersion("emails@2", source, 2, "h", "a", 10, {}, {}, {}, True, T0)

    world.store.add_event("rollout.rejected", actor="test", model=MODEL, payload={"dataset": "emails@1"})
    datasets = Datasets(ingest)
    inputs = gather(
        world.store,
        Traffic(),
        datasets,
        name=MODEL,
        model=model(triggers={"new_data": True}),
        champion=version(1),
        now=T0,
    )
    assert inputs.newest_dataset is not None and inputs.newest_dataset.id == "emails@2"
    assert inputs.tried_datasets == frozenset({"emails@1"})
    assert datasets.newest("emails").id == "emails@2" and ingested == ["emails"]  # the retrain shares it


def test_the_performance_trigger_reads_labelled_rows_and_the_newest_report(world: World) -> None:
    traffic = Traffic()
    traffic.frames[(1, PRODUCTION)] = rows(300, labelled=200)
    report(world.store, drifted=False, **{"estimated.accuracy": 0.5})
    newest = report(world.store, drifted=False, **{"estimated.accuracy": 0.7})
    policy = {"triggers": {"performance_metric": "accuracy", "performance_below": 0.9}, "window_rows": 150}
    inputs = gather(
        world.store, traffic, Datasets(never), name=MODEL, model=model(**policy), champion=version(1), now=T0
    )
    assert inputs.labelled is not None and len(inputs.labelled) == 150  # the newest window of labelled rows
    assert inputs.labelled["label"].notna().all()
    assert inputs.report is not None and inputs.report.id == newest
    assert inputs.report.metrics.estimated("accuracy") == 0.7


@pytest.mark.parametrize(("flags", "streak"), [([True, True], 2), ([True, False, True], 1), ([False], 0)])
def test_the_drift_trigger_reads_the_newest_streak_of_drifted_windows(
    world: World, flags: list[bool], streak: int
) -> None:
    for drifted in flags:
        report(world.store, drifted=drifted)
    inputs = gather(
        world.store,
        Traffic(),
        Datasets(never),
        name=MODEL,
        model=model(triggers={"drift_windows": 2}),
        champion=version(1),
        now=T0,
    )
    assert len(inputs.drift) == streak
    assert all(w.drifted == ("subject",) and w.share == 0.5 for w in inputs.drift)
