"""Realized performance from feedback labels: a classifier's confusion counts (labels of classes the model
does not know included), metrics of a (possibly expected) confusion matrix, and the test of a window's
realized accuracy against the holdout's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mlfactory.data.profile import as_floats, category_key
from mlfactory.monitoring.calibration import Calibration
from mlfactory.monitoring.stats import two_proportion_z


def label_values(labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Labels as the Python objects they are (an object array), and which are given (neither None nor
    NaN)."""
    values = np.asarray(labels, dtype=object)
    given = np.fromiter((v is not None and v == v for v in values.tolist()), dtype=bool, count=len(values))
    return values, given


def confusion_metrics(cm: np.ndarray, keys: Sequence[str]) -> dict[str, float | None]:
    """Accuracy, precision, recall and F1 (of the second class when binary, macro-averaged otherwise) from a
    confusion matrix of true (rows) × predicted (columns) counts, which may be expected counts.

    ``keys`` are the model's classes; the matrix may go on with classes the model does not know (labels of
    a class that appeared after training): their rows are misses, so they lower accuracy, and each is a
    class of the macro average with a recall and F1 of 0. The macro average is over the classes the window
    has, as truth or prediction (as scikit-learn's and the model card's): a rare class absent from a window
    would otherwise count as an F1 of 0 and pull the average down by a whole class's share.
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


class RealizedCounts:
    """A classifier's realized confusion counts, true (rows) × predicted (columns), updated chunk by chunk.

    Rows and columns are the model's classes, then the classes of labels the model does not know, in the
    order they were first seen: such a label marks its prediction wrong (a new class in the world lowers
    realized accuracy, and counts as a missed class in the macro averages) rather than being left out.

    Args:
        keys: the model's classes, as :func:`~mlfactory.data.profile.category_key` texts.
    """

    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = list(keys)
        self.known = len(self.keys)
        self._index = {k: i for i, k in enumerate(self.keys)}
        self.matrix = np.zeros((self.known, self.known))
        self.unknown_predictions = 0  # labelled rows whose prediction is not a model class: left out

    def _row(self, key: str) -> int:
        """The index of a label's class, adding a class the model does not know."""
        if key not in self._index:
            self._index[key] = len(self.keys)
            self.keys.append(key)
            self.matrix = np.pad(self.matrix, (0, 1))
        return self._index[key]

    def label_indices(self, labels: Any) -> np.ndarray:
        """Each label's class index (at or past :attr:`known` for a class the model does not know), −1 for
        a missing label."""
        values, given = label_values(labels)
        out = np.full(len(values), -1, dtype=np.int64)
        present = values[given].tolist()
        # classes the model does not know join in the order their labels first appear
        rows = {v: self._row(category_key(v)) for v in dict.fromkeys(present)}
        out[given] = [rows[v] for v in present]
        return out

    def add(self, truth: np.ndarray, pred: np.ndarray) -> None:
        """Add labelled rows: their :meth:`label_indices` and predicted class indices (−1 for a prediction
        that is not a model class)."""
        known = pred >= 0
        self.unknown_predictions += int((~known).sum())
        np.add.at(self.matrix, (truth[known], pred[known]), 1)

    def merge(self, other: RealizedCounts) -> None:
        """Add another slice's counts (same model classes), matching unknown classes by name."""
        rows = np.array([self._row(k) for k in other.keys], dtype=np.int64)
        self.matrix[np.ix_(rows, rows)] += other.matrix
        self.unknown_predictions += other.unknown_predictions

    @property
    def labelled(self) -> int:
        """Labelled rows counted (labels of unknown classes included)."""
        return int(self.matrix.sum())

    @property
    def correct(self) -> float:
        """Labelled rows the model got right."""
        return float(np.trace(self.matrix))

    def unknown_labels(self) -> dict[str, int]:
        """Labelled rows per class the model does not know."""
        return {k: int(self.matrix[i].sum()) for i, k in enumerate(self.keys[self.known :], self.known)}

    def metrics(self) -> dict[str, float | None]:
        """Accuracy, precision, recall and F1 of the counts (:func:`confusion_metrics`)."""
        return confusion_metrics(self.matrix, self.keys[: self.known])

    def messages(self) -> list[str]:
        """What the report should say about labels of unknown classes and predictions left out."""
        out = []
        unknown = self.unknown_labels()
        if unknown:
            listed = ", ".join(f"{k!r}: {n}" for k, n in unknown.items())
            out.append(
                f"{sum(unknown.values())} label(s) are of classes the model does not know ({listed}; its "
                f"classes are {self.keys[: self.known]}): they count as wrong predictions, and each such "
                "class as a missed class of the averages; retrain on data that has them"
            )
        if self.unknown_predictions:
            out.append(
                f"{self.unknown_predictions} labelled row(s) have a prediction that is not among the "
                f"model's classes {self.keys[: self.known]} and were left out"
            )
        return out


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
    err = as_floats(predictions)[labelled] - _numbers(label_values(labels)[0][labelled])
    err = err[np.isfinite(err)]
    return np.array([len(err), np.abs(err).sum(), np.square(err).sum()])


def _numbers(values: np.ndarray) -> np.ndarray:
    """Labels (Python objects) as floats: ints and floats as they are, anything else by
    :func:`~mlfactory.data.profile.as_floats`'s coercion (a label that is not a number becomes NaN)."""
    given = values.tolist()
    if all(type(v) in (int, float) for v in given):
        return np.asarray(given, dtype="float64")
    return as_floats(values)
