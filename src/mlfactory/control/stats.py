"""Small, vectorized tests the controller decides with: proportions and distributions of live traffic."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats


def worse_proportion(good_a: int, n_a: int, good_b: int, n_b: int) -> tuple[float, float]:
    """One-sided two-proportion z-test that A's rate is below B's: (difference B - A, p-value)."""
    if n_a == 0 or n_b == 0:
        return 0.0, 1.0
    pa, pb = good_a / n_a, good_b / n_b
    pooled = (good_a + good_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if se == 0:
        return pb - pa, 1.0 if pa >= pb else 0.0
    z = (pb - pa) / se
    return pb - pa, float(stats.norm.sf(z))


def sequential_difference(
    hits_a: ArrayLike, n_a: ArrayLike, hits_b: ArrayLike, n_b: ArrayLike, *, null: float, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """An always-valid test of a difference of two proportions, ``rate_a - rate_b`` against ``null``.

    The mixture sequential probability ratio test (mSPRT; Johari, Pekelis and Walsh, "Always valid
    inference", 2017) on the normal approximation of the difference, mixing over alternatives
    N(``null``, ``scale``²). Its p-value may be looked at after every row: the chance that it *ever* drops
    below alpha while the null holds is at most alpha, so how often the controller looks does not change the
    error rate. Rates are smoothed as (hits + 1) / (n + 2) for the variance, so 0 of n is not certainty.

    Vectorized: arguments may be arrays (one entry per trial or look).

    Returns:
        (observed difference minus ``null``, always-valid two-sided p-value at this look).
    """
    ha, na, hb, nb = (np.asarray(x, dtype=float) for x in (hits_a, n_a, hits_b, n_b))
    sa, sb = (ha + 1) / (na + 2), (hb + 1) / (nb + 2)
    v = sa * (1 - sa) / np.maximum(na, 1) + sb * (1 - sb) / np.maximum(nb, 1)
    d = ha / np.maximum(na, 1) - hb / np.maximum(nb, 1) - null
    return d, always_valid_p(d, v, scale)


def always_valid_p(d: ArrayLike, v: ArrayLike, scale: ArrayLike) -> np.ndarray:
    """The mSPRT's always-valid two-sided p-value of an estimate ``d`` (already minus its null) whose
    variance is ``v``, mixing over alternatives N(0, ``scale``²); vectorized. A zero variance (every row
    alike) is floored, so it gives a tiny, not an undefined, p-value."""
    d_, v_ = np.asarray(d, float), np.maximum(np.asarray(v, float), 1e-300)
    t2 = np.square(np.asarray(scale, float))
    log_lr = 0.5 * np.log(v_ / (v_ + t2)) + t2 * d_ * d_ / (2 * v_ * (v_ + t2))
    return np.asarray(np.minimum(1.0, np.exp(-log_lr)))


def planned_rows(
    rate: float, effect: float, *, weight: float, alpha: float, power: float, scale: float
) -> int:
    """Labelled canary rows after which :func:`sequential_difference` detects that the canary's rate is
    ``effect`` below the champion's ``rate`` (measured from its null) with probability ``power``, the
    champion getting ``(1 - weight) / weight`` times as many labelled rows. Conservative: it asks the test
    to succeed at that single look, though it may succeed at any earlier one."""
    z = float(stats.norm.ppf(power))
    odds = (1 - weight) / weight
    worse = min(max(rate - abs(effect), 0.01), 0.99)
    t2 = scale * scale
    for n in np.unique(np.geomspace(10, 10_000_000, 600).astype(int)):
        v = worse * (1 - worse) / n + rate * (1 - rate) / (n * odds)
        bound = math.sqrt((v + t2) / t2 * (2 * math.log(1 / alpha) + math.log((v + t2) / v)))
        if abs(effect) / math.sqrt(v) - bound >= z:
            return int(n)
    return 10_000_000


def _kl(p: np.ndarray, m: np.ndarray) -> float:
    nz = p > 0
    return float(np.sum(p[nz] * np.log2(p[nz] / m[nz])))


def distribution_shift(a: Sequence[Any], b: Sequence[Any]) -> tuple[float, float]:
    """Jensen-Shannon distance between two categorical samples (0..1) and the chi-square p-value."""
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


SHIFT_BINS = 10


def numeric_shift(a: Sequence[Any], b: Sequence[Any]) -> tuple[float, float]:
    """Jensen-Shannon distance (0..1) between two samples of a regressor's predictions, over the deciles of
    ``b`` (the champion's), and the two-sample Kolmogorov-Smirnov p-value. Read as categories, every
    predicted number would be a value of its own and any two samples would look far apart."""
    xa = np.asarray(pd.to_numeric(pd.Series(a, dtype=object), errors="coerce"), dtype=float)
    xb = np.asarray(pd.to_numeric(pd.Series(b, dtype=object), errors="coerce"), dtype=float)
    xa, xb = xa[np.isfinite(xa)], xb[np.isfinite(xb)]
    if len(xa) == 0 or len(xb) == 0:
        return 0.0, 1.0
    edges = np.unique(np.quantile(xb, np.linspace(0.0, 1.0, SHIFT_BINS + 1)[1:-1]))
    ca = np.bincount(np.searchsorted(edges, xa, side="right"), minlength=len(edges) + 1).astype(float)
    cb = np.bincount(np.searchsorted(edges, xb, side="right"), minlength=len(edges) + 1).astype(float)
    pa, pb = ca / ca.sum(), cb / cb.sum()
    js = math.sqrt(max(0.0, (_kl(pa, (pa + pb) / 2) + _kl(pb, (pa + pb) / 2)) / 2))
    return js, float(stats.ks_2samp(xa, xb).pvalue)


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
    same: np.ndarray = as_classes(predictions, classes) == as_classes(labels, classes)
    return same
