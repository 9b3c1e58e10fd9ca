"""What makes the controller retrain: drift, performance, a schedule, new data."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlfactory.config import ModelConfig, PolicyConfig
from mlfactory.control.stats import as_classes
from mlfactory.entities import PRODUCTION, ModelVersion
from mlfactory.evaluation import compute_metrics

if TYPE_CHECKING:
    from mlfactory.control.controller import Controller


@dataclass(frozen=True)
class Fired:
    """A trigger that fired, with the numbers behind it."""

    kind: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


def _schedule(ctl: Controller, name: str, policy: PolicyConfig, champion: ModelVersion) -> Fired | None:
    every = policy.triggers.schedule
    if every is None:
        return None
    age = time.time() - champion.created_at.timestamp()
    if age < every:
        return None
    return Fired(
        "schedule",
        f"production {champion.ref} is {age / 3600:.1f} h old (schedule {every / 3600:.1f} h)",
        {"age_s": age, "schedule_s": every},
    )


def _new_data(ctl: Controller, name: str, model: ModelConfig, champion: ModelVersion) -> Fired | None:
    newest = ctl.newest_dataset(model.source)
    if not newest.valid or newest.id == champion.lineage.get("dataset"):
        return None
    tried = ctl.project.metadata.list_events(model=name, kinds=["rollout.gated", "rollout.rejected"])
    if any(e.payload.get("dataset") == newest.id for e in tried):
        return None  # a challenger was already trained on it
    return Fired(
        "new_data",
        f"new dataset version {newest.id} (production trained on {champion.lineage.get('dataset')})",
        {"dataset": newest.id},
    )


def _performance(
    ctl: Controller, name: str, model: ModelConfig, policy: PolicyConfig, champion: ModelVersion
) -> Fired | None:
    metric, floor = policy.triggers.performance_metric, policy.triggers.performance_below
    if metric is None or floor is None:
        return None
    rows = ctl.labelled_rows(name, champion.version, route=PRODUCTION).tail(policy.window_rows)
    if len(rows) < min(policy.window_rows, 100):
        return _estimated(ctl, name, metric, floor, champion)
    classes = champion.signature.get("classes")
    y, pred = rows["label"].to_numpy(), rows["prediction"].to_numpy()
    if classes is not None:
        y, pred = as_classes(y, classes), as_classes(pred, classes)
    value = compute_metrics(model.task, y, pred, None, classes, [metric]).get(metric)
    if value is None or value >= floor:
        return None
    return Fired(
        "performance",
        f"realized {metric} {value:.3f} on the last {len(rows)} labelled rows is below {floor}",
        {"metric": metric, "value": value, "threshold": floor, "rows": len(rows)},
    )


def _estimated(ctl: Controller, name: str, metric: str, floor: float, champion: ModelVersion) -> Fired | None:
    """Before labels arrive: the newest monitoring report's label-free estimate of the metric."""
    reports = ctl.project.metadata.list_monitor_reports(
        name, version=champion.version, route=PRODUCTION, limit=1
    )
    metrics = reports[-1]["metrics"] if reports else {}
    value = metrics.get(f"estimated.{metric}")
    if value is None or value >= floor or metrics.get("estimated.reliable") == 0.0:
        return None  # an estimate the report calls unreliable (inputs outside the holdout's) decides nothing
    return Fired(
        "performance",
        f"estimated {metric} {value:.3f} (no labels yet, from the model's calibrated "
        f"scores in monitoring report {reports[-1]['id']}) is below {floor}",
        {
            "metric": metric,
            "value": value,
            "threshold": floor,
            "estimated": True,
            "report": reports[-1]["id"],
        },
    )


def _drift(ctl: Controller, name: str, policy: PolicyConfig, champion: ModelVersion) -> Fired | None:
    k = policy.triggers.drift_windows
    if k is None:
        return None
    streak = ctl.drift_streak(name, champion)
    if len(streak) < k:
        return None
    return Fired(
        "drift",
        f"dataset drift in {len(streak)} consecutive windows "
        f"(drifted columns: {', '.join(streak[-1].get('drifted', []))})",
        {"windows": streak[-k:]},
    )


def check_triggers(ctl: Controller, name: str, model: ModelConfig, champion: ModelVersion) -> list[Fired]:
    """Every trigger of the model's policy that fires now."""
    policy = model.policy
    assert policy is not None
    found = [
        _schedule(ctl, name, policy, champion),
        _new_data(ctl, name, model, champion) if policy.triggers.new_data else None,
        _performance(ctl, name, model, policy, champion),
        _drift(ctl, name, policy, champion),
    ]
    return [f for f in found if f is not None]
