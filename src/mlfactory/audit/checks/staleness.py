"""model.staleness: how fast does the model decay as the world moves on, and does its policy retrain in time?

The model as the project file declares it is trained (by training's own steps) on each older snapshot of its
source and scored on the rows each later snapshot added, with its primary metric; a straight line through
(model age in days, metric) gives the decay per day, and the horizon is how many days it takes to lose the
gate's tolerance (or :data:`DEFAULT_TOLERANCE`). A snapshot's time is when it was ingested; when the
snapshots were ingested too close together to span any time, it is the newest value of the model's
timestamp column in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlfactory.audit.checks.base import Target, gate_tolerance, primary_metric, score
from mlfactory.audit.model import Finding, Severity
from mlfactory.audit.recorded import CheckOutcome
from mlfactory.config import LOWER_IS_BETTER
from mlfactory.project.train import Prepared, prepare
from mlfactory.training import fit_model
from mlfactory.training.search import fitted_classes, predictions

if TYPE_CHECKING:
    from mlfactory.entities import DatasetVersion
    from mlfactory.project import Project

CHECK = "model.staleness"
DEFAULT_TOLERANCE = 0.02
MIN_SNAPSHOTS = 3
MAX_SNAPSHOTS = 6  # the newest ones: the cost grows with their square
MIN_ROWS = 30  # new rows a later snapshot needs to be scored on
MIN_SPAN = timedelta(hours=1)  # ingest times closer than this carry no time span
HORIZON_CAP = 3650.0  # days reported when no decay is measurable
DAY = 86400.0


@dataclass(frozen=True)
class Point:
    """The model trained on one snapshot, scored on the rows a later one added."""

    trained_on: str
    scored_on: str
    age_days: float
    rows: int
    metric: float

    def to_json(self) -> dict[str, Any]:
        return {
            "trained_on": self.trained_on,
            "scored_on": self.scored_on,
            "age_days": self.age_days,
            "rows": self.rows,
            "metric": self.metric,
        }


def _identity(p: Prepared) -> pd.Series:
    """One hash per labelled row, over what the model reads and learns (to tell a snapshot's new rows)."""
    frame = pd.concat([p.train, p.holdout])
    columns = [*p.model.features.all(), p.model.label, *([p.model.timestamp] if p.model.timestamp else [])]
    return pd.util.hash_pandas_object(frame[columns].astype(str), index=False)


def _times(snapshots: list[Prepared]) -> tuple[list[float] | None, str]:
    """Each snapshot's time in days (ingest times, else the newest timestamp value), and which was used."""
    created = [p.ds.created_at for p in snapshots]
    if created[-1] - created[0] >= MIN_SPAN:
        return [c.timestamp() / DAY for c in created], "ingest time"
    ts = snapshots[0].model.timestamp
    if not ts:
        return None, "none"
    newest = [
        pd.to_datetime(pd.concat([p.train, p.holdout])[ts], utc=True, format="mixed").max() for p in snapshots
    ]
    return [t.timestamp() / DAY for t in newest], f"newest '{ts}'"


def _points(snapshots: list[Prepared], times: list[float], metric: str) -> list[Point]:
    points: list[Point] = []
    for i, older in enumerate(snapshots[:-1]):
        model = older.model
        estimator = fit_model(model, pd.concat([older.train, older.holdout]))
        seen = set(_identity(older))
        for j, newer in enumerate(snapshots[i + 1 :], start=i + 1):
            frame = pd.concat([newer.train, newer.holdout])
            new = frame[~_identity(newer).isin(seen).to_numpy()]
            if len(new) < MIN_ROWS:
                continue
            pred, proba = predictions(estimator, new, model)
            value = score(model, metric, new[model.label].to_numpy(), pred, proba, fitted_classes(estimator))
            if value is not None:
                points.append(Point(older.ds.id, newer.ds.id, times[j] - times[i], len(new), value))
    return points


def _history(project: Project, target: Target) -> list[DatasetVersion]:
    _, model = project.model_config(target.name)
    return [d for d in project.metadata.list_datasets(model.source) if d.valid][-MAX_SNAPSHOTS:]


def staleness(project: Project, target: Target) -> CheckOutcome:
    """Decay per day of model age and the horizon, from the source's snapshots, against the policy."""
    history = _history(project, target)
    if len(history) < MIN_SNAPSHOTS:
        return _too_little(
            target, f"{len(history)} valid snapshot(s) of its source; it needs {MIN_SNAPSHOTS}"
        )
    snapshots = [
        prepare(project, target.name, dataset=d.id, allow_invalid=True, feedback=None, max_rows=None)
        for d in history
    ]
    times, clock = _times(snapshots)
    if times is None:
        return _too_little(target, "snapshots ingested at once and no timestamp column to date their rows")
    model = snapshots[-1].model
    metric = primary_metric(model)
    points = _points(snapshots, times, metric)
    ages = [pt.age_days for pt in points]
    if len(set(np.round(ages, 6))) < 2:
        return _too_little(target, f"{len(points)} scored point(s) at distinct model ages; it needs 2")
    slope = float(np.polyfit(ages, [pt.metric for pt in points], 1)[0])
    decay = slope if metric in LOWER_IS_BETTER else -slope
    tolerance = gate_tolerance(model, metric, DEFAULT_TOLERANCE)
    horizon = min(tolerance / decay, HORIZON_CAP) if decay > 0 else HORIZON_CAP
    schedule = model.policy.triggers.schedule if model.policy else None
    late = schedule is not None and schedule / DAY > horizon
    findings = (_late(target, metric, decay, horizon, schedule or 0.0, tolerance),) if late else ()
    params = {
        **target.params(),
        "metric": metric,
        "tolerance": tolerance,
        "clock": clock,
        "snapshots": [d.id for d in history],
        "points": [pt.to_json() for pt in points],
        "schedule_days": None if schedule is None else schedule / DAY,
    }
    metrics = {"decay_per_day": decay, "horizon_days": horizon, "points": float(len(points))}
    return CheckOutcome(passed=not late, metrics=metrics, findings=findings, params=params)


def _too_little(target: Target, what: str) -> CheckOutcome:
    name = target.name
    finding = Finding(
        check=CHECK,
        severity=Severity.LOW,
        title=f"model '{name}' has too little history to measure how fast it decays: {what}",
        evidence={"version": target.version.ref, "needs": f"{MIN_SNAPSHOTS} snapshots spanning time"},
        why="Without the decay rate nobody knows whether the model is retrained before it goes stale.",
        fix=f"ingest its source regularly (`mlfactory ingest SOURCE`, e.g. daily from cron) so snapshots "
        f"accumulate, then run `mlfactory audit --run {CHECK}`",
        model=name,
    )
    return CheckOutcome(
        passed=False, metrics={}, findings=(finding,), params={**target.params(), "history": what}
    )


def _late(
    target: Target, metric: str, decay: float, horizon: float, schedule: float, tolerance: float
) -> Finding:
    name = target.name
    return Finding(
        check=CHECK,
        severity=Severity.HIGH,
        title=f"model '{name}' loses {tolerance} {metric} in {horizon:.1f} days, but its policy retrains "
        f"only every {schedule / DAY:.1f} days",
        evidence={
            "version": target.version.ref,
            "metric": metric,
            "decay_per_day": decay,
            "horizon_days": horizon,
            "schedule_days": schedule / DAY,
            "tolerance": tolerance,
        },
        why="Between retrains the model serves answers worse than its gate allows.",
        fix=f"set models.{name}.policy.triggers.schedule to at most {max(int(horizon), 1)}d (or retrain "
        "on new data: triggers.new_data: true)",
        model=name,
    )
