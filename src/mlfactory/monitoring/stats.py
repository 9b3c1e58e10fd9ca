"""Drift statistics over binned counts, vectorized over columns.

Every function takes matrices with one row per column and one entry per bin (or category), padded with
zeros so columns with fewer bins share one matrix; padding contributes nothing to any statistic. The
reference side comes from a stored profile, the current side from counting a window into the same bins,
so no statistic ever needs the raw reference data.

Numeric layout: ``edges`` is ``(k, m + 1)`` (padded by repeating the last edge) and counts are
``(k, m + 2)``: values below the first edge, the ``m`` bins (``numpy.histogram`` convention, the last bin
closed), values above the last edge.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import special, stats

PSI_EPSILON = 1e-4  # stands in for an empty bin so PSI stays finite (the value Evidently and most texts use)


def _totals(counts: np.ndarray) -> np.ndarray:
    return counts.sum(axis=1)


def _shares(counts: np.ndarray) -> np.ndarray:
    n = _totals(counts)[:, None]
    return np.divide(counts, n, out=np.zeros_like(counts, dtype="float64"), where=n > 0)


def ks_binned(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two-sample Kolmogorov–Smirnov statistic and asymptotic p-value, per row.

    The empirical distribution functions are compared at every bin edge. That is a subset of the points
    the exact statistic takes its supremum over, so the statistic can only be smaller and the test only
    more conservative (never more false alarms than the nominal level).

    Args:
        ref: reference counts ``(k, b)`` in bin order (under, bins…, over).
        cur: current counts in the same bins.

    Returns:
        (D, p-value) arrays of length k; NaN where a side is empty.
    """
    n_ref, n_cur = _totals(ref), _totals(cur)
    d = np.abs(np.cumsum(_shares(ref), axis=1) - np.cumsum(_shares(cur), axis=1)).max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        en = n_ref * n_cur / (n_ref + n_cur)
        root = np.sqrt(en)
        # Stephens' small-sample correction of the asymptotic Kolmogorov distribution
        p = special.kolmogorov((root + 0.12 + 0.11 / root) * d)
    empty = (n_ref == 0) | (n_cur == 0)
    return np.where(empty, np.nan, d), np.where(empty, np.nan, np.clip(p, 0.0, 1.0))


def chi2_homogeneity(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pearson chi-square test that two samples share one categorical distribution, per row.

    Categories empty on both sides are dropped, so a category only the current window has (a new one) is
    tested like any other.

    Returns:
        (statistic, p-value, degrees of freedom); p is NaN where fewer than two categories occur.
    """
    ref, cur = ref.astype("float64"), cur.astype("float64")
    n_ref, n_cur = _totals(ref)[:, None], _totals(cur)[:, None]
    total = ref + cur
    n = n_ref + n_cur
    with np.errstate(divide="ignore", invalid="ignore"):
        e_ref, e_cur = n_ref * total / n, n_cur * total / n
        terms = np.where(total > 0, (ref - e_ref) ** 2 / e_ref + (cur - e_cur) ** 2 / e_cur, 0.0)
    stat = np.nan_to_num(terms).sum(axis=1)
    dof = (total > 0).sum(axis=1) - 1
    ok = (dof > 0) & (n_ref[:, 0] > 0) & (n_cur[:, 0] > 0)
    p = np.where(ok, stats.chi2.sf(stat, np.maximum(dof, 1)), np.nan)
    return np.where(ok, stat, np.nan), p, dof


def two_proportion_z(
    x_ref: ArrayLike, n_ref: ArrayLike, x_cur: ArrayLike, n_cur: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided pooled two-proportion Z test, per row: does the share ``x/n`` differ?

    Returns:
        (z, p-value); NaN where a side is empty or the pooled share is 0 or 1 (nothing varies).
    """
    x_ref, n_ref, x_cur, n_cur = (np.asarray(a, dtype="float64") for a in (x_ref, n_ref, x_cur, n_cur))
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (x_ref + x_cur) / (n_ref + n_cur)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n_ref + 1 / n_cur))
        z = (x_cur / n_cur - x_ref / n_ref) / se
    ok = (n_ref > 0) & (n_cur > 0) & (se > 0)
    return np.where(ok, z, np.nan), np.where(ok, 2 * stats.norm.sf(np.abs(z)), np.nan)


def wasserstein_binned(
    edges: np.ndarray, ref: np.ndarray, cur: np.ndarray, below: np.ndarray, above: np.ndarray
) -> np.ndarray:
    """Wasserstein-1 distance between two binned distributions, per row, in the column's units.

    Inside the reference range both distribution functions are taken as linear within each bin (values
    spread evenly in a bin), and ``∫|F_ref − F_cur|`` is integrated exactly for such functions. Outside
    it the reference has no mass, so the current window's exact contribution is the summed distance of
    its values beyond the range divided by its size: ``below`` and ``above`` carry those sums.

    Args:
        edges: ``(k, m + 1)`` bin edges.
        ref, cur: ``(k, m + 2)`` counts (under, bins…, over).
        below: per row, ``Σ (edges[0] − x)`` over current values under the first edge.
        above: per row, ``Σ (x − edges[-1])`` over current values above the last edge.
    """
    n_cur = _totals(cur)
    f_ref = np.cumsum(_shares(ref), axis=1)[:, :-1]  # F at edges 0..m (just below edge 0: the under bin)
    f_cur = np.cumsum(_shares(cur), axis=1)[:, :-1]
    a = f_ref - f_cur
    a0, a1 = a[:, :-1], a[:, 1:]
    width = np.diff(edges, axis=1)
    same = np.sign(a0) * np.sign(a1) >= 0
    abs_sum = np.abs(a0) + np.abs(a1)
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = np.where(abs_sum > 0, (a0**2 + a1**2) / (2 * abs_sum), 0.0)
    inside = (width * np.where(same, abs_sum / 2, crossing)).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        tails = np.where(n_cur > 0, (below + above) / n_cur, np.nan)
    return inside + tails


def jensen_shannon(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Jensen–Shannon distance (square root of the divergence, base 2, so in [0, 1]) per row."""
    p, q = _shares(ref.astype("float64")), _shares(cur.astype("float64"))
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0).sum(axis=1)
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0).sum(axis=1)
    js = np.sqrt(np.clip((kl_p + kl_q) / 2, 0.0, 1.0))
    empty = (_totals(ref) == 0) | (_totals(cur) == 0)
    return np.where(empty, np.nan, js)


def psi(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Population stability index ``Σ (q − p) ln(q / p)`` per row; empty bins count as :data:`PSI_EPSILON`.

    Bins empty on both sides (padding included) contribute nothing.
    """
    p, q = _shares(ref.astype("float64")), _shares(cur.astype("float64"))
    both_empty = (p == 0) & (q == 0)
    p, q = np.maximum(p, PSI_EPSILON), np.maximum(q, PSI_EPSILON)
    value = np.where(both_empty, 0.0, (q - p) * np.log(q / p)).sum(axis=1)
    empty = (_totals(ref) == 0) | (_totals(cur) == 0)
    return np.where(empty, np.nan, value)


def coarsen(ref: np.ndarray, cur: np.ndarray, groups: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Merge fine quantile bins into about ``groups`` bins of equal reference mass, per row.

    Histogram distances (PSI, Jensen–Shannon) grow with the number of bins by sampling noise alone
    (about ``(bins − 1)(1/n_ref + 1/n_cur)`` for PSI), so they are computed on deciles, the convention
    their usual thresholds assume. The under and over bins stay on their own.
    """
    k = ref.shape[0]
    inner_ref = ref[:, 1:-1].astype("float64")
    n_ref = inner_ref.sum(axis=1, keepdims=True)
    before = np.cumsum(inner_ref, axis=1) - inner_ref
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(n_ref > 0, before / n_ref, 0.0)
    group = np.minimum((share * groups + 1e-9).astype(np.int64), groups - 1) + 1
    index = np.concatenate([np.zeros((k, 1), np.int64), group, np.full((k, 1), groups + 1, np.int64)], axis=1)
    flat = (index + np.arange(k)[:, None] * (groups + 2)).ravel()
    size = k * (groups + 2)
    merged_ref = np.bincount(flat, weights=ref.ravel().astype("float64"), minlength=size).reshape(k, -1)
    merged_cur = np.bincount(flat, weights=cur.ravel().astype("float64"), minlength=size).reshape(k, -1)
    return merged_ref, merged_cur
