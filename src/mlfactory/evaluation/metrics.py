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
    avg = "binary" if binary else "macro"
    pos = classes[1] if binary else None
    kw: dict[str, Any] = {"average": avg, "zero_division": 0}
    if binary:
        kw["pos_label"] = pos
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
                out[name] = (
                    skm.roc_auc_score(y, proba[:, 1])
                    if binary
                    else skm.roc_auc_score(y, proba, multi_class="ovr", labels=list(classes))
                )
            else:
                out[name] = skm.log_loss(y, proba, labels=list(classes))
    out["confusion_matrix"] = {
        "labels": [_plain(c) for c in classes],
        "matrix": skm.confusion_matrix(y, pred, labels=list(classes)).tolist(),
    }
    return out


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
