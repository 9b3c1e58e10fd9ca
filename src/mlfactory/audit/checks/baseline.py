"""model.simpler_baseline: is the judged version better than what a simpler model would give?

Baselines are trained by training's own fitting step on the version's training rows and scored on its
holdout with the model's primary metric: the majority class (classification) or the mean (regression), a
linear model on the model's preprocessing (skipped when the model is that linear model already), and every
estimator the model declares under ``baselines``. A baseline within :data:`TOLERANCE` of production, or
better, means the model's complexity buys nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlfactory.audit.checks.base import Answers, Target, better, rebuild, score, split_params, version_answers
from mlfactory.audit.model import Finding, Severity
from mlfactory.audit.recorded import CheckOutcome
from mlfactory.config import ModelConfig
from mlfactory.training import fit_model
from mlfactory.training.search import fitted_classes, predictions

if TYPE_CHECKING:
    from mlfactory.project import Project
    from mlfactory.project.train import Prepared

CHECK = "model.simpler_baseline"
TOLERANCE = 0.005  # a baseline this close to production, in the metric's units, is as good


@dataclass(frozen=True)
class Baseline:
    """An estimator to train in place of the model's, with the params it needs."""

    estimator: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.estimator.rpartition(".")[2]


def baselines(model: ModelConfig) -> list[Baseline]:
    """The default baselines for the model's task (less the linear one when the model is it), then the
    declared ones."""
    if model.task == "classification":
        simple = [
            Baseline("sklearn.dummy.DummyClassifier", {"strategy": "most_frequent"}),
            Baseline("sklearn.linear_model.LogisticRegression", {"max_iter": 1000}),
        ]
    else:
        simple = [
            Baseline("sklearn.dummy.DummyRegressor", {"strategy": "mean"}),
            Baseline("sklearn.linear_model.Ridge"),
        ]
    simple = [b for b in simple if model.model is not None or b.estimator != model.estimator]
    return simple + [Baseline(path) for path in model.baselines if path not in {b.estimator for b in simple}]


def _baseline_score(p: Prepared, baseline: Baseline, metric: str, answers: Answers) -> float | None:
    config = p.model.model_copy(
        update={"estimator": baseline.estimator, "params": baseline.params, "search": None, "model": None}
    )
    estimator = fit_model(config, p.train)
    pred, proba = predictions(estimator, p.holdout, config)
    return score(config, metric, answers.y, pred, proba, fitted_classes(estimator))


def _finding(target: Target, baseline: Baseline, metric: str, value: float, production: float) -> Finding:
    name = target.name
    return Finding(
        check=CHECK,
        severity=Severity.HIGH,
        title=f"{baseline.name} scores {metric} {value:.4f} on {target.version.ref}'s holdout, "
        f"as good as the model's {production:.4f}",
        evidence={
            "version": target.version.ref,
            "baseline": baseline.estimator,
            "metric": metric,
            "baseline_value": value,
            "production_value": production,
            "tolerance": TOLERANCE,
        },
        why="A model no better than a simpler one adds serving cost, upkeep and failure modes for nothing, "
        "and often means its features or params are broken.",
        fix=f"use the simpler estimator (models.{name}.estimator: {baseline.estimator}) or fix the model's "
        f"features and params until it beats the baseline, then `mlfactory train {name}`",
        model=name,
    )


def simpler_baseline(project: Project, target: Target) -> CheckOutcome:
    """Each baseline against the judged version on the same holdout, by the model's primary metric."""
    p = rebuild(project, target)
    answers = version_answers(project, target, p)
    metric, production = answers.metric, answers.value
    metrics: dict[str, float] = {} if production is None else {f"production.{metric}": production}
    findings: list[Finding] = []
    for baseline in baselines(p.model):
        value = _baseline_score(p, baseline, metric, answers)
        if value is None:
            continue
        metrics[f"baseline.{baseline.name}.{metric}"] = value
        if production is not None and better(metric, value, production, TOLERANCE):
            findings.append(_finding(target, baseline, metric, value, production))
    params = {
        **split_params(p, target),
        "metric": metric,
        "tolerance": TOLERANCE,
        "baselines": [b.estimator for b in baselines(p.model)],
    }
    passed = production is not None and not findings
    return CheckOutcome(passed=passed, metrics=metrics, findings=tuple(findings), params=params)
