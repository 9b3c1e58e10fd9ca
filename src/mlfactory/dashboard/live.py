"""What is live per model, gathered once for the overview and the deployments page (both refresh it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlfactory.entities import PRODUCTION, Event
from mlfactory.project import Project
from mlfactory.project.views import CanaryProgress, RouteTraffic

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


def model_live(project: Project, name: str, *, with_traffic: bool = True) -> ModelLive:
    """Everything live about one registered model (reads the store and, with ``with_traffic``, the last
    hour of the prediction log aggregated by DuckDB)."""
    routes = project.route_table(name)
    managed = name in project.managed_models()
    rollout = project.rollout(name) if managed else None
    last = project.events(model=name, kinds=DECISIONS, limit=1)
    return ModelLive(
        name=name,
        aliases=routes.aliases,
        production=routes.aliases.get(PRODUCTION),
        canary=project.canary_progress(name) if routes.canary is not None else None,
        ab=routes.ab,
        sticky_key=routes.key,
        shadow=routes.shadow,
        traffic_percent=routes.traffic_percent,
        managed=managed,
        state=rollout.state if rollout is not None else None,
        paused=rollout.paused if rollout is not None else False,
        last_decision=last[-1] if last else None,
        traffic=project.traffic(name, seconds=TRAFFIC_WINDOW_S) if with_traffic else [],
    )


def all_live(project: Project, *, with_traffic: bool = True) -> list[ModelLive]:
    """Every registered model, by name."""
    return [model_live(project, n, with_traffic=with_traffic) for n in project.model_names()]
