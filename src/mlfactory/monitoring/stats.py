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

import zlib
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike
from scipy import special  # not scipy.stats: importing it costs a monitoring run half a second

TIES_SHARE = 0.03  # a bin holding more of the pooled rows than this is a point mass (no continuous bin does)
AD_RESAMPLES = 499  # Monte Carlo splits for Anderson–Darling on tied data: p-values in steps of 0.002
PSI_EPSILON = 1e-4  # stands in for an empty bin so PSI stays finite (the value Evidently and most texts use)


def _totals(counts: np.ndarray) -> np.ndarray:
    return np.asarray(counts.sum(axis=1))


def _shares(counts: np.ndarray) -> np.ndarray:
    n = _totals(counts)[:, None]
    return np.asarray(np.divide(counts, n, out=np.zeros_like(counts, dtype="float64"), where=n > 0))


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


def merge_sparse(ref: np.ndarray, cur: np.ndarray, min_expected: float) -> tuple[np.ndarray, np.ndarray]:
    """Merge the cells whose expected count on the smaller side is under ``min_expected``, per row.

    Pearson's chi-square is only chi-square distributed when every expected count is large (Cochran's rule:
    at least 5); cells below it (rare categories, a value one side never drew) make the asymptotic test
    alarm far more often than its level. Those cells are pooled into one ``rare`` cell, placed first; when
    that cell is itself too small, the smallest remaining cell joins it. The choice depends only on the
    pooled counts (reference + window), which the test conditions on, so it does not bias the test.

    Returns:
        (ref, cur) of the same shape: the rare cell in column 0, the kept cells after it, zeros as padding.
    """
    ref, cur = ref.astype("float64"), cur.astype("float64")
    n_ref, n_cur = _totals(ref)[:, None], _totals(cur)[:, None]
    n = n_ref + n_cur
    total = ref + cur
    with np.errstate(divide="ignore", invalid="ignore"):
        # the pooled count a cell needs so both of its expected counts reach min_expected
        need = np.where(n > 0, min_expected * n / np.maximum(np.minimum(n_ref, n_cur), 1e-300), np.inf)
    order = np.argsort(np.where(total > 0, total, np.inf), axis=1, kind="stable")
    t_sorted = np.take_along_axis(total, order, axis=1)
    small = (t_sorted < need) & (t_sorted > 0)
    rare_total = np.where(small, t_sorted, 0.0).sum(axis=1)
    count = small.sum(axis=1)
    occupied = (t_sorted > 0).sum(axis=1)
    # a rare cell still under the need takes the next (smallest kept) cell with it
    extend = (count > 0) & (rare_total < need[:, 0]) & (count < occupied)
    count = count + extend
    merged = np.arange(total.shape[1])[None, :] < count[:, None]
    r_sorted = np.take_along_axis(ref, order, axis=1)
    c_sorted = np.take_along_axis(cur, order, axis=1)
    out_ref = np.where(merged, 0.0, r_sorted)
    out_cur = np.where(merged, 0.0, c_sorted)
    out_ref = np.concatenate([np.where(merged, r_sorted, 0.0).sum(axis=1, keepdims=True), out_ref], axis=1)
    out_cur = np.concatenate([np.where(merged, c_sorted, 0.0).sum(axis=1, keepdims=True), out_cur], axis=1)
    return out_ref, out_cur


def chi2_homogeneity(
    ref: np.ndarray, cur: np.ndarray, min_expected: float = 5.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pearson chi-square test that two samples share one categorical distribution, per row.

    Cells whose expected count falls under ``min_expected`` are merged first (:func:`merge_sparse`; 0
    keeps every cell, the textbook test). Categories empty on both sides are dropped, so a category only
    the current window has (a new one) is tested like any other once it is frequent enough.

    Returns:
        (statistic, p-value, degrees of freedom); p is NaN where fewer than two cells remain.
    """
    ref, cur = ref.astype("float64"), cur.astype("float64")
    if min_expected > 0:
        ref, cur = merge_sparse(ref, cur, min_expected)
    n_ref, n_cur = _totals(ref)[:, None], _totals(cur)[:, None]
    total = ref + cur
    n = n_ref + n_cur
    with np.errstate(divide="ignore", invalid="ignore"):
        e_ref, e_cur = n_ref * total / n, n_cur * total / n
        terms = np.where(total > 0, (ref - e_ref) ** 2 / e_ref + (cur - e_cur) ** 2 / e_cur, 0.0)
    stat = np.nan_to_num(terms).sum(axis=1)
    dof = (total > 0).sum(axis=1) - 1
    ok = (dof > 0) & (n_ref[:, 0] > 0) & (n_cur[:, 0] > 0)
    p = np.where(ok, special.chdtrc(np.maximum(dof, 1), stat), np.nan)  # chi2.sf: stat is never < 0
    return np.where(ok, stat, np.nan), p, dof


def two_proportion_z(
    x_ref: ArrayLike, n_ref: ArrayLike, x_cur: ArrayLike, n_cur: ArrayLike, min_expected: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided pooled two-proportion Z test, per row: does the share ``x/n`` differ?

    Returns:
        (z, p-value); NaN where a side is empty, the pooled share is 0 or 1 (nothing varies), or an
        expected count of the 2×2 table is under ``min_expected`` (the normal approximation fails there).
    """
    x_ref, n_ref, x_cur, n_cur = (np.asarray(a, dtype="float64") for a in (x_ref, n_ref, x_cur, n_cur))
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (x_ref + x_cur) / (n_ref + n_cur)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n_ref + 1 / n_cur))
        z = (x_cur / n_cur - x_ref / n_ref) / se
        smallest = np.minimum(pooled, 1 - pooled) * np.minimum(n_ref, n_cur)
    ok = (n_ref > 0) & (n_cur > 0) & (se > 0) & (smallest >= min_expected)
    return np.where(ok, z, np.nan), np.where(ok, 2 * special.ndtr(-np.abs(z)), np.nan)


def wasserstein_binned(
    edges: np.ndarray,
    ref: np.ndarray,
    cur: np.ndarray,
    below: np.ndarray,
    above: np.ndarray,
    ref_sums: np.ndarray | None = None,
    cur_sums: np.ndarray | None = None,
) -> np.ndarray:
    """Wasserstein-1 distance ``∫|F_ref − F_cur|`` between two binned samples, per row, in the column's units.

    With each bin's sum of offsets from its left edge (``ref_sums``, ``cur_sums``), the integral of
    ``F_ref − F_cur`` over a bin ``[a, b)`` is exact: ``∫_a^b F = (b − a)·F(b⁻) − Σ_{a≤x<b} (x − a) / n``.
    Its absolute value is the bin's exact contribution whenever the two distribution functions do not cross
    inside the bin, so point masses (a column of mostly zeros) and skewed bins cost no accuracy. In a bin
    where they do cross (the difference changes sign between its edges) the difference is taken as one step
    from its left to its right value, placed so the exact integral holds. Without sums (a reference stored
    before they were kept) every bin has its values spread evenly. Outside the reference range the reference
    has no mass, so the current window's exact contribution is the summed distance of its values beyond the
    range divided by its size: ``below`` and ``above``. With the reference's bins at 100 quantiles and 100
    equal widths this is within 2 % of ``scipy.stats.wasserstein_distance`` on normal, lognormal, spread
    and mostly-zero columns (tests/unit/monitoring/test_stats.py).

    Args:
        edges: ``(k, m + 1)`` bin edges.
        ref, cur: ``(k, m + 2)`` counts (under, bins…, over).
        below: per row, ``Σ (edges[0] − x)`` over current values under the first edge.
        above: per row, ``Σ (x − edges[-1])`` over current values above the last edge.
        ref_sums, cur_sums: ``(k, m)`` per bin ``[a, b)``, ``Σ (x − a)`` over its values; rows with NaN
            (or None) where unknown.
    """
    ref, cur = ref.astype("float64"), cur.astype("float64")
    n_ref, n_cur = _totals(ref), _totals(cur)
    f_ref = np.cumsum(_shares(ref), axis=1)[:, :-1]  # F just below edges 0..m (edge m: through the last bin)
    f_cur = np.cumsum(_shares(cur), axis=1)[:, :-1]
    a = f_ref - f_cur
    a0, a1 = a[:, :-1], a[:, 1:]
    width = np.diff(edges, axis=1)
    if ref_sums is None or cur_sums is None:
        ref_sums = cur_sums = np.full(width.shape, np.nan)
    unknown = np.isnan(ref_sums).any(axis=1) | np.isnan(cur_sums).any(axis=1)
    s_ref = np.where(unknown[:, None], ref[:, 1:-1] * width / 2, ref_sums)
    s_cur = np.where(unknown[:, None], cur[:, 1:-1] * width / 2, cur_sums)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_diff = np.where(n_ref[:, None] > 0, s_ref / n_ref[:, None], 0.0) - np.where(
            n_cur[:, None] > 0, s_cur / n_cur[:, None], 0.0
        )
        exact = np.abs(width * a1 - mean_diff)
        # one crossing step: a0 up to τ, a1 after it, τ placed so the bin's exact signed integral holds
        signed = width * a1 - mean_diff
        tau = np.clip(np.where(a0 != a1, (signed - a1 * width) / (a0 - a1), 0.0), 0.0, width)
        crossing = np.abs(a0) * tau + np.abs(a1) * (width - tau)
    same = np.sign(a0) * np.sign(a1) >= 0
    inside = np.where(same, exact, crossing).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        tails = np.where(n_cur > 0, (below + above) / n_cur, np.nan)
    return np.asarray(inside + tails)


def wasserstein_discrete(values: np.ndarray, ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Exact Wasserstein-1 distance between two samples on a few values, per row.

    Args:
        values: ``(k, v)`` the sorted values (padded by repeating the last).
        ref, cur: ``(k, v)`` how often each value occurs on each side.
    """
    a = np.cumsum(_shares(ref.astype("float64")), axis=1) - np.cumsum(_shares(cur.astype("float64")), axis=1)
    w = (np.abs(a[:, :-1]) * np.diff(values, axis=1)).sum(axis=1)
    empty = (_totals(ref) == 0) | (_totals(cur) == 0)
    return np.where(empty, np.nan, w)


_AD_VARIANCE = 2 * (np.pi**2 - 9) / 3  # variance of the asymptotic Anderson–Darling distribution


@lru_cache(maxsize=4096)
def _ad_g(n: int) -> float:
    """Scholz and Stephens' ``g`` for ``N`` observations (it converges to π²/6 like ``log N / N``)."""
    n = min(n, 10_000)
    hs = np.cumsum(1.0 / np.arange(n - 1, 1, -1))
    return float((hs / np.arange(2, n)).sum())


def _ad_sf(z: np.ndarray) -> np.ndarray:
    """P(A² > z) for the asymptotic Anderson–Darling distribution (Marsaglia and Marsaglia, 2004)."""
    z = np.maximum(np.asarray(z, dtype="float64"), 1e-3)
    small = (
        np.exp(-1.2337141 / z)
        / np.sqrt(z)
        * (2.00012 + (0.247105 - (0.0649821 - (0.0347962 - (0.011672 - 0.00168691 * z) * z) * z) * z) * z)
    )
    u = 1.0776 - (2.30695 - (0.43424 - (0.082433 - (0.008056 - 0.0003146 * z) * z) * z) * z) * z
    large = -np.expm1(-np.exp(np.minimum(u, 700.0)))
    return np.asarray(np.clip(np.where(z < 2, 1.0 - small, large), 0.0, 1.0))


def _ad_raw(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Scholz and Stephens' midrank ``A²akN`` for two samples, per row (NaN where it is undefined)."""
    n_ref, n_cur = _totals(ref), _totals(cur)
    n = (n_ref + n_cur)[:, None]
    pooled = ref + cur
    b = np.cumsum(pooled, axis=1) - pooled / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = b * (n - b) - n * pooled / 4
        keep = (pooled > 0) & (denom > 0)
        # n·M_ref − n_ref·B = n_ref·n_cur·(mid-ECDF difference), the same for both samples up to sign
        m = np.cumsum(ref, axis=1) - ref / 2
        diff = n * m - b * n_ref[:, None]
        inner = np.where(keep, pooled / n * diff**2 / denom, 0.0).sum(axis=1)
        a2 = inner * (1 / n_ref + 1 / n_cur) * (n[:, 0] - 1) / n[:, 0]
    return np.where(keep.any(axis=1), a2, np.nan)


def _ad_monte_carlo(ref: np.ndarray, cur: np.ndarray, observed: float, resamples: int) -> float:
    """P-value of ``A²akN`` from ``resamples`` random splits of the pooled counts (exact conditional test)."""
    pooled = (ref + cur).round().astype(np.int64)
    occupied = pooled > 0
    pooled, n_ref = pooled[occupied], int(np.rint(ref.sum()))
    rng = np.random.default_rng(zlib.crc32(pooled.tobytes() + n_ref.to_bytes(8, "little")))
    draws = rng.multivariate_hypergeometric(pooled, n_ref, size=resamples).astype("float64")
    null = _ad_raw(draws, pooled[None, :] - draws)
    return float((1 + np.sum(null >= observed * (1 - 1e-9))) / (resamples + 1))


def anderson_darling_binned(
    ref: np.ndarray, cur: np.ndarray, ties_share: float = TIES_SHARE, resamples: int = AD_RESAMPLES
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sample Anderson–Darling test (Scholz and Stephens' version for tied data), per row.

    Bins are tied values: observations in one bin are indistinguishable, which is exactly the discrete
    case the midrank statistic ``A²akN`` was built for, so the test stays valid on binned counts (binning
    is a fixed map of the data; equal distributions give equal binned distributions). Anderson–Darling
    weights the tails, where a change of spread shows, and catches a 1.5× variance at 1,000 rows that
    Kolmogorov–Smirnov mostly misses. The statistic is standardized as in scipy's ``anderson_ksamp``.

    P-values: when no bin holds more than ``ties_share`` of the pooled rows (a continuous column in its
    quantile bins), the standardized statistic is mapped onto the asymptotic Anderson–Darling
    distribution (mean 1, variance ``2(π² − 9)/3``), which matches scipy's tabulated values and is smooth
    below its 0.001 and above its 0.25. A point mass (a column of mostly zeros) changes the statistic's null
    distribution (its mean stays 1, its variance grows toward a single χ²₁'s), and that mapping would
    alarm about 9 % of the time at α = 5 %; there the p-value is a Monte Carlo one: ``resamples`` random
    splits of the pooled bin counts into the two sample sizes (the permutation distribution, seeded by the
    counts so a report is reproducible), valid at any size.

    Returns:
        (standardized statistic, p-value); NaN where a side is empty or only one bin is occupied.
    """
    ref, cur = ref.astype("float64"), cur.astype("float64")
    n_ref, n_cur = _totals(ref), _totals(cur)
    n = n_ref + n_cur
    a2 = _ad_raw(ref, cur)
    with np.errstate(divide="ignore", invalid="ignore"):
        big_h = 1 / n_ref + 1 / n_cur
        g = np.array([_ad_g(int(x)) if x >= 4 else np.nan for x in n])
        h = special.digamma(np.maximum(n, 1.0)) + np.euler_gamma  # Σ_{i<N} 1/i
        k = 2
        ca = (4 * g - 6) * (k - 1) + (10 - 6 * g) * big_h
        cb = (2 * g - 4) * k**2 + 8 * h * k + (2 * g - 14 * h - 4) * big_h - 8 * h + 4 * g - 6
        cc = (6 * h + 2 * g - 2) * k**2 + (4 * h - 4 * g + 6) * k + (2 * h - 6) * big_h + 4 * h
        cd = (2 * h + 6) * k**2 - 4 * h * k
        var = (ca * n**3 + cb * n**2 + cc * n + cd) / ((n - 1) * (n - 2) * (n - 3))
        t = (a2 - (k - 1)) / np.sqrt(var)
    p = _ad_sf(1 + t * np.sqrt(_AD_VARIANCE))
    bad = (n_ref == 0) | (n_cur == 0) | ~np.isfinite(t)
    for i in np.flatnonzero(~bad & (heaviest_share(ref, cur) > ties_share)):
        p[i] = _ad_monte_carlo(ref[i], cur[i], float(a2[i]), resamples)
    return np.where(bad, np.nan, t), np.where(bad, np.nan, p)


def heaviest_share(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """The largest share of the pooled rows one bin holds, per row (point masses make it large)."""
    pooled = ref.astype("float64") + cur.astype("float64")
    total = pooled.sum(axis=1)
    return np.asarray(np.divide(pooled.max(axis=1), total, out=np.zeros(len(pooled)), where=total > 0))


def jensen_shannon(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Jensen–Shannon distance per row: the square root of the divergence in natural-log units (nats), as
    Evidently and ``scipy.spatial.distance.jensenshannon`` compute it by default, so in ``[0, √ln 2]``
    (at most 0.833). In base 2 the same pair reads 1.2× larger."""
    p, q = _shares(ref.astype("float64")), _shares(cur.astype("float64"))
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log(p / m), 0.0).sum(axis=1)
        kl_q = np.where(q > 0, q * np.log(q / m), 0.0).sum(axis=1)
    js = np.sqrt(np.clip((kl_p + kl_q) / 2, 0.0, np.log(2)))
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
