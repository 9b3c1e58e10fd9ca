"""Realized performance from feedback labels: metrics of a (possibly expected) confusion matrix, and the
test of a window's realized accuracy against the holdout's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlfactory.monitoring.calibration import Calibration
from mlfactory.monitoring.stats import two_proportion_z


def confusion_metrics(cm: np.ndarray, keys: Sequence[str]) -> dict[str, float | None]:
    """Accuracy, precision, recall and F1 (of the second class when binary, macro-averaged otherwise) from a
    confusion matrix of true (rows) × predicted (columns) counts, which may be expected counts.

    The macro average is over the classes the window has, as truth or prediction (as scikit-learn's and
    the model card's): a rare class absent from a window would otherwise count as an F1 of 0 and pull the
    average down by a whole class's share.
    """
    n = cm.sum()
    if n <= 0:
        return {"accuracy": None, "precision": None, "recall": None, "f1": None}
    tp = np.diag(cm)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(cm.sum(axis=0) > 0, tp / cm.sum(axis=0), 0.0)
        recall = np.where(cm.sum(axis=1) > 0, tp / cm.sum(axis=1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    pick = np.arange(1, 2) if len(keys) == 2 else np.flatnonzero(cm.sum(axis=0) + cm.sum(axis=1) > 0)
    return {
        "accuracy": float(tp.sum() / n),
        "precision": float(precision[pick].mean()),
        "recall": float(recall[pick].mean()),
        "f1": float(f1[pick].mean()),
    }


@dataclass(frozen=True)
class AccuracyDrop:
    """The test of a window's realized accuracy against the holdout's (one-sided two-proportion z)."""

    method: str
    reference_accuracy: float
    accuracy: float
    drop: float
    statistic: float
    p_value: float
    min_drop: float
    drifted: bool  # significant, and a drop of at least min_drop

    def to_json(self) -> dict[str, Any]:
        """The test as stored under the report's ``performance.tests.accuracy_drop``."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AccuracyDrop:
        """The test read back from a stored report."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


def accuracy_drop(
    calibration: Calibration, correct: float, labelled: int, min_drop: float, alpha: float
) -> AccuracyDrop:
    """Did realized accuracy fall below the holdout's? A one-sided two-proportion z test, flagged only for
    a drop of at least ``min_drop``.

    Args:
        calibration: the version's calibration (its ``holdout_correct``, ``holdout_rows`` and
            ``holdout_accuracy``).
        correct: labelled rows of the window the model got right.
        labelled: labelled rows of the window.
        min_drop: the smallest drop that counts.
        alpha: the test's significance level.
    """
    z, p = two_proportion_z(calibration.holdout_correct, calibration.holdout_rows, correct, labelled)
    z0, p0 = float(z), float(p)
    one_sided = p0 / 2 if z0 < 0 else 1 - p0 / 2
    drop = calibration.holdout_accuracy - correct / labelled
    return AccuracyDrop(
        method="two-proportion z (one-sided)",
        reference_accuracy=calibration.holdout_accuracy,
        accuracy=correct / labelled,
        drop=drop,
        statistic=z0,
        p_value=one_sided,
        min_drop=min_drop,
        drifted=bool(one_sided < alpha and drop >= min_drop),
    )


def regression_errors(predictions: Any, labels: Any, labelled: np.ndarray) -> np.ndarray:
    """``[n, Σ|e|, Σe²]`` of the labelled rows' errors (rows whose prediction or label is not a number are
    left out)."""
    err = pd.to_numeric(pd.Series(predictions)[labelled], errors="coerce").to_numpy(float) - pd.to_numeric(
        pd.Series(labels)[labelled], errors="coerce"
    ).to_numpy(float)
    err = err[np.isfinite(err)]
    return np.array([len(err), np.abs(err).sum(), np.square(err).sum()])
