"""Classification and regression metrics on a holdout, overall and per slice."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

# column -> value -> metric name (and ``rows``) -> value (None where undefined)
SliceMetrics = dict[str, dict[str, dict[str, float | None]]]


def _classification(
    y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None, classes: Sequence[Any], names: Sequence[str]
) -> dict[str, Any]:
    binary = len(classes) == 2
    # a binary model's precision, recall and F1 are its second class's, also when feedback brings labels of a
    # class it does not know; a multi-class average takes such a class in as a class with no hits
    kw: dict[str, Any] = {"average": "macro", "zero_division": 0}
    if binary:
        kw["labels"] = [classes[1]]
    out: dict[str, Any] = {}
    for name in names:
        if name == "accuracy":
            out[name] = skm.accuracy_score(y, pred)
        elif name == "precision":
            out[name] = skm.precision_score(y, pred, **kw)
        elif name == "recall":
            out[name] = skm.recall_score(y, pred, **kw)
        elif name == "f1":
            out[name] = skm.f1_score(y, pred, **kw)
        elif name in ("roc_auc", "log_loss"):
            if proba is None or len(np.unique(y)) < 2:
                out[name] = None  # undefined without scores or with one class present
            elif name == "roc_auc":
                out[name] = skm.roc_auc_score(y, proba[:, 1]) if binary else _ovr_auc(y, proba, classes)
            else:
                out[name] = skm.log_loss(y, proba, labels=list(classes))
    out["confusion_matrix"] = {
        "labels": [_plain(c) for c in classes],
        "matrix": skm.confusion_matrix(y, pred, labels=list(classes)).tolist(),
    }
    return out


def _ovr_auc(y: np.ndarray, proba: np.ndarray, classes: Sequence[Any]) -> float:
    """Macro one-vs-rest ROC AUC over the classes present in ``y`` (at least two): a rare class missing
    from a holdout or a slice has no AUC of its own, where scikit-learn's average would turn NaN."""
    present = set(np.unique(y).tolist())
    aucs = [skm.roc_auc_score(y == c, proba[:, j]) for j, c in enumerate(classes) if c in present]
    return float(np.mean(aucs))


def _regression(y: np.ndarray, pred: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        if name == "mae":
            out[name] = skm.mean_absolute_error(y, pred)
        elif name == "rmse":
            out[name] = float(np.sqrt(skm.mean_squared_error(y, pred)))
        elif name == "r2":
            out[name] = skm.r2_score(y, pred) if len(y) > 1 else None
    return out


def aligned_proba(
    proba: np.ndarray | None, own: Sequence[Any] | None, classes: Sequence[Any] | None
) -> np.ndarray | None:
    """A model's class probabilities (columns in its ``own`` classes' order) as columns of ``classes``.

    A champion is scored on the challenger's holdout, whose classes may differ: a rare class absent when the
    champion was trained gets a column of zeros (the champion never predicts it), a class the holdout
    lacks is dropped. Classes are matched by their text, so 1 and "1" are one class.
    """
    if proba is None or own is None or classes is None:
        return proba
    column = {str(_plain(c)): j for j, c in enumerate(own)}
    out = np.zeros((len(proba), len(classes)))
    for i, c in enumerate(classes):
        j = column.get(str(_plain(c)))
        if j is not None:
            out[:, i] = proba[:, j]
    return out


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def compute_metrics(
    task: str,
    y: np.ndarray,
    pred: np.ndarray,
    proba: np.ndarray | None,
    classes: Sequence[Any] | None,
    names: Sequence[str],
) -> dict[str, Any]:
    """The named metrics (plus a confusion matrix for classifiers), as plain floats; None where undefined."""
    raw = (
        _classification(y, pred, proba, classes or [], names)
        if task == "classification"
        else _regression(y, pred, names)
    )
    return {k: (float(v) if isinstance(v, int | float | np.number) else v) for k, v in raw.items()}


def metrics_by_slice(
    task: str,
    frame: pd.DataFrame,
    segments: Sequence[str],
    y: np.ndarray,
    pred: np.ndarray,
    proba: np.ndarray | None,
    classes: Sequence[Any] | None,
    names: Sequence[str],
) -> SliceMetrics:
    """Metrics per value of each segment column: ``{column: {value: {"rows": n, metric: value}}}``."""
    out: SliceMetrics = {}
    for col in segments:
        groups = frame[col].astype(str).fillna("__missing__").to_numpy()
        per: dict[str, dict[str, float | None]] = {}
        for value in np.unique(groups):
            mask = groups == value
            m = compute_metrics(
                task, y[mask], pred[mask], None if proba is None else proba[mask], classes, names
            )
            m.pop("confusion_matrix", None)
            per[str(value)] = {"rows": int(mask.sum()), **m}
        out[col] = per
    return out
