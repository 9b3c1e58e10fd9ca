"""Where a project stands on the MLOps maturity scale, from what is configured and what has happened.

0  manual: models are trained and deployed by hand, or not tracked
1  automated, tracked training: runs record params, metrics, environment and the dataset version used
2  gated, versioned deployment: quality gates, a production alias, and a canary or A/B rollout
3  the loop closes itself: a running controller retrained, promoted and can roll back automatically
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlfactory.entities import PRODUCTION

if TYPE_CHECKING:
    from mlfactory.project import Project

RUNNING_WINDOW = 3  # a controller acted within this many intervals: it is running


@dataclass(frozen=True)
class Maturity:
    level: int
    evidence: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # what the next level needs


def assess(project: Project) -> Maturity:
    """The level the project has reached, the evidence for it, and what the next level lacks."""
    meta, config = project.metadata, project.config
    runs = meta.list_runs(limit=200)
    tracked = [r for r in runs if r.dataset_id and r.environment.get("python")]
    versions = {n: meta.list_model_versions(n) for n in meta.list_model_names()}
    lineage = [v for vs in versions.values() for v in vs if v.run_id and v.lineage.dataset]
    gates = {n: m.gates for n, m in config.models.items() if m.gates}
    production = {n for (n, a) in meta.get_aliases() if a == PRODUCTION}
    rollouts = meta.list_events(kinds=["routing.set"])
    staged = [
        e
        for e in rollouts
        if (e.payload.get("to") or {}).get("canary") is not None or (e.payload.get("to") or {}).get("ab")
    ]
    policies = {n for n, m in config.models.items() if m.policy is not None}
    interval = config.controller.interval
    last_tick = max((r.lease_until.timestamp() for r in meta.list_rollouts() if r.lease_until), default=None)
    running = last_tick is not None and time.time() - last_tick < max(RUNNING_WINDOW * interval, 600)
    auto = meta.list_events(kinds=["rollout.retraining", "rollout.promoted", "rollout.rolled_back"])
    auto_kinds = {e.kind for e in auto if e.actor.startswith("controller:")}

    steps: list[tuple[str, bool]] = [
        ("training runs are tracked with their dataset version and environment", bool(tracked)),
        ("registered versions carry lineage to a run and a dataset", bool(lineage)),
        ("quality gates are declared for a model", bool(gates)),
        ("a model has a production alias", bool(production)),
        ("a version went live through a canary or an A/B split", bool(staged)),
        ("a controller policy is configured for a model", bool(policies)),
        ("a controller is running (`mlfactory controller run`, or `tick` from cron)", running),
        ("the controller retrained a model by itself", "rollout.retraining" in auto_kinds),
        (
            "the controller promoted or rolled back a version by itself",
            bool({"rollout.promoted", "rollout.rolled_back"} & auto_kinds),
        ),
    ]
    thresholds = {1: 2, 2: 5, 3: 9}  # how many of the steps above each level needs
    done = 0
    for _, ok in steps:
        if not ok:
            break
        done += 1
    level = max([lvl for lvl, need in thresholds.items() if done >= need], default=0)
    evidence = [text for text, ok in steps[:done]]
    nxt = thresholds.get(level + 1)
    missing = [text for text, ok in steps[: nxt or 0] if not ok] if nxt else []
    return Maturity(level, evidence, missing)
