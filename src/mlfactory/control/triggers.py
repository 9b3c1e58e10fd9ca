"""What makes the controller retrain: drift, performance, a schedule, new data.

Each trigger is a pure function of :class:`TriggerInputs`, the evidence the controller gathers once per pass
(:mod:`mlfactory.control.evidence`); none reads a store, so each is tested with plain values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from mlfactory.config import LOWER_IS_BETTER, PolicyConfig
from mlfactory.control.stats import as_classes
from mlfactory.entities import DatasetVersion, ModelVersion
from mlfactory.evaluation import compute_metrics
from mlfactory.monitoring import ReportMetrics

# below this many labelled rows the realized metric is too noisy; the label-free estimate decides
MIN_LABELLED_ROWS = 100


@dataclass(frozen=True)
class Fired:
    """A trigger that fired, with the numbers behind it."""

    kind: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LatestReport:
    """The newest monitoring report of production: its id and its metrics."""

    id: str
    metrics: ReportMetrics


@dataclass(frozen=True)
class DriftWindow:
    """One stored monitoring window of production that showed dataset drift."""

    report: str
    created_at: object
    share: float | None
    drifted: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "drifted": list(self.drifted)}


@dataclass(frozen=True, eq=False)
class TriggerInputs:
    """Everything the triggers look at, gathered once per pass.

    Attributes:
        name: the model.
        task: ``classification`` or ``regression``.
        policy: the model's policy (which triggers are on, and their thresholds).
        champion: the production version.
        now: the pass's time.
        newest_dataset: the newest version of the model's source (only when the new-data trigger is on).
        tried_datasets: datasets a challenger was already trained on (gated or rejected).
        labelled: production's newest labelled rows (``prediction`` and ``label`` columns).
        report: the newest monitoring report of the champion in production.
        drift: the newest consecutive drifted windows of production, oldest first.
    """

    name: str
    task: str
    policy: PolicyConfig
    champion: ModelVersion
    now: datetime
    newest_dataset: DatasetVersion | None = None
    tried_datasets: frozenset[str] = frozenset()
    labelled: pd.DataFrame | None = None
    report: LatestReport | None = None
    drift: tuple[DriftWindow, ...] = ()


def schedule(i: TriggerInputs) -> Fired | None:
    """Fires when production is older than the policy's schedule."""
    every = i.policy.triggers.schedule
    if every is None:
        return None
    age = (i.now - i.champion.created_at).total_seconds()
    if age < every:
        return None
    return Fired(
        "schedule",
        f"production {i.champion.ref} is {age / 3600:.1f} h old (schedule {every / 3600:.1f} h)",
        {"age_s": age, "schedule_s": every},
    )


def new_data(i: TriggerInputs) -> Fired | None:
    """Fires on a valid dataset version production was not trained on and no challenger was tried on."""
    newest = i.newest_dataset
    if not i.policy.triggers.new_data or newest is None:
        return None
    trained_on = i.champion.lineage.dataset
    if not newest.valid or newest.id == trained_on or newest.id in i.tried_datasets:
        return None
    return Fired(
        "new_data",
        f"new dataset version {newest.id} (production trained on {trained_on})",
        {"dataset": newest.id},
    )


def worse_than(metric: str, value: float, bound: float) -> bool:
    """Whether ``value`` is past the trigger's bound: below it, or above it for an error metric (``mae``,
    ``rmse``, ``log_loss``: ``performance_below`` is then the most error allowed)."""
    return value > bound if metric in LOWER_IS_BETTER else value < bound


def _past(metric: str) -> str:
    return "above" if metric in LOWER_IS_BETTER else "below"


def performance(i: TriggerInputs) -> Fired | None:
    """Fires when production's realized metric on its newest labelled rows is past the bound (below it;
    above it for an error metric such as a regressor's ``rmse``); before enough labels, when the newest
    report's label-free estimate is (see :func:`estimated`; a regressor has none)."""
    metric, floor = i.policy.triggers.performance_metric, i.policy.triggers.performance_below
    if metric is None or floor is None:
        return None
    rows = i.labelled if i.labelled is not None else pd.DataFrame(columns=["prediction", "label"])
    if len(rows) < min(i.policy.window_rows, MIN_LABELLED_ROWS):
        return estimated(i.report, metric, floor)
    classes = i.champion.signature.classes
    y, pred = rows["label"].to_numpy(), rows["prediction"].to_numpy()
    if classes is not None:
        y, pred = as_classes(y, classes), as_classes(pred, classes)
    else:  # a regressor: the log and the feedback may carry numbers as text or objects
        y, pred = (pd.to_numeric(pd.Series(v), errors="coerce").to_numpy(float) for v in (y, pred))
        y, pred = y[np.isfinite(y) & np.isfinite(pred)], pred[np.isfinite(y) & np.isfinite(pred)]
    value = compute_metrics(i.task, y, pred, None, classes, [metric]).get(metric)
    if value is None or not worse_than(metric, value, floor):
        return None
    return Fired(
        "performance",
        f"realized {metric} {value:.3f} on the last {len(rows)} labelled rows is {_past(metric)} {floor}",
        {"metric": metric, "value": value, "threshold": floor, "rows": len(rows)},
    )


def estimated(report: LatestReport | None, metric: str, floor: float) -> Fired | None:
    """Before labels arrive: the newest monitoring report's label-free estimate of the metric."""
    if report is None:
        return None
    value = report.metrics.estimated(metric)
    if value is None or not worse_than(metric, value, floor) or report.metrics.estimate_reliable is False:
        return None  # an estimate the report calls unreliable (inputs outside the holdout's) decides nothing
    return Fired(
        "performance",
        f"estimated {metric} {value:.3f} (no labels yet, from the model's calibrated "
        f"scores in monitoring report {report.id}) is {_past(metric)} {floor}",
        {"metric": metric, "value": value, "threshold": floor, "estimated": True, "report": report.id},
    )


def drift(i: TriggerInputs) -> Fired | None:
    """Fires when the newest ``drift_windows`` monitoring windows in a row showed dataset drift."""
    k = i.policy.triggers.drift_windows
    if k is None or len(i.drift) < k:
        return None
    return Fired(
        "drift",
        f"dataset drift in {len(i.drift)} consecutive windows "
        f"(drifted columns: {', '.join(i.drift[-1].drifted)})",
        {"windows": [w.to_json() for w in i.drift[-k:]]},
    )


TRIGGERS: tuple[Callable[[TriggerInputs], Fired | None], ...] = (schedule, new_data, performance, drift)


def check_triggers(inputs: TriggerInputs) -> list[Fired]:
    """Every trigger of the model's policy that fires on ``inputs``, in a fixed order."""
    return [f for f in (trigger(inputs) for trigger in TRIGGERS) if f is not None]
