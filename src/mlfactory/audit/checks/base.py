"""What every on-demand check shares: the check as a typed value, the version it judges, the metric and
tolerance it judges by, and the holdout rebuilt exactly as the version's training built it.

The rows come from :func:`mlfactory.project.train.prepare`, the step training itself runs, given what the
version's lineage recorded (its dataset version, its ``max_rows`` window and the labelled requests it trained
on), so a check judges a version on the rows it was judged on when it was registered, never on a copy of the
split's logic.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow.parquet as pq

from mlfactory.audit.recorded import CheckOutcome
from mlfactory.config import LOWER_IS_BETTER, ModelConfig
from mlfactory.entities import PRODUCTION, ModelVersion, VersionStatus
from mlfactory.errors import NotFoundError
from mlfactory.evaluation import compute_metrics
from mlfactory.project.train import Prepared, prepare

if TYPE_CHECKING:
    from mlfactory.project import Project
    from mlfactory.training import FeedbackRows

PAGE = 25  # versions read per page while looking for the newest ready one


@dataclass(frozen=True)
class Target:
    """The version a check judges: production, or the newest ready version when the model has none."""

    name: str
    version: ModelVersion
    chosen: str  # "production" or "newest ready"

    def params(self) -> dict[str, Any]:
        return {"version": self.version.ref, "version.chosen": self.chosen}


@dataclass(frozen=True)
class OnDemandCheck:
    """One check that trains or replays: its id, what it does and costs, and the function that runs it."""

    id: str
    does: str
    costs: str
    run: Callable[[Project, Target], CheckOutcome]


def find_target(project: Project, name: str) -> Target | None:
    """The version a check judges for ``name``, or None when the model has no ready version at all."""
    version = project.metadata.get_aliases(name).get((name, PRODUCTION))
    if version is not None:
        return Target(name, project.metadata.get_model_version(name, version), "production")
    offset = 0
    try:
        while page := project.metadata.model_versions_page(name, offset=offset, limit=PAGE):
            ready = [v for v in page if v.status == VersionStatus.READY]
            if ready:
                return Target(name, ready[0], "newest ready")
            offset += PAGE
    except NotFoundError:  # never registered: nothing to judge
        return None
    return None


def primary_metric(model: ModelConfig) -> str:
    """The metric a check judges by: the first gate's, else the first the model reports."""
    return model.gates[0].metric if model.gates else model.metric_names()[0]


def gate_tolerance(model: ModelConfig, metric: str, default: float) -> float:
    """How much worse than production a version may be on ``metric`` (its gate's ``max_drop``), else
    ``default``."""
    drops = [g.max_drop for g in model.gates if g.metric == metric and g.max_drop is not None]
    return drops[0] if drops else default


def better(metric: str, a: float, b: float, tolerance: float = 0.0) -> bool:
    """Whether ``a`` is at least as good as ``b`` on ``metric``, allowing ``tolerance``."""
    return a <= b + tolerance if metric in LOWER_IS_BETTER else a >= b - tolerance


def drop(metric: str, reference: float, value: float) -> float:
    """How much worse ``value`` is than ``reference`` (negative when better)."""
    return value - reference if metric in LOWER_IS_BETTER else reference - value


def score(
    model: ModelConfig,
    metric: str,
    y: np.ndarray,
    pred: np.ndarray,
    proba: np.ndarray | None,
    classes: list[Any] | None,
) -> float | None:
    """``metric`` of these predictions, computed as training computes it (None where undefined)."""
    value = compute_metrics(model.task, y, pred, proba, classes, [metric]).get(metric)
    return None if value is None else float(value)


def _trained_feedback(project: Project, target: Target, model: ModelConfig) -> FeedbackRows | None:
    """The labelled requests the version trained on, read again from the log by their stored ids."""
    digest = target.version.lineage.feedback_requests
    if not digest:
        return None
    from mlfactory.control.feedback import feedback_training_rows
    from mlfactory.training import FeedbackRows
    from mlfactory.training.feedback import REQUEST_ID

    wanted = set(
        pq.read_table(io.BytesIO(project.artifacts.get_bytes(digest))).column(REQUEST_ID).to_pylist()
    )
    rows = feedback_training_rows(project.predictions, project.metadata, target.name, model)
    if rows.frame.empty:
        return None
    return FeedbackRows(rows.frame[rows.frame[REQUEST_ID].astype(str).isin(wanted)], rows.counts)


def rebuild(project: Project, target: Target) -> Prepared:
    """The version's training rows and holdout, built by training's own step from its lineage."""
    lineage = target.version.lineage
    _, model = project.model_config(target.name)
    return prepare(
        project,
        target.name,
        dataset=lineage.dataset,
        allow_invalid=True,  # the version was trained on it; judging it again blocks nothing
        feedback=_trained_feedback(project, target, model),
        max_rows=lineage.max_rows,
    )


def split_params(p: Prepared, target: Target) -> dict[str, Any]:
    """What a check's run records about the rows: the dataset version, the sizes, and whether the rebuilt
    holdout has the size the version's lineage recorded (it differs when the project file changed since)."""
    recorded = target.version.lineage.holdout_rows
    return {
        **target.params(),
        "dataset": p.ds.id,
        "train_rows": len(p.train),
        "holdout_rows": len(p.holdout),
        "holdout_as_trained": recorded is None or recorded == len(p.holdout),
    }


@dataclass(frozen=True)
class Answers:
    """The judged version's answers on the holdout, with the labels and its primary metric."""

    estimator: Any
    classes: list[Any] | None
    y: np.ndarray
    pred: np.ndarray
    proba: np.ndarray | None
    metric: str
    value: float | None


def version_answers(project: Project, target: Target, p: Prepared) -> Answers:
    """The judged version's predictions on the rebuilt holdout and its primary metric there."""
    loaded = project.registry.load(target.version)
    pred, proba = loaded.predict(p.holdout, on_invalid="flag")  # judged on every row, as training did
    y = p.holdout[p.model.label].to_numpy()
    metric = primary_metric(p.model)
    value = score(p.model, metric, y, pred, proba, loaded.classes)
    return Answers(loaded.estimator, loaded.classes, y, pred, proba, metric, value)
