"""data.feature_importance: does every input column earn its place?

Each input column of the judged version is shuffled on the holdout (``n_repeats`` times, seeded) and the
drop in the model's primary metric measured (scikit-learn's ``permutation_importance``). A column whose
importance interval reaches zero (mean - 2 standard deviations <= 0) adds nothing the holdout can see.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.inspection import permutation_importance

from mlfactory.audit.checks.base import Target, rebuild, score, split_params, version_answers
from mlfactory.audit.model import Finding, Severity
from mlfactory.audit.recorded import CheckOutcome
from mlfactory.config import LOWER_IS_BETTER, ModelConfig
from mlfactory.training.search import predictions

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.project import Project

CHECK = "data.feature_importance"
N_REPEATS = 5
WIDTH = 2.0  # standard deviations either side of the mean importance


def _scorer(model: ModelConfig, metric: str, classes: list[Any] | None) -> Callable[..., float]:
    """A scorer in the metric's own units, signed so that a larger value is better (as scikit-learn wants)."""
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0

    def scorer(estimator: Any, x: pd.DataFrame, y: np.ndarray) -> float:
        pred, proba = predictions(estimator, x, model)
        value = score(model, metric, y, pred, proba, classes)
        return sign * (np.nan if value is None else value)

    return scorer


def _where(name: str, declared: ModelConfig, column: str) -> str:
    """Where the column is asked for: the model's declared columns, else its feature service."""
    for kind in ("numeric", "categorical", "text"):
        if column in getattr(declared.features, kind):
            return f"models.{name}.features.{kind} in the project file"
    return f"feature service '{declared.feature_service}' in the features module"


def _finding(
    name: str, declared: ModelConfig, column: str, mean: float, std: float, evidence: dict[str, Any]
) -> Finding:
    return Finding(
        check=CHECK,
        severity=Severity.MEDIUM,
        title=f"feature '{column}' of model '{name}' adds nothing: shuffled, the holdout score stays",
        evidence={**evidence, "feature": column, "importance_mean": mean, "importance_std": std},
        why="A feature the model does not measurably use still costs a data dependency that can break or "
        "drift, serving work and upkeep, for no quality.",
        fix=f"remove '{column}' from {_where(name, declared, column)} and retrain: `mlfactory train {name}`",
        model=name,
    )


def feature_importance(project: Project, target: Target) -> CheckOutcome:
    """Permutation importance of each input column on the judged version's holdout."""
    p = rebuild(project, target)
    answers = version_answers(project, target, p)
    columns = p.model.features.all()
    result = permutation_importance(
        answers.estimator,
        p.holdout[columns],
        answers.y,
        scoring=_scorer(p.model, answers.metric, answers.classes),
        n_repeats=N_REPEATS,
        random_state=p.model.seed,
    )
    means = [float(m) for m in result.importances_mean]
    stds = [float(s) for s in result.importances_std]
    useless = [i for i, (m, s) in enumerate(zip(means, stds, strict=True)) if m - WIDTH * s <= 0]
    evidence = {"version": target.version.ref, "metric": answers.metric, "holdout_rows": len(p.holdout)}
    _, declared = project.model_config(target.name)
    findings = tuple(
        _finding(target.name, declared, columns[i], means[i], stds[i], evidence) for i in useless
    )
    metrics = {
        **{f"importance.{c}": m for c, m in zip(columns, means, strict=True)},
        **{f"importance_std.{c}": s for c, s in zip(columns, stds, strict=True)},
        "useless_features": float(len(useless)),
    }
    params = {
        **split_params(p, target),
        "metric": answers.metric,
        "n_repeats": N_REPEATS,
        "seed": p.model.seed,
        "useless": [columns[i] for i in useless],
    }
    return CheckOutcome(passed=not useless, metrics=metrics, findings=findings, params=params)
