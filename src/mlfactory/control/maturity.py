"""Where a project stands on the MLOps maturity scale, from what is configured and what has happened.

0  manual: models are trained and deployed by hand, or not tracked
1  automated, tracked training: runs record params, metrics, environment and the dataset version used
2  gated, versioned deployment: quality gates, a production alias, and a canary or A/B rollout
3  the loop closes itself: a running controller retrained, promoted and can roll back automatically
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlfactory.entities import PRODUCTION, RunClause

if TYPE_CHECKING:
    from mlfactory.project import Project

RUNNING_WINDOW = 3  # a controller acted within this many intervals: it is running
THRESHOLDS = {1: 2, 2: 5, 3: 9}  # how many of the steps, from the first, each level needs
TRACKED_LOOKBACK = 20  # the newest runs with a dataset version searched for a recorded environment


@dataclass(frozen=True)
class Maturity:
    level: int
    evidence: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # what the next level needs


def _tracked(project: Project) -> bool:
    """Whether one of the newest runs that used a dataset version also recorded its Python environment."""
    meta = project.metadata
    with_dataset = meta.find_runs([RunClause("dataset", None, "!=", "")], limit=TRACKED_LOOKBACK)
    return any(r.environment.get("python") for r in with_dataset)


def _controller_running(project: Project) -> bool:
    """Whether a controller held a model's lease within the last few intervals."""
    interval = project.config.controller.interval
    leases = (r.lease_until.timestamp() for r in project.metadata.list_rollouts() if r.lease_until)
    last_tick = max(leases, default=None)
    return last_tick is not None and time.time() - last_tick < max(RUNNING_WINDOW * interval, 600)


def _checks(project: Project) -> list[tuple[str, Callable[[], bool]]]:
    """The steps of the scale in order, each with the bounded read that decides it."""
    meta, config = project.metadata, project.config
    staged = ["to.canary", "to.ab"]
    automatic = ("rollout.retraining", "rollout.promoted", "rollout.rolled_back")

    def by_controller() -> set[str]:
        return meta.kinds_seen(automatic, actor_prefix="controller:")

    return [
        ("training runs are tracked with their dataset version and environment", lambda: _tracked(project)),
        ("registered versions carry lineage to a run and a dataset", meta.any_version_with_lineage),
        ("quality gates are declared for a model", lambda: any(m.gates for m in config.models.values())),
        ("a model has a production alias", lambda: any(a == PRODUCTION for _, a in meta.get_aliases())),
        (
            "a version went live through a canary or an A/B split",
            lambda: bool(meta.kinds_seen(["routing.set"], payload_set=staged)),
        ),
        (
            "a controller policy is configured for a model",
            lambda: any(m.policy is not None for m in config.models.values()),
        ),
        (
            "a controller is running (`mlfactory controller run`, or `tick` from cron)",
            lambda: _controller_running(project),
        ),
        ("the controller retrained a model by itself", lambda: "rollout.retraining" in by_controller()),
        (
            "the controller promoted or rolled back a version by itself",
            lambda: bool({"rollout.promoted", "rollout.rolled_back"} & by_controller()),
        ),
    ]


def assess(project: Project) -> Maturity:
    """The level the project has reached, the evidence for it, and what the next level lacks.

    Each step is read only when the answer needs it (the steps up to the first one missing, then up to
    the next level's), and every read is bounded: existence tests answered by the stores and the newest few
    runs, never a whole table or a metric history.
    """
    checks = _checks(project)
    results: list[bool] = []
    for _, check in checks:  # the level is the unbroken run of steps from the first
        results.append(check())
        if not results[-1]:
            break
    done = sum(results)
    level = max([lvl for lvl, need in THRESHOLDS.items() if done >= need], default=0)
    nxt = THRESHOLDS.get(level + 1)
    results += [check() for _, check in checks[len(results) : nxt or 0]]
    evidence = [text for text, _ in checks[:done]]
    missing = [text for (text, _), ok in zip(checks[: nxt or 0], results, strict=False) if not ok]
    return Maturity(level, evidence, missing)
