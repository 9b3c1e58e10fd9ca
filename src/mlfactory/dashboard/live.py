"""What is live per model, read once per load by the overview and the deployments page (both refresh it):
each model's route table, the controller's rollout of a managed model, and when each running canary
started (the controller's record, else the routing change that set it: :meth:`Project.canary_started`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mlfactory.control.rollout import RolloutView
from mlfactory.control.states import RolloutState
from mlfactory.entities import Event
from mlfactory.project import Project
from mlfactory.project.views import CanaryProgress, RouteTable, RouteTraffic

# the controller's steps and alias moves: what a model's "last decision" means (as `controller status`)
DECISIONS = (
    *(
        f"rollout.{s}"
        for s in ("retraining", "rejected", "failed", "gated", "shadow", "canary", "promoted", "rolled_back")
    ),
    "rollout.idle",
    "controller.error",
    "controller.suppressed",
    "controller.paused",
    "controller.resumed",
    "alias.set",
    "alias.rollback",
    "alias.removed",
)
TRAFFIC_WINDOW_S = 3600.0  # the overview's request rate and latency cover the last hour


@dataclass(frozen=True)
class ModelLive:
    """One model as it serves now: where its aliases point, how traffic is split, what the controller is
    doing with it, and what it answered in the last hour."""

    name: str
    aliases: dict[str, int]
    production: int | None
    canary: CanaryProgress | None
    ab: list[tuple[int, float]]
    sticky_key: str | None
    shadow: int | None
    traffic_percent: dict[str, float]
    managed: bool
    state: str | None
    paused: bool
    last_decision: Event | None
    traffic: list[RouteTraffic] = field(default_factory=list)


@dataclass(frozen=True)
class Routes:
    """Every registered model's routes and rollout, and each running canary's start, as one load reads them.

    Attributes:
        tables: each model's live route table, by name.
        rollouts: the controller's rollout of each managed model.
        starts: when each model's running canary started (None when nothing records it); only models with
            a canary.
    """

    tables: dict[str, RouteTable]
    rollouts: dict[str, RolloutView]
    starts: dict[str, datetime | None]

    @classmethod
    def read(cls, opened: Project) -> Routes:
        """The routes, rollouts and canary starts of every registered model."""
        tables = {n: opened.route_table(n) for n in opened.model_names()}
        managed = set(opened.managed_models())
        rollouts = {n: RolloutView.of(opened.rollout(n)) for n in tables if n in managed}
        starts = {
            n: opened.canary_started(n, t.canary, _recorded(rollouts.get(n), t.canary))
            for n, t in tables.items()
            if t.canary is not None
        }
        return cls(tables, rollouts, starts)

    def state(self, name: str) -> str | None:
        """The controller's state for a managed model (None for one it does not manage)."""
        return self.rollouts[name].state.value if name in self.rollouts else None

    def paused(self, name: str) -> bool:
        """Whether the controller is paused on the model."""
        return self.rollouts[name].paused if name in self.rollouts else False


def _recorded(rollout: RolloutView | None, version: int) -> datetime | None:
    """The controller's record of when the canary of ``version`` started, when it is running that canary."""
    if rollout is None or rollout.state is not RolloutState.CANARY or rollout.challenger != version:
        return None
    return rollout.data.canary_started
