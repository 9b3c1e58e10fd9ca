"""model.slices: is the judged version good enough on every declared segment of its holdout?

The model's primary metric per value of each ``segments`` column (training's own
:func:`~mlfactory.evaluation.metrics_by_slice`), against the whole holdout. A slice of at least
:data:`MIN_ROWS` rows worse than overall by more than the gate's tolerance (or :data:`DEFAULT_TOLERANCE`) is
a finding; the worst slices are named either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlfactory.audit.checks.base import Target, drop, gate_tolerance, rebuild, split_params, version_answers
from mlfactory.audit.model import Finding, Severity
from mlfactory.audit.recorded import CheckOutcome
from mlfactory.evaluation import metrics_by_slice

if TYPE_CHECKING:
    from mlfactory.project import Project

CHECK = "model.slices"
DEFAULT_TOLERANCE = 0.05
MIN_ROWS = 30
WORST = 3  # slices named in the run's params


@dataclass(frozen=True)
class Slice:
    column: str
    value: str
    rows: int
    metric: float
    gap: float  # how much worse than the whole holdout (negative: better)

    def to_json(self) -> dict[str, Any]:
        return {
            "segment": f"{self.column}={self.value}",
            "rows": self.rows,
            "value": self.metric,
            "gap": self.gap,
        }


def _no_segments(target: Target) -> CheckOutcome:
    name = target.name
    finding = Finding(
        check=CHECK,
        severity=Severity.LOW,
        title=f"model '{name}' declares no segments, so its quality per slice is not measured",
        evidence={"version": target.version.ref, "segments": []},
        why="A model good on average can fail a whole group of users; only declared segments are measured.",
        fix=f"list the columns that split its users (e.g. language, country) under models.{name}.segments",
        model=name,
    )
    return CheckOutcome(passed=False, metrics={}, findings=(finding,), params=target.params())


def slices(project: Project, target: Target) -> CheckOutcome:
    """The primary metric on every declared segment, the worst named, the bad ones found."""
    _, declared = project.model_config(target.name)
    if not declared.segments:
        return _no_segments(target)
    p = rebuild(project, target)
    a = version_answers(project, target, p)
    tolerance = gate_tolerance(p.model, a.metric, DEFAULT_TOLERANCE)
    per = metrics_by_slice(
        p.model.task, p.holdout, p.model.segments, a.y, a.pred, a.proba, a.classes, [a.metric]
    )
    found = [
        Slice(col, value, int(m["rows"] or 0), float(v), drop(a.metric, a.value, float(v)))
        for col, values in per.items()
        for value, m in values.items()
        if a.value is not None and (v := m.get(a.metric)) is not None
    ]
    found.sort(key=lambda s: -s.gap)
    bad = [s for s in found if s.rows >= MIN_ROWS and s.gap > tolerance]
    findings = tuple(_finding(target, a.metric, a.value or 0.0, s, tolerance) for s in bad)
    metrics = {f"slice.{s.column}={s.value}.{a.metric}": s.metric for s in found}
    if a.value is not None:
        metrics[f"overall.{a.metric}"] = a.value
    params = {
        **split_params(p, target),
        "metric": a.metric,
        "tolerance": tolerance,
        "min_rows": MIN_ROWS,
        "worst": [s.to_json() for s in found[:WORST]],
    }
    return CheckOutcome(
        passed=a.value is not None and not bad, metrics=metrics, findings=findings, params=params
    )


def _finding(target: Target, metric: str, overall: float, s: Slice, tolerance: float) -> Finding:
    name = target.name
    return Finding(
        check=CHECK,
        severity=Severity.HIGH,
        title=f"{target.version.ref} scores {metric} {s.metric:.4f} on {s.column}={s.value} ({s.rows} rows), "
        f"{s.gap:.4f} worse than its {overall:.4f} overall",
        evidence={
            **s.to_json(),
            "version": target.version.ref,
            "metric": metric,
            "overall": overall,
            "tolerance": tolerance,
        },
        why="Users in this slice get a worse model than the average says; an overall gate hides it.",
        fix=f"add more or better {s.column}={s.value} examples, or a feature that explains the slice, then "
        f"`mlfactory train {name}`; gate it by watching this check",
        model=name,
    )
