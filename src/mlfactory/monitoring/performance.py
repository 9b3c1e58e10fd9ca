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

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlfactory import arrays
from mlfactory.data.profile import category_key
from mlfactory.monitoring.calibration import Calibration, build_calibration, calibrate
from mlfactory.monitoring.estimate import BelowEstimate, Estimate, EstimateCheck, EstimateCounts
from mlfactory.monitoring.realized import (
    AccuracyDrop,
    RealizedCounts,
    accuracy_drop,
    confusion_metrics,
    label_values,
    regression_errors,
)

__all__ = [
    "Calibration",
    "PerformanceCounts",
    "PerformanceResult",
    "PerformanceTests",
    "build_calibration",
    "calibrate",
    "confusion_metrics",
]

_NO_LABELS = "no feedback labels for this window yet, so no realized performance"


@dataclass(frozen=True)
class PerformanceTests:
    """The performance tests a window's labelled rows allowed (None where it allowed none)."""

    accuracy_drop: AccuracyDrop | None = None  # realized accuracy against the holdout's
    below_estimate: BelowEstimate | None = None  # realized against estimated accuracy: concept drift

    def to_json(self) -> dict[str, Any]:
        """The ``tests`` object of a report's performance: only the tests that ran."""
        out: dict[str, Any] = {}
        if self.accuracy_drop is not None:
            out["accuracy_drop"] = self.accuracy_drop.to_json()
        if self.below_estimate is not None:
            out["below_estimate"] = self.below_estimate.to_json()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PerformanceTests:
        """The tests read back from a stored report."""
        drop, below = data.get("accuracy_drop"), data.get("below_estimate")
        return cls(
            accuracy_drop=AccuracyDrop.from_json(drop) if drop else None,
            below_estimate=BelowEstimate.from_json(below) if below else None,
        )


@dataclass
class PerformanceResult:
    """A window's performance: realized from feedback labels, estimated before they arrive, and the tests.

    Attributes:
        labelled_rows: rows with a feedback label (for a classifier, labels of classes it does not know
            included: they count as wrong).
        messages: what the report should say (missing labels, calibration warnings, ...).
        realized: realized metrics by name (accuracy, precision, recall, f1; mae, rmse for a regressor);
            None without labels.
        estimated: the label-free estimate; None for a regressor, without calibration or scored rows.
        estimate_check: whether the window stays where the calibration was fitted (with an estimate).
        calibration: the version's calibration errors (``ece_raw``, ``ece_calibrated``, ``max_ece``), with
            an estimate.
        tests: the performance tests (a classifier's; None for a regressor).
    """

    labelled_rows: int
    messages: list[str] = field(default_factory=list)
    realized: dict[str, float | None] | None = None
    estimated: Estimate | None = None
    estimate_check: EstimateCheck | None = None
    calibration: dict[str, float | None] | None = None
    tests: PerformanceTests | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``performance`` section of a stored report."""
        out: dict[str, Any] = {
            "labelled_rows": self.labelled_rows,
            "messages": list(self.messages),
            "realized": self.realized,
            "estimated": None if self.estimated is None else self.estimated.to_json(),
        }
        if self.estimate_check is not None:
            out["estimate_check"] = self.estimate_check.to_json()
            out["calibration"] = self.calibration
        if self.tests is not None:
            out["tests"] = self.tests.to_json()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PerformanceResult | None:
        """The section read back; None for a report without one (an empty window's report stores ``{}``)."""
        if "labelled_rows" not in data:
            return None
        estimated, check, tests = data.get("estimated"), data.get("estimate_check"), data.get("tests")
        return cls(
            labelled_rows=int(data["labelled_rows"]),
            messages=list(data.get("messages") or []),
            realized=data.get("realized"),
            estimated=Estimate.from_json(estimated) if estimated else None,
            estimate_check=EstimateCheck.from_json(check) if check is not None else None,
            calibration=data.get("calibration"),
            tests=PerformanceTests.from_json(tests) if tests is not None else None,
        )


def positions(found: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Positions from ``pyarrow.compute.index_in`` as int64, −1 where a value was not found."""
    return arrays.integers(found.combine_chunks() if isinstance(found, pa.ChunkedArray) else found, -1)


class PerformanceCounts:
    """Realized and estimated confusion matrices of a window, updated chunk by chunk.

    Args:
        classes: the model's classes (None for a regressor).
        calibration: the version's :func:`build_calibration` output, or None (no estimates).
    """

    def __init__(self, classes: Sequence[Any] | None, calibration: Calibration | None) -> None:
        self.keys = [category_key(c) for c in classes] if classes else []
        self._index = {k: i for i, k in enumerate(self.keys)}
        self.realized = RealizedCounts(self.keys)
        self.calibration = calibration if calibration is not None and calibration.curves else None
        self.estimate = EstimateCounts(self.keys, self.calibration) if self.calibration else None
        self.errors = np.zeros(3)  # regression: n, Σ|e|, Σe²
        self.label_counts: dict[str, int] = {}

    def _indices(self, values: Any) -> np.ndarray:
        """Each prediction's class index (−1 for a missing one or one that is not a class), looked up once
        per distinct value."""
        arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values)
        distinct = pc.unique(arr).drop_null()
        index = np.array([*(self._index.get(category_key(v), -1) for v in distinct.to_pylist()), -1])
        return np.asarray(index[positions(pc.index_in(arr, value_set=distinct, skip_nulls=True))])

    def add(self, predictions: Any, probabilities: Any, labels: Any | None) -> None:
        """Add a chunk: predictions (an Arrow array or a sequence), class probabilities (rows × classes,
        or None) and labels (None where no feedback has arrived)."""
        labelled = None
        if labels is not None:
            values, labelled = label_values(labels)
            tally = Counter(category_key(v) for v in values[labelled].tolist())
            for key, n in sorted(tally.items(), key=lambda kv: -kv[1]):  # as pandas' value_counts orders
                self.label_counts[key] = self.label_counts.get(key, 0) + n
        if not self.keys:
            if labelled is not None and labelled.any():
                self.errors += regression_errors(predictions, labels, labelled)
            return
        pred = self._indices(predictions)
        truth = self.realized.label_indices(labels) if labels is not None else np.full(len(pred), -1)
        if self.estimate is not None and probabilities is not None:
            self.estimate.add(pred, np.asarray(probabilities, dtype="float64"), truth)
        if labelled is not None and labelled.any():
            self.realized.add(truth[labelled], pred[labelled])

    def merge(self, other: PerformanceCounts) -> None:
        """Add another slice's counts (same classes and calibration) after this one's."""
        self.realized.merge(other.realized)
        self.errors += other.errors
        for key, n in other.label_counts.items():
            self.label_counts[key] = self.label_counts.get(key, 0) + n
        if self.estimate is not None and other.estimate is not None:
            self.estimate.merge(other.estimate)

    def _regression_result(self) -> PerformanceResult:
        n, abs_sum, sq_sum = self.errors
        out = PerformanceResult(labelled_rows=int(n))
        out.realized = {"mae": abs_sum / n, "rmse": float(np.sqrt(sq_sum / n))} if n else None
        out.messages.append(
            "no label-free estimate for a regressor: a classifier's calibrated confidence says how often it "
            "is right, a regressor's output carries no such measure of its error; mae and rmse come from "
            "feedback labels"
        )
        if not n:
            out.messages.append(_NO_LABELS)
        return out

    def result(self, settings_min_drop: float, alpha: float) -> PerformanceResult:
        """Realized and estimated metrics, the drop test against the holdout, and messages."""
        if not self.keys:
            return self._regression_result()
        labelled = self.realized.labelled
        out = PerformanceResult(labelled_rows=labelled)
        out.realized = self.realized.metrics() if labelled else None
        if not labelled:
            out.messages.append(_NO_LABELS)
        out.messages.extend(self.realized.messages())
        if self.estimate is None:
            out.messages.append(
                "the version has no calibration data (trained before monitoring, or without "
                "probabilities), so performance cannot be estimated before labels arrive"
            )
        elif self.estimate.scored:
            self._add_estimate(out, alpha)
        out.tests = self._tests(labelled, settings_min_drop, alpha, out.estimate_check)
        return out

    def _add_estimate(self, out: PerformanceResult, alpha: float) -> None:
        """Put the estimate, its support check and the calibration's errors into ``out``."""
        assert self.estimate is not None and self.calibration is not None
        out.estimated, out.estimate_check = self.estimate.estimated(self.estimate.estimate_check(), alpha)
        cal = self.calibration
        out.calibration = {
            "ece_raw": cal.ece_raw,
            "ece_calibrated": cal.ece_calibrated,
            "max_ece": cal.max_ece,
        }
        out.messages.extend(cal.warnings)
        out.messages.extend(self.estimate.messages(out.estimate_check))

    def _tests(
        self, labelled: int, min_drop: float, alpha: float, check: EstimateCheck | None
    ) -> PerformanceTests:
        cal, est = self.calibration, self.estimate
        if not labelled:
            return PerformanceTests()
        drop = None
        if cal is not None and cal.holdout_rows:
            drop = accuracy_drop(cal, self.realized.correct, labelled, min_drop, alpha)
        below = None
        if est is not None and est.labelled_variance > 0 and est.labelled_scored:
            below = est.below_estimate(min_drop, alpha, check or EstimateCheck())
        return PerformanceTests(accuracy_drop=drop, below_estimate=below)
