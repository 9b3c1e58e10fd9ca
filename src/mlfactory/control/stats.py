"""Small, vectorized tests the controller decides with: proportions and distributions of live traffic."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats


def worse_proportion(good_a: int, n_a: int, good_b: int, n_b: int) -> tuple[float, float]:
    """One-sided two-proportion z-test that A's rate is below B's: (difference B − A, p-value)."""
    if n_a == 0 or n_b == 0:
        return 0.0, 1.0
    pa, pb = good_a / n_a, good_b / n_b
    pooled = (good_a + good_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if se == 0:
        return pb - pa, 1.0 if pa >= pb else 0.0
    z = (pb - pa) / se
    return pb - pa, float(stats.norm.sf(z))


def _kl(p: np.ndarray, m: np.ndarray) -> float:
    nz = p > 0
    return float(np.sum(p[nz] * np.log2(p[nz] / m[nz])))


def distribution_shift(a: Sequence[Any], b: Sequence[Any]) -> tuple[float, float]:
    """Jensen–Shannon distance between two categorical samples (0..1) and the chi-square p-value."""
    values, codes = np.unique(
        np.concatenate([np.asarray(a, dtype=object).astype(str), np.asarray(b, dtype=object).astype(str)]),
        return_inverse=True,
    )
    ca = np.bincount(codes[: len(a)], minlength=len(values)).astype(float)
    cb = np.bincount(codes[len(a) :], minlength=len(values)).astype(float)
    if ca.sum() == 0 or cb.sum() == 0:
        return 0.0, 1.0
    pa, pb = ca / ca.sum(), cb / cb.sum()
    js = math.sqrt(max(0.0, (_kl(pa, (pa + pb) / 2) + _kl(pb, (pa + pb) / 2)) / 2))
    keep = (ca + cb) > 0
    if keep.sum() < 2:
        return js, 1.0
    _, p, _, _ = stats.chi2_contingency(np.vstack([ca[keep], cb[keep]]))
    return js, float(p)


def as_classes(values: Sequence[Any], classes: Sequence[Any] | None) -> np.ndarray:
    """Labels as the model's class type: feedback arrives as JSON, the log may widen ints to floats."""
    arr = np.asarray(values, dtype=object)
    if classes and all(isinstance(c, int | float | np.number) and not isinstance(c, bool) for c in classes):
        numbers = np.asarray([float(v) for v in arr])
        kind = type(classes[0])
        return np.asarray([kind(v) for v in numbers])
    return np.asarray([str(v) for v in arr])


def hits(predictions: Sequence[Any], labels: Sequence[Any], classes: Sequence[Any] | None) -> np.ndarray:
    """Row-wise prediction == label, after bringing both to the model's class type."""
    return as_classes(predictions, classes) == as_classes(labels, classes)
