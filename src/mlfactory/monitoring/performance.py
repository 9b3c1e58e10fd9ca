"""Performance: realized from feedback labels, and estimated from the model's probabilities before labels
arrive.

The estimate is confidence-based performance estimation (CBPE): the model's scores are recalibrated on the
reference holdout with isotonic regression (one-vs-rest per class), and the expected confusion matrix of a
window is the sum of the calibrated class probabilities of its rows, by predicted class. It holds under
covariate shift (the inputs change, the relation between inputs and label does not); a concept change shows
up as realized performance falling below the estimate.

The calibration check fits the recalibration on one half of the holdout and measures the expected
calibration error (ECE) on the other half (and the other way round), so the reported error is honest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from mlfactory.monitoring.reference import category_key
from mlfactory.monitoring.stats import two_proportion_z

ECE_BINS = 10
MIN_CALIBRATION_ROWS = 200


def ece(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: the row-weighted gap between confidence and accuracy, over equal bins."""
    if not len(confidence):
        return float("nan")
    idx = np.minimum((np.asarray(confidence) * bins).astype(int), bins - 1)
    conf = np.bincount(idx, weights=confidence, minlength=bins)
    acc = np.bincount(idx, weights=correct.astype("float64"), minlength=bins)
    return float(np.abs(conf - acc).sum() / len(confidence))


def _fit_curve(score: np.ndarray, hit: np.ndarray) -> dict[str, list[float]]:
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(score, hit)
    return {"x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}


def _apply(curves: Sequence[dict[str, list[float]]], proba: np.ndarray) -> np.ndarray:
    if len(curves) == 1:  # binary: one curve for the second class
        p1 = np.interp(proba[:, 1], curves[0]["x"], curves[0]["y"])
        return np.column_stack([1.0 - p1, p1])
    q = np.column_stack([np.interp(proba[:, j], c["x"], c["y"]) for j, c in enumerate(curves)])
    total = q.sum(axis=1, keepdims=True)
    return np.divide(q, total, out=np.full_like(q, 1.0 / q.shape[1]), where=total > 0)


def _curves(proba: np.ndarray, y: np.ndarray) -> list[dict[str, list[float]]]:
    k = proba.shape[1]
    targets = [1] if k == 2 else range(k)
    return [_fit_curve(proba[:, j], (y == j).astype("float64")) for j in targets]


def build_calibration(
    labels: Any, proba: np.ndarray, classes: Sequence[Any], max_ece: float = 0.05
) -> dict[str, Any] | None:
    """The recalibration and calibration check of a classifier on its holdout.

    Args:
        labels: true labels of the holdout rows.
        proba: the model's class probabilities on those rows, columns in the order of ``classes``.
        classes: the model's classes.
        max_ece: the expected calibration error above which the check warns.

    Returns:
        JSON with the isotonic ``curves``, ``ece_raw`` (the model's own scores), ``ece_calibrated``
        (cross-fitted), holdout accuracy and row count, a reliability table and ``warnings``; None when
        there are no probabilities.
    """
    if proba is None or not len(classes) or proba.shape[1] != len(classes):
        return None
    keys = [category_key(c) for c in classes]
    index = {k: i for i, k in enumerate(keys)}
    y = np.array([index.get(category_key(v), -1) for v in labels])
    keep = y >= 0
    proba, y = np.asarray(proba, dtype="float64")[keep], y[keep]
    n = len(y)
    warnings: list[str] = []
    if n < 2 or len(np.unique(y)) < 2:
        return {
            "classes": keys,
            "curves": None,
            "holdout_rows": n,
            "warnings": [
                "the holdout holds fewer than two classes, so the scores cannot be calibrated; no estimates"
            ],
        }
    pred = proba.argmax(axis=1)
    conf = proba.max(axis=1)
    raw = ece(conf, pred == y)
    half = np.arange(n) % 2 == 0
    cross = np.empty_like(proba)
    for fit, evaluate in ((half, ~half), (~half, half)):
        cross[evaluate] = _apply(_curves(proba[fit], y[fit]), proba[evaluate])
    picked = cross[np.arange(n), pred]
    calibrated = ece(picked, pred == y)
    if n < MIN_CALIBRATION_ROWS:
        warnings.append(
            f"the holdout has only {n} rows; calibration and estimates are rough "
            f"(at least {MIN_CALIBRATION_ROWS} recommended)"
        )
    if raw > max_ece:
        warnings.append(
            f"the model's probabilities are poorly calibrated on the holdout (ECE {raw:.3f} > "
            f"{max_ece}); estimates use an isotonic recalibration (cross-fitted ECE {calibrated:.3f})"
        )
    if calibrated > max_ece:
        warnings.append(
            f"even recalibrated, scores are off by ECE {calibrated:.3f} > {max_ece}; "
            "treat estimated performance as unreliable"
        )
    idx = np.minimum((conf * ECE_BINS).astype(int), ECE_BINS - 1)
    counts = np.bincount(idx, minlength=ECE_BINS)
    with np.errstate(divide="ignore", invalid="ignore"):
        reliability = {
            "confidence": (np.bincount(idx, weights=conf, minlength=ECE_BINS) / counts).tolist(),
            "accuracy": (
                np.bincount(idx, weights=(pred == y).astype(float), minlength=ECE_BINS) / counts
            ).tolist(),
            "count": counts.tolist(),
        }
    reliability = {
        k: [None if isinstance(v, float) and not np.isfinite(v) else v for v in vals]
        for k, vals in reliability.items()
    }
    return {
        "classes": keys,
        "curves": _curves(proba, y),
        "ece_raw": raw,
        "ece_calibrated": calibrated,
        "max_ece": max_ece,
        "holdout_rows": n,
        "holdout_correct": int((pred == y).sum()),
        "holdout_accuracy": float((pred == y).mean()),
        "reliability": reliability,
        "warnings": warnings,
    }


def calibrate(calibration: dict[str, Any], proba: np.ndarray) -> np.ndarray:
    """Calibrated class probabilities of rows (``rows × classes``)."""
    return _apply(calibration["curves"], np.asarray(proba, dtype="float64"))


def confusion_metrics(cm: np.ndarray, keys: Sequence[str]) -> dict[str, float | None]:
    """Accuracy, precision, recall and F1 (of the second class when binary, macro-averaged otherwise) from a
    confusion matrix of true (rows) × predicted (columns) counts, which may be expected counts."""
    n = cm.sum()
    if n <= 0:
        return {"accuracy": None, "precision": None, "recall": None, "f1": None}
    tp = np.diag(cm)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(cm.sum(axis=0) > 0, tp / cm.sum(axis=0), 0.0)
        recall = np.where(cm.sum(axis=1) > 0, tp / cm.sum(axis=1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    pick = slice(1, 2) if len(keys) == 2 else slice(None)
    return {
        "accuracy": float(tp.sum() / n),
        "precision": float(precision[pick].mean()),
        "recall": float(recall[pick].mean()),
        "f1": float(f1[pick].mean()),
    }


class PerformanceCounts:
    """Realized and estimated confusion matrices of a window, updated chunk by chunk.

    Args:
        classes: the model's classes (None for a regressor).
        calibration: the version's :func:`build_calibration` output, or None (no estimates).
    """

    def __init__(self, classes: Sequence[Any] | None, calibration: dict[str, Any] | None) -> None:
        self.keys = [category_key(c) for c in classes] if classes else []
        self._index = {k: i for i, k in enumerate(self.keys)}
        k = len(self.keys)
        self.realized = np.zeros((k, k))
        self.expected = np.zeros((k, k))
        self.variance = 0.0  # Σ q(1 − q) of each row's chance to be right, for the estimate's error
        self.estimated_correct = 0.0  # Σ q over labelled rows, to compare realized with estimated
        self.labelled_variance = 0.0
        self.scored = 0
        self.calibration = calibration if calibration and calibration.get("curves") else None
        self.unknown_labels = 0
        self.errors = np.zeros(3)  # regression: n, Σ|e|, Σe²
        self.label_counts: dict[str, int] = {}

    def _indices(self, values: Any) -> np.ndarray:
        s = pd.Series(values)
        mapping = {v: self._index.get(category_key(v), -1) for v in s.dropna().unique()}
        return s.map(mapping).fillna(-1).to_numpy(dtype=np.int64)

    def add(self, predictions: Any, probabilities: Any, labels: Any | None) -> None:
        """Add a chunk: predictions, class probabilities (rows × classes, or None) and labels (None where
        no feedback has arrived)."""
        labelled = None if labels is None else pd.Series(labels).notna().to_numpy()
        if labels is not None:
            for key, n in pd.Series(labels).dropna().map(category_key).value_counts().items():
                self.label_counts[str(key)] = self.label_counts.get(str(key), 0) + int(n)
        if not self.keys:
            if labelled is not None and labelled.any():
                err = pd.to_numeric(pd.Series(predictions)[labelled], errors="coerce").to_numpy(
                    float
                ) - pd.to_numeric(pd.Series(labels)[labelled], errors="coerce").to_numpy(float)
                err = err[np.isfinite(err)]
                self.errors += [len(err), np.abs(err).sum(), np.square(err).sum()]
            return
        pred = self._indices(predictions)
        q = None
        if self.calibration is not None and probabilities is not None:
            proba = np.asarray(probabilities, dtype="float64")
            ok = (pred >= 0) & np.isfinite(proba).all(axis=1)
            q = calibrate(self.calibration, proba[ok])
            k = len(self.keys)
            self.expected += np.stack([np.bincount(pred[ok], weights=q[:, i], minlength=k) for i in range(k)])
            right = q[np.arange(len(q)), pred[ok]]
            self.variance += float((right * (1 - right)).sum())
            self.scored += int(ok.sum())
            if labelled is not None:
                lab = labelled[ok]
                self.estimated_correct += float(right[lab].sum())
                self.labelled_variance += float((right[lab] * (1 - right[lab])).sum())
        if labelled is not None and labelled.any():
            truth = self._indices(pd.Series(labels)[labelled])
            p = pred[labelled]
            good = (truth >= 0) & (p >= 0)
            self.unknown_labels += int((~good).sum())
            np.add.at(self.realized, (truth[good], p[good]), 1)

    def result(self, settings_min_drop: float, alpha: float) -> dict[str, Any]:
        """Realized and estimated metrics, the drop test against the holdout, and messages."""
        out: dict[str, Any] = {
            "labelled_rows": int(self.realized.sum()) if self.keys else int(self.errors[0]),
            "messages": [],
        }
        if not self.keys:
            n, abs_sum, sq_sum = self.errors
            out["realized"] = {"mae": abs_sum / n, "rmse": float(np.sqrt(sq_sum / n))} if n else None
            out["estimated"] = None
            out["messages"].append("estimated performance is for classifiers; this model is a regressor")
            if not n:
                out["messages"].append("no feedback labels for this window yet, so no realized performance")
            return out
        labelled = out["labelled_rows"]
        out["realized"] = confusion_metrics(self.realized, self.keys) if labelled else None
        if not labelled:
            out["messages"].append("no feedback labels for this window yet, so no realized performance")
        if self.unknown_labels:
            out["messages"].append(
                f"{self.unknown_labels} label(s) are not among the model's classes "
                f"{self.keys} and were left out"
            )
        if self.calibration is None:
            out["estimated"] = None
            out["messages"].append(
                "the version has no calibration data (trained before monitoring, or without "
                "probabilities), so performance cannot be estimated before labels arrive"
            )
        elif self.scored:
            est = confusion_metrics(self.expected, self.keys)
            est["accuracy_se"] = float(np.sqrt(self.variance)) / self.scored
            est["rows"] = self.scored
            out["estimated"] = est
            out["calibration"] = {
                k: self.calibration.get(k) for k in ("ece_raw", "ece_calibrated", "max_ece")
            }
            out["messages"].extend(self.calibration.get("warnings", []))
        else:
            out["estimated"] = None
        out["tests"] = self._tests(labelled, settings_min_drop, alpha)
        return out

    def _tests(self, labelled: int, min_drop: float, alpha: float) -> dict[str, Any]:
        tests: dict[str, Any] = {}
        cal = self.calibration
        if not labelled:
            return tests
        correct = float(np.trace(self.realized))
        if cal is not None and cal.get("holdout_rows"):
            z, p = two_proportion_z(cal["holdout_correct"], cal["holdout_rows"], correct, labelled)
            z0, p0 = float(z), float(p)
            one_sided = p0 / 2 if z0 < 0 else 1 - p0 / 2
            drop = cal["holdout_accuracy"] - correct / labelled
            tests["accuracy_drop"] = {
                "method": "two-proportion z (one-sided)",
                "reference_accuracy": cal["holdout_accuracy"],
                "accuracy": correct / labelled,
                "drop": drop,
                "statistic": z0,
                "p_value": one_sided,
                "min_drop": min_drop,
                "drifted": bool(one_sided < alpha and drop >= min_drop),
            }
        if self.labelled_variance > 0:
            gap = (correct - self.estimated_correct) / labelled
            z_gap = (correct - self.estimated_correct) / float(np.sqrt(self.labelled_variance))
            p_gap = float(sps.norm.cdf(z_gap))
            tests["below_estimate"] = {
                "method": "realized vs estimated correct rows (one-sided z)",
                "estimated_accuracy": self.estimated_correct / labelled,
                "accuracy": correct / labelled,
                "gap": gap,
                "statistic": z_gap,
                "p_value": p_gap,
                "min_drop": min_drop,
                "drifted": bool(p_gap < alpha and -gap >= min_drop),
                "meaning": "labels disagree with the model more than its calibrated confidence predicts: "
                "the relation between inputs and label changed (concept drift)",
            }
        return tests
