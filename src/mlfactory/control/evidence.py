"""The evidence the triggers decide on, gathered from the stores once per pass and only as far as the
model's policy needs it (no ingest unless the new-data trigger is on, no log read without a performance
trigger)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

import pandas as pd

from mlfactory.config import ModelConfig
from mlfactory.control.steps.ports import Traffic
from mlfactory.control.triggers import DriftWindow, LatestReport, TriggerInputs
from mlfactory.entities import PRODUCTION, DatasetVersion, ModelVersion
from mlfactory.monitoring import ReportMetrics, drift_streak
from mlfactory.stores.metadata import EventsStore, MetadataStore


class Datasets:
    """The newest dataset version of each source, ingested at most once per pass (a trigger and the retrain
    that follows share it). A retrain asks from its background thread while the pass goes on asking for
    the other models' triggers, so one ingest runs at a time."""

    def __init__(self, ingest: Callable[[str], DatasetVersion]) -> None:
        self._ingest = ingest
        self._newest: dict[str, DatasetVersion] = {}
        self._lock = threading.Lock()

    def newest(self, source: str) -> DatasetVersion:
        """The source's newest version, ingesting it on the first ask of the pass."""
        with self._lock:
            if source not in self._newest:
                self._newest[source] = self._ingest(source)
            return self._newest[source]


def _tried(events: EventsStore, name: str) -> frozenset[str]:
    """Datasets a challenger was already trained on (whether its gates passed or not)."""
    tried = events.list_events(model=name, kinds=["rollout.gated", "rollout.rejected"])
    return frozenset(str(e.payload["dataset"]) for e in tried if e.payload.get("dataset") is not None)


def _labelled(traffic: Traffic, name: str, version: int, rows: int) -> pd.DataFrame:
    """Production's newest ``rows`` labelled rows of ``version``."""
    frame = traffic.with_feedback(name, version=version, route=PRODUCTION, since=None)
    labelled = frame[frame["label"].notna()] if "label" in frame else frame
    return labelled.tail(rows)


def _latest_report(meta: MetadataStore, name: str, version: int) -> LatestReport | None:
    reports = meta.list_monitor_reports(name, version=version, route=PRODUCTION, limit=1)
    if not reports:
        return None
    return LatestReport(reports[-1].id, ReportMetrics.from_flat(reports[-1].metrics))


def _drift(meta: MetadataStore, name: str, version: int) -> tuple[DriftWindow, ...]:
    return tuple(
        DriftWindow(
            report=str(w["report"]),
            created_at=w["created_at"],
            share=w.get("share"),
            drifted=tuple(w.get("drifted", [])),
        )
        for w in drift_streak(meta, name, version)
    )


def gather(
    meta: MetadataStore,
    traffic: Traffic,
    datasets: Datasets,
    *,
    name: str,
    model: ModelConfig,
    champion: ModelVersion,
    now: datetime,
) -> TriggerInputs:
    """What the triggers of ``model``'s policy look at now."""
    policy = model.policy
    assert policy is not None
    on = policy.triggers
    performance = on.performance_metric is not None
    return TriggerInputs(
        name=name,
        task=model.task,
        policy=policy,
        champion=champion,
        now=now,
        newest_dataset=datasets.newest(model.source) if on.new_data else None,
        tried_datasets=_tried(meta, name) if on.new_data else frozenset(),
        labelled=_labelled(traffic, name, champion.version, policy.window_rows) if performance else None,
        report=_latest_report(meta, name, champion.version) if performance else None,
        drift=_drift(meta, name, champion.version) if on.drift_windows is not None else (),
    )
