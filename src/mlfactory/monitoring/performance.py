"""Performance: realized from feedback labels, and estimated from the model's probabilities before labels
arrive.

The estimate is confidence-based performance estimation (CBPE): the model's scores are recalibrated on the
reference holdout with isotonic regression (one-vs-rest per class, block means smoothed by a Jeffreys prior
so a block of only hits or only misses does not claim certainty), and the expected confusion matrix of a
window is the sum of the calibrated class probabilities of its rows, by predicted class.

The estimate is unbiased only under covariate shift that the recalibrated scores still describe: the label
given the inputs is unchanged *and* rows with equal scores are still alike in their chance to be right. It
cannot see concept drift (nothing without labels can), and when a misspecified model meets inputs unlike its
holdout the calibration need not carry over. So the report says:

* how sure the estimate is: its standard error adds the uncertainty of the calibration itself (the spread
  of the estimate over recalibrations fitted on bootstrap resamples of the holdout, stored at training time)
  to the binomial spread of the window's own rows;
* whether the window stays where the calibration was fitted: the holdout's rows are reweighted to the
  window's distribution of (predicted class, confidence); when the share of the holdout that effectively
  remains falls below :data:`MIN_HOLDOUT_SHARE`, the estimate is marked unreliable;
* concept drift only from labelled rows: enough of them, realized accuracy significantly below the estimate
  (calibration uncertainty included), and an estimate that is not marked unreliable; otherwise undecided.

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
BOOTSTRAP_REPLICATES = 100  # recalibrations on holdout resamples; the SE of their spread is about 7%
BOOTSTRAP_GRID = 33  # each replicate is stored at this many quantiles of the holdout's scores
SUPPORT_BINS = 10  # confidence bins (holdout deciles) per predicted class, for the support check
MIN_HOLDOUT_SHARE = 0.5  # below this effective share of the holdout the estimate is marked unreliable
MIN_CONCEPT_ROWS = 100  # labelled rows needed before realized-vs-estimated may claim concept drift


def ece(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: the row-weighted gap between confidence and accuracy, over equal bins."""
    if not len(confidence):
        return float("nan")
    idx = np.minimum((np.asarray(confidence) * bins).astype(int), bins - 1)
    conf = np.bincount(idx, weights=confidence, minlength=bins)
    acc = np.bincount(idx, weights=correct.astype("float64"), minlength=bins)
    return float(np.abs(conf - acc).sum() / len(confidence))


def _pool(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted isotonic (increasing) regression by pool-adjacent-violators: (block starts, block values)."""
    try:
        from scipy.optimize import isotonic_regression  # SciPy ≥ 1.12: a C loop, far faster
    except ImportError:  # pragma: no cover - older SciPy
        from sklearn.isotonic import IsotonicRegression

        fitted = IsotonicRegression().fit_transform(np.arange(len(values)), values, sample_weight=weights)
        starts = np.flatnonzero(np.r_[True, np.diff(fitted) != 0])
        return starts, fitted[starts]
    fit = isotonic_regression(values, weights=weights)
    starts = np.asarray(fit.blocks[:-1])
    return starts, np.asarray(fit.x)[starts]


def _fit_curve(score: np.ndarray, hit: np.ndarray) -> dict[str, list[float]]:
    """Isotonic regression of hits on scores, each block's mean smoothed to (hits + ½) / (rows + 1).

    Plain isotonic regression puts 0 or 1 on the end blocks (a run of misses below the first hit), and
    those blocks are picked by the data, so on a few hundred holdout rows the estimate comes out about
    a point too optimistic; the smoothing removes that bias and leaves large blocks as they were.
    """
    xs, inverse = np.unique(score, return_inverse=True)
    x, y = _fit_counts(xs, np.bincount(inverse).astype("float64"), np.bincount(inverse, weights=hit))
    return {"x": x.tolist(), "y": y.tolist()}


def _fit_counts(xs: np.ndarray, rows: np.ndarray, hits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_fit_curve`'s thresholds from rows and hits per distinct score (ascending; scores without
    rows are skipped)."""
    some = rows > 0
    xs, rows, hits = xs[some], rows[some], hits[some]
    starts, _ = _pool(hits / rows, rows)
    block_rows = np.add.reduceat(rows, starts)
    smooth = (np.add.reduceat(hits, starts) + 0.5) / (block_rows + 1.0)
    if (np.diff(smooth) < 0).any():  # smoothing undid the order of two small neighbouring blocks: pool again
        again, values = _pool(smooth, block_rows)
        smooth = np.repeat(values, np.diff(np.append(again, len(smooth))))
    ends = np.append(starts[1:], len(xs)) - 1
    x = np.column_stack([xs[starts], xs[ends]]).ravel()
    keep = np.ones(len(x), dtype=bool)
    keep[1:] = x[1:] > x[:-1]
    return x[keep], np.repeat(smooth, 2)[keep]


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


def _bootstrap(proba: np.ndarray, y: np.ndarray, replicates: int = BOOTSTRAP_REPLICATES) -> dict[str, Any]:
    """Recalibrations fitted on bootstrap resamples of the holdout, each stored at fixed score quantiles.

    The spread of a window's estimate over these replicates is the calibration's share of its error: a
    holdout of a few hundred rows leaves the curve uncertain by more than the window's own rows do.
    """
    rng = np.random.default_rng(0)  # the same holdout always stores the same replicates
    k, n = proba.shape[1], len(y)
    targets = [1] if k == 2 else list(range(k))
    levels = np.linspace(0.0, 1.0, BOOTSTRAP_GRID)
    grids = [np.unique(np.quantile(proba[:, j], levels)) for j in targets]
    distinct = [np.unique(proba[:, j], return_inverse=True) for j in targets]
    values = []
    for _ in range(replicates):
        weight = np.bincount(rng.integers(0, n, n), minlength=n).astype("float64")  # a resample's rows
        curves = [  # (x, y) thresholds per curve
            _fit_counts(
                xs,
                np.bincount(inverse, weights=weight, minlength=len(xs)),
                np.bincount(inverse, weights=weight * (y == j), minlength=len(xs)),
            )
            for j, (xs, inverse) in zip(targets, distinct, strict=True)
        ]
        values.append(
            [np.round(np.interp(g, x, y), 5).tolist() for g, (x, y) in zip(grids, curves, strict=True)]
        )
    return {"grid": [g.tolist() for g in grids], "replicates": values}


def _support(proba: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """Holdout rows per (predicted class, confidence decile): the region the calibration was fitted on."""
    conf = proba.max(axis=1)
    edges = np.unique(np.quantile(conf, np.linspace(0.0, 1.0, SUPPORT_BINS + 1)[1:-1]))
    cell = np.searchsorted(edges, conf, side="right")
    counts = np.zeros((proba.shape[1], len(edges) + 1), dtype=np.int64)
    np.add.at(counts, (pred, cell), 1)
    return {"edges": edges.tolist(), "counts": counts.tolist(), "by_class": True}


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
        (cross-fitted), holdout accuracy and row count, a reliability table, the ``bootstrap``
        recalibrations (for the estimate's error), the ``support`` (holdout rows per predicted class and
        confidence, for the check that a window stays where the calibration was fitted) and ``warnings``;
        None when there are no probabilities.
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
        "bootstrap": _bootstrap(proba, y),
        "support": _support(proba, pred),
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


def holdout_share(holdout: np.ndarray, window: np.ndarray) -> float:
    """The share of the holdout that remains when its rows are reweighted to the window's distribution.

    With cell shares h (holdout, smoothed by half a row so an empty cell gets a large finite weight) and c
    (window), importance weights c/h leave an effective 1 / Σ c²/h of the holdout's rows (Kish's effective
    sample size): 1 when the window looks like the holdout, small when it sits where the holdout was thin.
    c² is estimated without bias, c·(c−1) / (n·(n−1)) in counts, so small windows do not look shifted.

    Args:
        holdout: holdout rows per cell.
        window: window rows per cell, same cells.

    Returns:
        The effective share in (0, 1]; NaN when the window has fewer than two rows.
    """
    h, c = np.asarray(holdout, dtype="float64").ravel(), np.asarray(window, dtype="float64").ravel()
    n = c.sum()
    if n < 2:
        return float("nan")
    hs = (h + 0.5) / (h.sum() + 0.5 * len(h))
    second = float((c * (c - 1) / (n * (n - 1)) / hs).sum())
    return 1.0 / max(second, 1.0)


class _Replicates:
    """The stored bootstrap recalibrations, applied to many rows at once (all share one score grid)."""

    def __init__(self, boot: dict[str, Any]) -> None:
        self.grids = [np.asarray(g, dtype="float64") for g in boot["grid"]]
        self.values = [  # per curve: replicates × grid
            np.asarray([rep[j] for rep in boot["replicates"]], dtype="float64")
            for j in range(len(self.grids))
        ]

    @staticmethod
    def _interp(grid: np.ndarray, values: np.ndarray, score: np.ndarray) -> np.ndarray:
        """``np.interp`` of every replicate at once: replicates × rows."""
        if len(grid) == 1:
            return np.repeat(values[:, :1], len(score), axis=1)
        i = np.clip(np.searchsorted(grid, score, side="right") - 1, 0, len(grid) - 2)
        f = np.clip((score - grid[i]) / (grid[i + 1] - grid[i]), 0.0, 1.0)
        return values[:, i] * (1.0 - f) + values[:, i + 1] * f

    def right(self, proba: np.ndarray, pred: np.ndarray) -> np.ndarray:
        """Each replicate's calibrated probability that each row's prediction is right: replicates × rows."""
        if len(self.grids) == 1:  # binary: one curve for the second class
            p1 = self._interp(self.grids[0], self.values[0], proba[:, 1])
            return np.where(pred == 1, p1, 1.0 - p1)
        q = np.stack(
            [
                self._interp(g, v, proba[:, j])
                for j, (g, v) in enumerate(zip(self.grids, self.values, strict=True))
            ]
        )
        total = q.sum(axis=0)
        picked = q[pred, :, np.arange(len(pred))].T
        return np.divide(picked, total, out=np.full_like(total, 1.0 / len(self.grids)), where=total > 0)


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
        self.labelled_scored = 0  # labelled rows with scores and a known label: the gap test's rows
        self.labelled_hits = 0  # of those, rows the model got right
        self.scored = 0
        self.calibration = calibration if calibration and calibration.get("curves") else None
        self.unknown_labels = 0
        self.errors = np.zeros(3)  # regression: n, Σ|e|, Σe²
        self.label_counts: dict[str, int] = {}
        cal = self.calibration or {}
        boot = cal.get("bootstrap")
        self._replicates = _Replicates(boot) if boot else None
        # Σ q over all scored rows and over labelled rows, under each bootstrap recalibration
        replicates = len(boot["replicates"]) if boot else 0
        self.boot_correct = np.zeros(replicates)
        self.boot_labelled = np.zeros(replicates)
        self._support = _stored_support(cal) if self.calibration else None
        self.cells = np.zeros_like(self._support[1]) if self._support else None

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
        truth = self._indices(labels) if labels is not None else np.full(len(pred), -1)
        if self.calibration is not None and probabilities is not None:
            self._add_estimate(pred, np.asarray(probabilities, dtype="float64"), truth)
        if labelled is not None and labelled.any():
            t, p = truth[labelled], pred[labelled]
            good = (t >= 0) & (p >= 0)
            self.unknown_labels += int((~good).sum())
            np.add.at(self.realized, (t[good], p[good]), 1)

    def _add_estimate(self, pred: np.ndarray, proba: np.ndarray, truth: np.ndarray) -> None:
        """Add scored rows; ``truth`` is each row's label index, −1 where none (or not a class)."""
        assert self.calibration is not None
        ok = (pred >= 0) & np.isfinite(proba).all(axis=1)
        proba, pred, truth = proba[ok], pred[ok], truth[ok]
        q = calibrate(self.calibration, proba)
        k = len(self.keys)
        self.expected += np.stack([np.bincount(pred, weights=q[:, i], minlength=k) for i in range(k)])
        rows = np.arange(len(q))
        right = q[rows, pred]
        self.variance += float((right * (1 - right)).sum())
        self.scored += int(ok.sum())
        lab = truth >= 0
        self.labelled_hits += int((truth[lab] == pred[lab]).sum())
        self.estimated_correct += float(right[lab].sum())
        self.labelled_variance += float((right[lab] * (1 - right[lab])).sum())
        self.labelled_scored += int(lab.sum())
        if self._replicates is not None:
            for part in np.array_split(rows, max(1, len(rows) // 4096)):  # bounds replicates × rows memory
                right_b = self._replicates.right(proba[part], pred[part])
                self.boot_correct += right_b.sum(axis=1)
                self.boot_labelled += right_b[:, lab[part]].sum(axis=1)
        if self._support is not None and self.cells is not None:
            edges, _, by_class = self._support
            cell = np.searchsorted(edges, proba.max(axis=1), side="right")
            np.add.at(self.cells, (pred if by_class else np.zeros_like(pred), cell), 1)

    def _calibration_variance(self, correct: np.ndarray, rows: int, accuracy: float, share: float) -> float:
        """Variance of an estimated share of right rows that comes from the calibration itself.

        From the bootstrap recalibrations when the version stored them; for versions registered before,
        the binomial variance of the holdout's accuracy on its effective rows (holdout rows × share).
        """
        if rows <= 0:
            return 0.0
        if len(correct) > 1:
            return float(np.var(correct / rows, ddof=1))
        assert self.calibration is not None
        n_h = self.calibration.get("holdout_rows") or 0
        if n_h <= 0:
            return 0.0
        effective = n_h * (share if np.isfinite(share) else 1.0)
        return accuracy * (1.0 - accuracy) / max(effective, 1.0)

    def estimate_check(self) -> dict[str, Any]:
        """Does the window stay where the calibration was fitted? The holdout's effective share after
        reweighting to the window's (predicted class, confidence) cells, and the share of window rows in
        cells the holdout never had."""
        if self._support is None or self.cells is None or self.scored < 2:
            return {"reliable": None, "holdout_share": None, "outside_share": None}
        _, holdout, _ = self._support
        share = holdout_share(holdout, self.cells)
        outside = float(self.cells[holdout == 0].sum() / self.scored)
        return {
            "method": "holdout reweighted to the window's (predicted class, confidence) cells "
            "(Kish effective share)",
            "holdout_share": share,
            "outside_share": outside,
            "min_holdout_share": MIN_HOLDOUT_SHARE,
            "reliable": bool(share >= MIN_HOLDOUT_SHARE),
        }

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
        check: dict[str, Any] = {}
        if self.calibration is None:
            out["estimated"] = None
            out["messages"].append(
                "the version has no calibration data (trained before monitoring, or without "
                "probabilities), so performance cannot be estimated before labels arrive"
            )
        elif self.scored:
            check = self.estimate_check()
            out["estimated"] = self._estimated(check, alpha)
            out["estimate_check"] = check
            out["calibration"] = {
                k: self.calibration.get(k) for k in ("ece_raw", "ece_calibrated", "max_ece")
            }
            out["messages"].extend(self.calibration.get("warnings", []))
            out["messages"].extend(self._estimate_messages(check))
        else:
            out["estimated"] = None
        out["tests"] = self._tests(labelled, settings_min_drop, alpha, check)
        return out

    def _estimated(self, check: dict[str, Any], alpha: float) -> dict[str, Any]:
        est: dict[str, Any] = confusion_metrics(self.expected, self.keys)
        accuracy = float(est["accuracy"])
        share = check.get("holdout_share")
        share = float("nan") if share is None else share
        sampling = self.variance / self.scored**2
        calibration = self._calibration_variance(self.boot_correct, self.scored, accuracy, share)
        se = float(np.sqrt(sampling + calibration))
        z = float(sps.norm.ppf(1 - alpha / 2))
        est["accuracy_se"] = se
        est["accuracy_low"] = max(0.0, accuracy - z * se)
        est["accuracy_high"] = min(1.0, accuracy + z * se)
        est["reliable"] = check.get("reliable")
        est["rows"] = self.scored
        check["sampling_se"] = float(np.sqrt(sampling))
        check["calibration_se"] = float(np.sqrt(calibration))
        check["interval"] = (
            f"{1 - alpha:.0%} for the window's realized accuracy: the window's own binomial spread plus the "
            + (
                f"spread over {len(self.boot_correct)} bootstrap recalibrations of the holdout"
                if len(self.boot_correct) > 1
                else "holdout accuracy's binomial spread on its effective rows (no bootstrap stored)"
            )
        )
        return est

    def _estimate_messages(self, check: dict[str, Any]) -> list[str]:
        messages = []
        if self._support is not None and not self._support[2]:
            messages.append(
                "the version was registered before the estimate stored its bootstrap and support: the "
                "calibration's uncertainty is approximated from the holdout's size and the support check "
                "uses confidence only; retrain for both"
            )
        if check.get("reliable") is False:
            messages.append(
                "the estimate is unreliable: this window's scores are unlike the holdout's the calibration "
                f"was fitted on (reweighted to the window, {check['holdout_share']:.0%} of the holdout "
                f"remains; {check['outside_share']:.0%} of rows fall where it had none). "
                "The estimate assumes the calibration carries over to these inputs, which holds only "
                "if the label given the inputs is "
                "unchanged and the model's scores capture it; wait for labels"
            )
        return messages

    def _tests(self, labelled: int, min_drop: float, alpha: float, check: dict[str, Any]) -> dict[str, Any]:
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
        if self.labelled_variance > 0 and self.labelled_scored:
            tests["below_estimate"] = self._below_estimate(min_drop, alpha, check)
        return tests

    def _below_estimate(self, min_drop: float, alpha: float, check: dict[str, Any]) -> dict[str, Any]:
        """Realized vs estimated accuracy on the same labelled, scored rows; concept drift only when that
        is decidable."""
        n = self.labelled_scored
        estimated = self.estimated_correct / n
        realized = self.labelled_hits / n
        gap = realized - estimated
        variance = self.labelled_variance / n**2 + self._calibration_variance(
            self.boot_labelled, n, estimated, check.get("holdout_share") or float("nan")
        )
        z_gap = gap / float(np.sqrt(variance))
        p_gap = float(sps.norm.cdf(z_gap))
        below = bool(p_gap < alpha and -gap >= min_drop)
        why = None
        if n < MIN_CONCEPT_ROWS:
            why = f"only {n} labelled rows with scores; concept drift is decided from {MIN_CONCEPT_ROWS}"
        elif check.get("reliable") is None:
            why = (
                "the version stores no support of its calibration, so a gap cannot be told from an "
                "estimate that does not carry over"
            )
        elif check.get("reliable") is False:
            why = (
                "the window's scores left the region the calibration was fitted on, so a gap may be the "
                "estimate failing to carry over rather than concept drift; accuracy_drop says whether "
                "performance fell"
            )
        return {
            "method": "realized vs estimated accuracy on labelled rows (one-sided z, calibration "
            "uncertainty included)",
            "rows": n,
            "estimated_accuracy": estimated,
            "accuracy": realized,
            "gap": gap,
            "statistic": z_gap,
            "p_value": p_gap,
            "min_drop": min_drop,
            "below": below,
            "drifted": None if why else below,
            "undecided": why,
            "meaning": "labels disagree with the model more than its calibrated confidence predicts, on "
            "inputs like the holdout's: the relation between inputs and label changed (concept drift)",
        }


def _stored_support(calibration: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, bool] | None:
    """The holdout's cells: (inner confidence edges, rows per cell, whether cells split by predicted
    class). Versions registered before the support was stored fall back to the reliability table's
    equal-width confidence bins."""
    support = calibration.get("support")
    if support:
        return (
            np.asarray(support["edges"], dtype="float64"),
            np.asarray(support["counts"], dtype=np.int64),
            bool(support.get("by_class", True)),
        )
    counts = (calibration.get("reliability") or {}).get("count")
    if not counts:
        return None
    edges = np.arange(1, len(counts)) / len(counts)
    return edges, np.asarray([counts], dtype=np.int64), False
