"""A model's rollout as the controller reads it: its state, and what the rollout has learned so far as a
typed value.

The metadata store keeps a rollout's data as JSON (``Rollout.data``); it is converted here, at the store
boundary, and nowhere else. Times are written as ISO 8601 strings; rows written by earlier controllers, whose
times are float epochs, still load.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlfactory.control.plan import CanaryPlan
from mlfactory.control.states import RolloutState
from mlfactory.entities import Rollout

_TIMES = ("retrain_started", "shadow_started", "canary_started", "promoted_at")


def _time(value: object) -> datetime | None:
    """A stored time: an ISO string, or a float epoch as earlier controllers wrote it."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Baseline:
    """What the guard window holds production to after a promotion: the champion's accuracy during the
    canary, or a regressor's compared error (``metric``) there; None where the canary had no evidence."""

    accuracy: float | None = None
    metric: str | None = None
    error: float | None = None


@dataclass(frozen=True)
class RolloutData:
    """What one rollout has recorded so far; every field is unset while idle.

    Attributes:
        triggers: the kinds of the triggers that started the retrain.
        retrain_started: when the controller decided to retrain (its retrain runs in the background).
        retrain_by: the controller (its actor) running the retrain: only that one holds the job, so any
            other controller that finds the rollout retraining knows the retrain was abandoned.
        dataset: the dataset version the challenger was trained on.
        shadow_started: when the challenger started seeing a copy of traffic.
        canary_started: when the challenger started taking a share of traffic.
        plan: the canary's sample-size plan, shown by ``mlfactory controller status``.
        promoted_at: when the challenger was promoted (the guard window starts).
        baseline_accuracy: the champion's accuracy during the canary, which the guard window holds
            production to.
        baseline_metric, baseline_error: a regressor's instead: the compared error (``mae`` or
            ``rmse``) and the champion's value of it during the canary.
    """

    triggers: tuple[str, ...] = ()
    retrain_started: datetime | None = None
    retrain_by: str | None = None
    dataset: str | None = None
    shadow_started: datetime | None = None
    canary_started: datetime | None = None
    plan: CanaryPlan | None = None
    promoted_at: datetime | None = None
    baseline_accuracy: float | None = None
    baseline_metric: str | None = None
    baseline_error: float | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RolloutData:
        """The typed value of a stored ``Rollout.data``; keys it does not know are ignored."""
        baseline = data.get("baseline_accuracy")
        plan = data.get("plan")
        return cls(
            triggers=tuple(str(t) for t in data.get("triggers", ())),
            retrain_started=_time(data.get("retrain_started")),
            retrain_by=None if data.get("retrain_by") is None else str(data["retrain_by"]),
            dataset=None if data.get("dataset") is None else str(data["dataset"]),
            shadow_started=_time(data.get("shadow_started")),
            canary_started=_time(data.get("canary_started")),
            plan=CanaryPlan.from_json(plan) if plan else None,
            promoted_at=_time(data.get("promoted_at")),
            baseline_accuracy=None if baseline is None else float(baseline),
            baseline_metric=None if data.get("baseline_metric") is None else str(data["baseline_metric"]),
            baseline_error=None if data.get("baseline_error") is None else float(data["baseline_error"]),
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON the store keeps: unset fields left out, times as ISO 8601 strings."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None or value == ():
                continue
            if f.name in _TIMES:
                value = value.isoformat()
            elif f.name == "triggers":
                value = list(value)
            elif f.name == "plan":
                value = value.to_json()
            out[f.name] = value
        return out


@dataclass(frozen=True)
class RolloutView:
    """A stored rollout with its state as the enum and its data typed."""

    model: str
    state: RolloutState
    revision: int
    challenger: int | None
    champion: int | None
    data: RolloutData
    paused: bool = False

    @classmethod
    def of(cls, stored: Rollout) -> RolloutView:
        """The typed view of what the metadata store returned."""
        return cls(
            model=stored.model,
            state=RolloutState(stored.state),
            revision=stored.revision,
            challenger=stored.challenger,
            champion=stored.champion,
            data=RolloutData.from_json(stored.data),
            paused=stored.paused,
        )
