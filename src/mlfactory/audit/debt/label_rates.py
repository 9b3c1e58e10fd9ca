"""Label rates by predicted class: whether labels come back for one kind of decision much more often than
for another (a model that only learns from the cases it approved).

Over the newest rows a model answered in a bounded recent window, the share labelled is counted per
predicted class and compared with a chi-square test of independence. A finding needs every compared class to
have enough rows, the test to reject at ``ALPHA``, and the highest rate to be at least ``MIN_RATIO`` times the
lowest, so neither noise nor a trivial difference in a huge log is reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from scipy import stats

from mlfactory.audit.debt.logreads import newest_predictions
from mlfactory.audit.model import Finding, Severity

if TYPE_CHECKING:
    from mlfactory.audit.model import Scope
    from mlfactory.project import Project

ALPHA = 0.01  # the test's false alarm rate on classes labelled alike
MIN_PREDICTIONS = 100  # rows a predicted class needs before its label rate is compared
MIN_RATIO = 1.5  # the highest label rate must be this many times the lowest
WINDOW = timedelta(days=30)  # how far back the log is read ...
WINDOW_ROWS = 10_000  # ... and at most this many of the newest rows in it


@dataclass(frozen=True)
class ClassCount:
    """One predicted class in the window: rows answered, and how many of them were labelled."""

    predicted: int
    labelled: int

    @property
    def rate(self) -> float:
        return self.labelled / self.predicted


@dataclass(frozen=True)
class LabelRateGap:
    """A tested difference in label rates: the classes compared, the test's p-value, the extremes."""

    counts: dict[str, ClassCount]
    p_value: float
    highest: str
    lowest: str


def label_rate_gap(
    counts: Mapping[str, ClassCount],
    *,
    alpha: float = ALPHA,
    min_predictions: int = MIN_PREDICTIONS,
    min_ratio: float = MIN_RATIO,
) -> LabelRateGap | None:
    """The gap between predicted classes' label rates when it is significant and large, else None.

    Args:
        counts: per predicted class, rows answered and rows labelled.
        alpha: the chi-square test's significance level.
        min_predictions: classes with fewer rows are left out of the comparison.
        min_ratio: the smallest ratio of the highest rate to the lowest that is reported.
    """
    compared = {c: n for c, n in counts.items() if n.predicted >= min_predictions}
    labelled = sum(n.labelled for n in compared.values())
    rows = sum(n.predicted for n in compared.values())
    if len(compared) < 2 or labelled == 0 or labelled == rows:
        return None
    table = [[n.labelled, n.predicted - n.labelled] for n in compared.values()]
    p_value = float(stats.chi2_contingency(table, correction=False).pvalue)
    highest = max(compared, key=lambda c: compared[c].rate)
    lowest = min(compared, key=lambda c: compared[c].rate)
    high, low = compared[highest].rate, compared[lowest].rate
    if p_value >= alpha or high < min_ratio * low:
        return None
    return LabelRateGap(compared, p_value, highest, lowest)


def window_counts(project: Project, model: str, scope: Scope) -> dict[str, ClassCount]:
    """Per predicted class, the newest rows ``model`` answered in the window and how many got a label."""
    rows = newest_predictions(project, model, scope.now - WINDOW, scope.now, WINDOW_ROWS)
    labelled = {f.request_id for f in project.metadata.get_feedback(list(rows))}
    predicted: dict[str, int] = {}
    got: dict[str, int] = {}
    for request_id, prediction in rows.items():
        predicted[prediction] = predicted.get(prediction, 0) + 1
        got[prediction] = got.get(prediction, 0) + (request_id in labelled)
    return {c: ClassCount(n, got[c]) for c, n in predicted.items()}


def label_rate_by_class(project: Project, model: str, scope: Scope) -> Finding | None:
    """A finding when labels come back for one predicted class significantly and much more often."""
    gap = label_rate_gap(window_counts(project, model, scope))
    if gap is None:
        return None
    high, low = gap.counts[gap.highest], gap.counts[gap.lowest]
    return Finding(
        check="feedback.label_rate_by_class",
        severity=Severity.MEDIUM,
        title=f"'{model}' gets labels for {high.rate:.0%} of its '{gap.highest}' predictions but "
        f"{low.rate:.0%} of its '{gap.lowest}' ones",
        evidence={
            "by_prediction": {
                c: {"rows": n.predicted, "labelled": n.labelled} for c, n in gap.counts.items()
            },
            "p_value": gap.p_value,
            "test": f"chi-square of independence, alpha {ALPHA}",
            "window_days": WINDOW.days,
            "window_rows": WINDOW_ROWS,
        },
        why="Labels that arrive mostly for one kind of decision make every retrain and every measured "
        "accuracy lean towards it: the model learns and is judged on the cases it already let through.",
        fix="collect labels for a random sample of every predicted class (a review queue, an exploration "
        "share), or weight the feedback by each class's label rate before training",
        model=model,
    )


def find_label_rate_debt(project: Project, scope: Scope) -> list[Finding]:
    """Label-rate findings for the audited models."""
    found = (label_rate_by_class(project, model, scope) for model in scope.models)
    return [f for f in found if f is not None]
