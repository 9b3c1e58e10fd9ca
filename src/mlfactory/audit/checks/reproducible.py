"""infra.reproducible: does training the model twice on the same rows with the same seed give the same model?

The model as the project file declares it (its params, without a parameter search) is fitted twice by
training's own fitting step on the judged version's training rows; the two fits' holdout predictions must be
equal and their class probabilities equal to :data:`ATOL`. Nothing is registered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mlfactory.audit.checks.base import Target, rebuild, split_params
from mlfactory.audit.model import Finding, Severity
from mlfactory.audit.recorded import CheckOutcome
from mlfactory.training import fit_model
from mlfactory.training.search import predictions

if TYPE_CHECKING:
    from mlfactory.project import Project

CHECK = "infra.reproducible"
ATOL = 1e-9


def differing_rows(
    first: tuple[np.ndarray, np.ndarray | None], second: tuple[np.ndarray, np.ndarray | None]
) -> np.ndarray:
    """Per row, whether two fits answered differently (prediction, or a probability beyond ``ATOL``)."""
    differ = np.asarray(first[0] != second[0])
    if first[1] is not None and second[1] is not None:
        differ |= np.abs(first[1] - second[1]).max(axis=1) > ATOL
    return differ


def reproducible(project: Project, target: Target) -> CheckOutcome:
    """Two fits with the same seed and rows, their holdout answers compared row by row."""
    p = rebuild(project, target)
    answers = [predictions(fit_model(p.model, p.train), p.holdout, p.model) for _ in range(2)]
    differ = differing_rows(answers[0], answers[1])
    count = int(differ.sum())
    findings: tuple[Finding, ...] = ()
    if count:
        name = target.name
        findings = (
            Finding(
                check=CHECK,
                severity=Severity.HIGH,
                title=f"training model '{name}' twice with seed {p.model.seed} on the same rows gives "
                f"different answers on {count} of {len(differ)} holdout rows",
                evidence={
                    "estimator": p.model.estimator,
                    "seed": p.model.seed,
                    "dataset": p.ds.id,
                    "rows_differing": count,
                    "holdout_rows": len(differ),
                },
                why="A model that cannot be trained again to the same answers cannot be debugged, audited or "
                "rolled forward with confidence: every retrain changes it by chance.",
                fix=f"give the estimator its seed (drop random_state: null from models.{name}.params, or "
                f"seed the estimator's own randomness), then `mlfactory train {name}`",
                model=name,
            ),
        )
    params = {
        **split_params(p, target),
        "estimator": p.model.estimator,
        "seed": p.model.seed,
        "search": "not run",
    }
    metrics = {"rows_differing": float(count), "share_differing": count / max(len(differ), 1)}
    return CheckOutcome(passed=count == 0, metrics=metrics, findings=findings, params=params)
