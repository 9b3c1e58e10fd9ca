"""The label-free estimate of a classifier's performance on a window (confidence-based performance
estimation, CBPE), from the calibration stored at training (:mod:`mlfactory.monitoring.calibration`).

The expected confusion matrix of a window is the sum of the calibrated class probabilities of its rows, by
predicted class. The estimate is unbiased only under covariate shift that the recalibrated scores still
describe, so besides it the window gets:

* its standard error: the binomial spread of the window's own rows plus the calibration's uncertainty (the
  spread over the stored bootstrap recalibrations);
* a support check: the holdout's rows reweighted to the window's (predicted class, confidence) cells; when
  the share of the holdout that effectively remains falls below :data:`MIN_HOLDOUT_SHARE`, the estimate is
  marked unreliable;
* the concept-drift test on labelled rows (realized accuracy significantly below the estimate), decided only
  from :data:`MIN_CONCEPT_ROWS` labelled rows and an estimate not marked unreliable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from scipy import special  # not scipy.stats: importing it costs a monitoring run half a second

from mlfactory.monitoring.calibration import Calibration, calibrate
from mlfactory.monitoring.realized import confusion_metrics

MIN_HOLDOUT_SHARE = 0.5  # below this effective share of the holdout the estimate is marked unreliable
MIN_CONCEPT_ROWS = 100  # labelled rows needed before realized-vs-estimated may claim concept drift


@dataclass(frozen=True)
class EstimateCheck:
    """Whether a window stays where the calibration was fitted, and the parts of the estimate's error.

    ``method`` is None when the support could not be checked (a version without it, or under two scored
    rows); ``reliable`` is then None too.
    """

    reliable: bool | None = None
    holdout_share: float | None = None  # effective share of the holdout left after reweighting
    outside_share: float | None = None  # share of window rows in cells the holdout never had
    method: str | None = None
    min_holdout_share: float | None = None
    sampling_se: float | None = None  # the window's own binomial spread
    calibration_se: float | None = None  # the calibration's own uncertainty
    interval: str | None = None  # what the interval covers

    def to_json(self) -> dict[str, Any]:
        """The check as stored under the report's ``performance.estimate_check``."""
        out: dict[str, Any]
        if self.method is None:
            out = {"reliable": self.reliable, "holdout_share": None, "outside_share": None}
        else:
            out = {
                "method": self.method,
                "holdout_share": self.holdout_share,
                "outside_share": self.outside_share,
                "min_holdout_share": self.min_holdout_share,
                "reliable": self.reliable,
            }
        if self.interval is not None:
            out.update(
                sampling_se=self.sampling_se, calibration_se=self.calibration_se, interval=self.interval
            )
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EstimateCheck:
        """The check read back from a stored report."""
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


_ESTIMATE_FIGURES = ("accuracy_se", "accuracy_low", "accuracy_high", "reliable", "rows")


@dataclass(frozen=True)
class Estimate:
    """A window's label-free performance estimate.

    Attributes:
        metrics: accuracy, precision, recall and F1 of the expected confusion matrix.
        accuracy_se: the estimated accuracy's standard error (window and calibration).
        accuracy_low, accuracy_high: its interval at the monitoring's ``alpha``.
        reliable: False when the window left the holdout's support, None when that was not checked.
        rows: scored rows the estimate is made from.
    """

    metrics: dict[str, float | None]
    accuracy_se: float
    accuracy_low: float
    accuracy_high: float
    reliable: bool | None
    rows: int

    def to_json(self) -> dict[str, Any]:
        """The estimate as stored under the report's ``performance.estimated`` (one flat object)."""
        return {
            **self.metrics,
            "accuracy_se": self.accuracy_se,
            "accuracy_low": self.accuracy_low,
            "accuracy_high": self.accuracy_high,
            "reliable": self.reliable,
            "rows": self.rows,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Estimate:
        """The estimate read back from a stored report."""
        return cls(
            metrics={k: v for k, v in data.items() if k not in _ESTIMATE_FIGURES},
            accuracy_se=data.get("accuracy_se") or 0.0,
            accuracy_low=data.get("accuracy_low") or 0.0,
            accuracy_high=data.get("accuracy_high") or 0.0,
            reliable=data.get("reliable"),
            rows=int(data.get("rows") or 0),
        )


@dataclass(frozen=True)
class BelowEstimate:
    """The concept-drift test: realized against estimated accuracy on the same labelled, scored rows."""

    rows: int
    estimated_accuracy: float
    accuracy: float
    gap: float  # realized minus estimated
    statistic: float
    p_value: float
    min_drop: float
    below: bool  # significantly below by at least min_drop
    drifted: bool | None  # ``below`` when decidable, else None (see ``undecided``)
    undecided: str | None
    method: str = (
        "realized vs estimated accuracy on labelled rows (one-sided z, calibration uncertainty included)"
    )
    meaning: str = (
        "labels disagree with the model more than its calibrated confidence predicts, on inputs like the "
        "holdout's: the relation between inputs and label changed (concept drift)"
    )

    def to_json(self) -> dict[str, Any]:
        """The test as stored under the report's ``performance.tests.below_estimate``."""
        return {"method": self.method, **{k: v for k, v in asdict(self).items() if k != "method"}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BelowEstimate:
        """The test read back from a stored report."""
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


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
        self.values = [  # per curve: grid × replicates, so a row's grid point is one contiguous read
            np.ascontiguousarray(np.asarray([rep[j] for rep in boot["replicates"]], dtype="float64").T)
            for j in range(len(self.grids))
        ]

    @staticmethod
    def _interp(grid: np.ndarray, values: np.ndarray, score: np.ndarray) -> np.ndarray:
        """``np.interp`` of every replicate at once: replicates × rows (``values`` is grid × replicates).

        Gathering whole grid rows is about three times faster than gathering replicate columns. The
        products are formed in place, each element from the same two products and sum as
        ``v[i] · (1 − f) + v[i + 1] · f``, and returned transposed (a view): the very array the indexing
        ``values[:, i]`` gave, layout included, so sums over its rows add in the same order and the
        estimate's numbers stay identical (``tests/unit/monitoring/test_fast_paths.py``)."""
        if len(grid) == 1:
            return np.repeat(values.T[:, :1], len(score), axis=1)
        i = np.searchsorted(grid, score, side="right") - 1
        np.clip(i, 0, len(grid) - 2, out=i)
        low = grid[i]
        f = (score - low) / (grid[i + 1] - low)
        np.clip(f, 0.0, 1.0, out=f)
        out = values[i]
        out *= (1.0 - f)[:, None]
        upper = values[i + 1]
        upper *= f[:, None]
        out += upper
        return np.asarray(out.T)

    def right_sums(self, proba: np.ndarray, pred: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Binary models: Σ over the ``rows`` (a mask) of each replicate's chance that the prediction is
        right, without forming replicates × rows.

        A row's interpolated value is ``v[i] · (1 − f) + v[i + 1] · f``, linear in the replicate's grid
        values, so a sum over rows is the grid values weighted by how much of each row falls on each grid
        point: O(rows + grid × replicates) instead of O(rows × replicates). Rows predicted as the first
        class count ``1 − p``. Equal to summing :meth:`right` up to rounding (the additions run in another
        order; ``tests/unit/monitoring/test_fast_paths.py``)."""
        grid, values = self.grids[0], self.values[0]
        positive = pred[rows] == 1
        weights = self._grid_weights(grid, proba[rows, 1][positive]) - self._grid_weights(
            grid, proba[rows, 1][~positive]
        )
        return np.asarray(weights @ values + float((~positive).sum()))

    @staticmethod
    def _grid_weights(grid: np.ndarray, score: np.ndarray) -> np.ndarray:
        """How much of the rows' interpolation falls on each grid point (see :meth:`right_sums`)."""
        if len(grid) == 1:
            return np.array([float(len(score))])
        i = np.searchsorted(grid, score, side="right") - 1
        np.clip(i, 0, len(grid) - 2, out=i)
        low = grid[i]
        f = (score - low) / (grid[i + 1] - low)
        np.clip(f, 0.0, 1.0, out=f)
        return np.bincount(i, weights=1.0 - f, minlength=len(grid)) + np.bincount(
            i + 1, weights=f, minlength=len(grid)
        )

    def right(self, proba: np.ndarray, pred: np.ndarray) -> np.ndarray:
        """Each replicate's calibrated probability that each row's prediction is right: replicates × rows."""
        if len(self.grids) == 1:  # binary: one curve for the second class
            p1 = self._interp(self.grids[0], self.values[0], proba[:, 1])
            # 1 − p1 for rows predicted as the first class, in place: the values and layout np.where gives
            np.subtract(1.0, p1, out=p1, where=pred != 1)
            return p1
        q = np.stack(
            [
                self._interp(g, v, proba[:, j])
                for j, (g, v) in enumerate(zip(self.grids, self.values, strict=True))
            ]
        )
        total = q.sum(axis=0)
        picked = q[pred, :, np.arange(len(pred))].T
        shares = np.divide(picked, total, out=np.full_like(total, 1.0 / len(self.grids)), where=total > 0)
        return np.asarray(shares)


def _stored_support(calibration: Calibration) -> tuple[np.ndarray, np.ndarray, bool] | None:
    """The holdout's cells: (inner confidence edges, rows per cell, whether cells split by predicted
    class). Versions registered before the support was stored fall back to the reliability table's
    equal-width confidence bins."""
    support = calibration.support
    if support:
        return (
            np.asarray(support["edges"], dtype="float64"),
            np.asarray(support["counts"], dtype=np.int64),
            bool(support.get("by_class", True)),
        )
    counts = (calibration.reliability or {}).get("count")
    if not counts:
        return None
    edges = np.arange(1, len(counts)) / len(counts)
    return edges, np.asarray([counts], dtype=np.int64), False


class EstimateCounts:
    """The scored rows of a window against a stored calibration, updated chunk by chunk.

    Args:
        keys: the model's classes as category keys.
        calibration: the version's :func:`~mlfactory.monitoring.calibration.build_calibration` output,
            with curves.
    """

    def __init__(self, keys: list[str], calibration: Calibration) -> None:
        self.keys = keys
        self.calibration = calibration
        k = len(keys)
        self.expected = np.zeros((k, k))
        self.variance = 0.0  # Σ q(1 − q) of each row's chance to be right, for the estimate's error
        self.estimated_correct = 0.0  # Σ q over labelled rows, to compare realized with estimated
        self.labelled_variance = 0.0
        self.labelled_scored = 0  # labelled rows with scores and a known label: the gap test's rows
        self.labelled_hits = 0  # of those, rows the model got right
        self.scored = 0
        boot = calibration.bootstrap
        self._replicates = _Replicates(boot) if boot else None
        # Σ q over all scored rows and over labelled rows, under each bootstrap recalibration
        replicates = len(boot["replicates"]) if boot else 0
        self.boot_correct = np.zeros(replicates)
        self.boot_labelled = np.zeros(replicates)
        self._support = _stored_support(calibration)
        self.cells = np.zeros_like(self._support[1]) if self._support else None

    def add(self, pred: np.ndarray, proba: np.ndarray, truth: np.ndarray) -> None:
        """Add scored rows; ``truth`` is each row's label index, −1 where none (or not a class)."""
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
            self._add_replicates(self._replicates, proba, pred, lab)
        if self._support is not None and self.cells is not None:
            edges, _, by_class = self._support
            cell = np.searchsorted(edges, proba.max(axis=1), side="right")
            np.add.at(self.cells, (pred if by_class else np.zeros_like(pred), cell), 1)

    def _add_replicates(
        self, replicates: _Replicates, proba: np.ndarray, pred: np.ndarray, lab: np.ndarray
    ) -> None:
        """Σ of each bootstrap recalibration's chance to be right, over all rows and labelled rows.

        Binary models sum through the grid weights (:meth:`_Replicates.right_sums`). Otherwise, a part
        whose rows are all labelled (or none) reuses the all-row sum (or adds nothing): the same sums the
        column selection would give, without copying replicates × rows."""
        if len(replicates.grids) == 1:
            self.boot_correct += replicates.right_sums(proba, pred, np.ones(len(pred), dtype=bool))
            if lab.any():
                self.boot_labelled += replicates.right_sums(proba, pred, lab)
            return
        for part in np.array_split(np.arange(len(pred)), max(1, len(pred) // 4096)):  # bounds memory
            right_b = replicates.right(proba[part], pred[part])
            total = right_b.sum(axis=1)
            self.boot_correct += total
            picked = lab[part]
            if picked.all():
                self.boot_labelled += total
            elif picked.any():
                self.boot_labelled += right_b[:, picked].sum(axis=1)

    def merge(self, other: EstimateCounts) -> None:
        """Add another slice's scored rows (same calibration) after this one's."""
        self.expected += other.expected
        self.variance += other.variance
        self.estimated_correct += other.estimated_correct
        self.labelled_variance += other.labelled_variance
        self.labelled_scored += other.labelled_scored
        self.labelled_hits += other.labelled_hits
        self.scored += other.scored
        self.boot_correct += other.boot_correct
        self.boot_labelled += other.boot_labelled
        if self.cells is not None and other.cells is not None:
            self.cells += other.cells

    def _calibration_variance(self, correct: np.ndarray, rows: int, accuracy: float, share: float) -> float:
        """Variance of an estimated share of right rows that comes from the calibration itself.

        From the bootstrap recalibrations when the version stored them; for versions registered before,
        the binomial variance of the holdout's accuracy on its effective rows (holdout rows × share).
        """
        if rows <= 0:
            return 0.0
        if len(correct) > 1:
            return float(np.var(correct / rows, ddof=1))
        n_h = self.calibration.holdout_rows
        if n_h <= 0:
            return 0.0
        effective = n_h * (share if np.isfinite(share) else 1.0)
        return accuracy * (1.0 - accuracy) / max(effective, 1.0)

    def estimate_check(self) -> EstimateCheck:
        """Does the window stay where the calibration was fitted? The holdout's effective share after
        reweighting to the window's (predicted class, confidence) cells, and the share of window rows in
        cells the holdout never had."""
        if self._support is None or self.cells is None or self.scored < 2:
            return EstimateCheck()
        _, holdout, _ = self._support
        share = holdout_share(holdout, self.cells)
        return EstimateCheck(
            method="holdout reweighted to the window's (predicted class, confidence) cells "
            "(Kish effective share)",
            holdout_share=share,
            outside_share=float(self.cells[holdout == 0].sum() / self.scored),
            min_holdout_share=MIN_HOLDOUT_SHARE,
            reliable=bool(share >= MIN_HOLDOUT_SHARE),
        )

    def estimated(self, check: EstimateCheck, alpha: float) -> tuple[Estimate, EstimateCheck]:
        """The estimated metrics with the accuracy's standard error and interval, and ``check`` with the
        error's two parts."""
        metrics = confusion_metrics(self.expected, self.keys)
        accuracy = float(metrics["accuracy"] or 0.0)  # scored rows make an expected matrix, so a number
        share = float("nan") if check.holdout_share is None else check.holdout_share
        sampling = self.variance / self.scored**2
        calibration = self._calibration_variance(self.boot_correct, self.scored, accuracy, share)
        se = float(np.sqrt(sampling + calibration))
        z = float(special.ndtri(1 - alpha / 2))  # norm.ppf
        estimate = Estimate(
            metrics=metrics,
            accuracy_se=se,
            accuracy_low=max(0.0, accuracy - z * se),
            accuracy_high=min(1.0, accuracy + z * se),
            reliable=check.reliable,
            rows=self.scored,
        )
        spread = (
            f"spread over {len(self.boot_correct)} bootstrap recalibrations of the holdout"
            if len(self.boot_correct) > 1
            else "holdout accuracy's binomial spread on its effective rows (no bootstrap stored)"
        )
        check = replace(
            check,
            sampling_se=float(np.sqrt(sampling)),
            calibration_se=float(np.sqrt(calibration)),
            interval=f"{1 - alpha:.0%} for the window's realized accuracy: the window's own binomial spread "
            f"plus the {spread}",
        )
        return estimate, check

    def messages(self, check: EstimateCheck) -> list[str]:
        """What the report says about the estimate: an older version's approximations, unreliability."""
        messages = []
        if self._support is not None and not self._support[2]:
            messages.append(
                "the version was registered before the estimate stored its bootstrap and support: the "
                "calibration's uncertainty is approximated from the holdout's size and the support check "
                "uses confidence only; retrain for both"
            )
        if check.reliable is False:
            messages.append(
                "the estimate is unreliable: this window's scores are unlike the holdout's the calibration "
                f"was fitted on (reweighted to the window, {check.holdout_share:.0%} of the holdout "
                f"remains; {check.outside_share:.0%} of rows fall where it had none). "
                "The estimate assumes the calibration carries over to these inputs, which holds only "
                "if the label given the inputs is "
                "unchanged and the model's scores capture it; wait for labels"
            )
        return messages

    def below_estimate(self, min_drop: float, alpha: float, check: EstimateCheck) -> BelowEstimate:
        """Realized vs estimated accuracy on the same labelled, scored rows; concept drift only when that
        is decidable."""
        n = self.labelled_scored
        estimated = self.estimated_correct / n
        realized = self.labelled_hits / n
        gap = realized - estimated
        variance = self.labelled_variance / n**2 + self._calibration_variance(
            self.boot_labelled, n, estimated, check.holdout_share or float("nan")
        )
        z_gap = gap / float(np.sqrt(variance))
        p_gap = float(special.ndtr(z_gap))  # norm.cdf
        below = bool(p_gap < alpha and -gap >= min_drop)
        why = _undecided(n, check.reliable)
        return BelowEstimate(
            rows=n,
            estimated_accuracy=estimated,
            accuracy=realized,
            gap=gap,
            statistic=z_gap,
            p_value=p_gap,
            min_drop=min_drop,
            below=below,
            drifted=None if why else below,
            undecided=why,
        )


def _undecided(rows: int, reliable: bool | None) -> str | None:
    """Why a gap between realized and estimated accuracy cannot be called concept drift, if it cannot."""
    if rows < MIN_CONCEPT_ROWS:
        return f"only {rows} labelled rows with scores; concept drift is decided from {MIN_CONCEPT_ROWS}"
    if reliable is None:
        return (
            "the version stores no support of its calibration, so a gap cannot be told from an "
            "estimate that does not carry over"
        )
    if reliable is False:
        return (
            "the window's scores left the region the calibration was fitted on, so a gap may be the "
            "estimate failing to carry over rather than concept drift; accuracy_drop says whether "
            "performance fell"
        )
    return None
