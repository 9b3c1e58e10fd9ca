"""Calibration, fitted once at training on the holdout: the isotonic recalibration of a classifier's scores
that the label-free estimate uses (see :mod:`mlfactory.monitoring.estimate`), its honest (cross-fitted)
calibration error, the bootstrap recalibrations that carry its uncertainty, and the holdout's support.

The recalibration is one-vs-rest isotonic regression per class (one curve for the second class when binary),
block means smoothed by a Jeffreys prior so a block of only hits or only misses does not claim certainty.
The calibration check fits the recalibration on one half of the holdout and measures the expected
calibration error (ECE) on the other half (and the other way round), so the reported error is honest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlfactory.data.profile import category_key

ECE_BINS = 10
MIN_CALIBRATION_ROWS = 200
BOOTSTRAP_REPLICATES = 100  # recalibrations on holdout resamples; the SE of their spread is about 7%
BOOTSTRAP_GRID = 33  # each replicate is stored at this many quantiles of the holdout's scores
SUPPORT_BINS = 10  # confidence bins (holdout deciles) per predicted class, for the support check


Curve = dict[str, list[float]]  # an isotonic curve's thresholds: {"x": scores, "y": calibrated values}


@dataclass(frozen=True)
class Calibration:
    """A classifier's calibration on its holdout, as stored with the version (``monitoring.calibration``).

    Attributes:
        classes: the model's classes, as category keys.
        curves: the isotonic recalibration (one curve for the second class when binary, else one per
            class); None when the holdout could not calibrate (fewer than two classes): no estimates.
        holdout_rows: holdout rows with a known class.
        warnings: what the calibration check found.
        ece_raw, ece_calibrated, max_ece: the model's own calibration error, the recalibration's
            (cross-fitted) and the threshold the check warns above.
        holdout_correct, holdout_accuracy: the model's hits and accuracy on the holdout.
        reliability: mean confidence, accuracy and rows per confidence bin.
        bootstrap: recalibrations on holdout resamples (``grid``, ``replicates``); None in versions
            registered before it.
        support: holdout rows per predicted class and confidence (``edges``, ``counts``, ``by_class``);
            None in versions registered before it.
    """

    classes: tuple[str, ...]
    curves: tuple[Curve, ...] | None
    holdout_rows: int
    warnings: tuple[str, ...] = ()
    ece_raw: float | None = None
    ece_calibrated: float | None = None
    max_ece: float | None = None
    holdout_correct: int = 0
    holdout_accuracy: float = 0.0
    reliability: dict[str, list[Any]] | None = None
    bootstrap: dict[str, Any] | None = None
    support: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The calibration as stored (keys a version registered before them lacks stay out)."""
        if self.curves is None:
            return {
                "classes": list(self.classes),
                "curves": None,
                "holdout_rows": self.holdout_rows,
                "warnings": list(self.warnings),
            }
        out: dict[str, Any] = {
            "classes": list(self.classes),
            "curves": list(self.curves),
            "ece_raw": self.ece_raw,
            "ece_calibrated": self.ece_calibrated,
            "max_ece": self.max_ece,
            "holdout_rows": self.holdout_rows,
            "holdout_correct": self.holdout_correct,
            "holdout_accuracy": self.holdout_accuracy,
            "reliability": self.reliability,
        }
        if self.bootstrap is not None:
            out["bootstrap"] = self.bootstrap
        if self.support is not None:
            out["support"] = self.support
        out["warnings"] = list(self.warnings)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Calibration:
        """A stored calibration read back."""
        curves = data.get("curves")
        return cls(
            classes=tuple(str(c) for c in data.get("classes") or ()),
            curves=None if curves is None else tuple(curves),
            holdout_rows=int(data.get("holdout_rows") or 0),
            warnings=tuple(data.get("warnings") or ()),
            ece_raw=data.get("ece_raw"),
            ece_calibrated=data.get("ece_calibrated"),
            max_ece=data.get("max_ece"),
            holdout_correct=int(data.get("holdout_correct") or 0),
            holdout_accuracy=float(data.get("holdout_accuracy") or 0.0),
            reliability=data.get("reliability"),
            bootstrap=data.get("bootstrap"),
            support=data.get("support"),
        )


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


def _apply(curves: Sequence[Curve], proba: np.ndarray) -> np.ndarray:
    if len(curves) == 1:  # binary: one curve for the second class
        p1 = np.interp(proba[:, 1], curves[0]["x"], curves[0]["y"])
        return np.column_stack([1.0 - p1, p1])
    q = np.column_stack([np.interp(proba[:, j], c["x"], c["y"]) for j, c in enumerate(curves)])
    total = q.sum(axis=1, keepdims=True)
    return np.asarray(np.divide(q, total, out=np.full_like(q, 1.0 / q.shape[1]), where=total > 0))


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


def _label_indices(labels: Any, classes: Sequence[Any]) -> tuple[list[str], np.ndarray]:
    """The classes as category keys, and each label's class index (-1 when not a class)."""
    keys = [category_key(c) for c in classes]
    index = {k: i for i, k in enumerate(keys)}
    return keys, np.array([index.get(category_key(v), -1) for v in labels])


def _cross_fitted(proba: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each half of the holdout's probabilities recalibrated by curves fitted on the other half."""
    half = np.arange(len(y)) % 2 == 0
    cross = np.empty_like(proba)
    for fit, evaluate in ((half, ~half), (~half, half)):
        cross[evaluate] = _apply(_curves(proba[fit], y[fit]), proba[evaluate])
    return cross


def _warnings(n: int, raw: float, calibrated: float, max_ece: float) -> list[str]:
    warnings = []
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
    return warnings


def _reliability(conf: np.ndarray, hit: np.ndarray) -> dict[str, list[Any]]:
    """Mean confidence, accuracy and rows per equal-width confidence bin (None for an empty bin)."""
    idx = np.minimum((conf * ECE_BINS).astype(int), ECE_BINS - 1)
    counts = np.bincount(idx, minlength=ECE_BINS)
    with np.errstate(divide="ignore", invalid="ignore"):
        reliability = {
            "confidence": (np.bincount(idx, weights=conf, minlength=ECE_BINS) / counts).tolist(),
            "accuracy": (np.bincount(idx, weights=hit.astype(float), minlength=ECE_BINS) / counts).tolist(),
            "count": counts.tolist(),
        }
    return {
        k: [None if isinstance(v, float) and not np.isfinite(v) else v for v in vals]
        for k, vals in reliability.items()
    }


def build_calibration(
    labels: Any, proba: np.ndarray, classes: Sequence[Any], max_ece: float = 0.05
) -> Calibration | None:
    """The recalibration and calibration check of a classifier on its holdout.

    Args:
        labels: true labels of the holdout rows.
        proba: the model's class probabilities on those rows, columns in the order of ``classes``.
        classes: the model's classes.
        max_ece: the expected calibration error above which the check warns.

    Returns:
        The isotonic ``curves``, ``ece_raw`` (the model's own scores), ``ece_calibrated`` (cross-fitted),
        holdout accuracy and row count, a reliability table, the ``bootstrap`` recalibrations (for the
        estimate's error), the ``support`` (holdout rows per predicted class and confidence, for the check
        that a window stays where the calibration was fitted) and ``warnings``; None when there are no
        probabilities. Stored with the version as :meth:`Calibration.to_json`.
    """
    if proba is None or not len(classes) or proba.shape[1] != len(classes):
        return None
    keys, y = _label_indices(labels, classes)
    keep = y >= 0
    proba, y = np.asarray(proba, dtype="float64")[keep], y[keep]
    n = len(y)
    if n < 2 or len(np.unique(y)) < 2:
        return Calibration(
            classes=tuple(keys),
            curves=None,
            holdout_rows=n,
            warnings=(
                "the holdout holds fewer than two classes, so the scores cannot be calibrated; no estimates",
            ),
        )
    pred = proba.argmax(axis=1)
    conf = proba.max(axis=1)
    hit = pred == y
    raw = ece(conf, hit)
    calibrated = ece(_cross_fitted(proba, y)[np.arange(n), pred], hit)
    return Calibration(
        classes=tuple(keys),
        curves=tuple(_curves(proba, y)),
        ece_raw=raw,
        ece_calibrated=calibrated,
        max_ece=max_ece,
        holdout_rows=n,
        holdout_correct=int(hit.sum()),
        holdout_accuracy=float(hit.mean()),
        reliability=_reliability(conf, hit),
        bootstrap=_bootstrap(proba, y),
        support=_support(proba, pred),
        warnings=tuple(_warnings(n, raw, calibrated, max_ece)),
    )


def calibrate(calibration: Calibration, proba: np.ndarray) -> np.ndarray:
    """Calibrated class probabilities of rows (``rows × classes``), by a calibration with curves."""
    assert calibration.curves is not None
    return _apply(calibration.curves, np.asarray(proba, dtype="float64"))
