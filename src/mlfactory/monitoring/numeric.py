"""Vectorized statistics of numeric columns against their stored reference: every method for every column at
once, over the reference's bins (many-valued columns) or value by value (few-valued ones), with the plot data.

:mod:`mlfactory.monitoring.drift` turns these numbers into decisions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlfactory.monitoring import stats
from mlfactory.monitoring.reference import ColumnReference
from mlfactory.monitoring.window_counts import NumericCounts

PLOT_CATEGORIES = 20


def pad(rows: list[np.ndarray], width: int, fill_last: bool = False) -> np.ndarray:
    out = np.zeros((len(rows), width), dtype="float64")
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
        if fill_last and len(r):
            out[i, len(r) :] = r[-1]
    return out


def _sums(ref: ColumnReference, nb: int) -> np.ndarray:
    sums = ref.sums
    return np.asarray(sums, dtype="float64") if sums and len(sums) == nb else np.full(nb, np.nan)


def _numeric_matrices(refs: list[ColumnReference], curs: list[NumericCounts]) -> dict[str, np.ndarray]:
    """Padded edges, counts (the over bin moved to the last position) and per-bin offset sums."""
    m = max(len(r.edges) - 1 for r in refs)
    edges = pad([np.asarray(r.edges, dtype="float64") for r in refs], m + 1, fill_last=True)
    ref = np.zeros((len(refs), m + 2))
    cur = np.zeros((len(refs), m + 2))
    ref_sums = np.zeros((len(refs), m))
    cur_sums = np.zeros((len(refs), m))
    for i, (r, c) in enumerate(zip(refs, curs, strict=True)):
        nb = len(r.edges) - 1
        ref[i, 1 : nb + 1] = r.counts
        cur[i, : nb + 1] = c.counts[: nb + 1]
        cur[i, -1] = c.counts[nb + 1]
        ref_sums[i, :nb] = _sums(r, nb)
        cur_sums[i, :nb] = c.sums[:nb] if len(c.sums) >= nb else np.nan
    return {
        "edges": edges,
        "ref": ref,
        "cur": cur,
        "ref_sums": ref_sums,
        "cur_sums": cur_sums,
        "below": np.array([c.below for c in curs]),
        "above": np.array([c.above for c in curs]),
    }


def _value_matrices(
    refs: list[ColumnReference], curs: list[NumericCounts]
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """Per few-valued column: the sorted values of both sides and how often each occurs on each side."""
    support, ref_rows, cur_rows = [], [], []
    for r, c in zip(refs, curs, strict=True):
        extra = sorted(c.extra)
        values = np.concatenate([np.asarray(r.values, dtype="float64"), np.asarray(extra, dtype="float64")])
        order = np.argsort(values, kind="stable")
        ref_counts = np.concatenate([np.asarray(r.value_counts, dtype="float64"), np.zeros(len(extra))])
        assert c.value_counts is not None
        cur_counts = np.concatenate([c.value_counts, [c.extra[v] for v in extra]]).astype("float64")
        support.append(values[order])
        ref_rows.append(ref_counts[order])
        cur_rows.append(cur_counts[order])
    width = max(len(v) for v in support)
    return support, pad(support, width, fill_last=True), pad(ref_rows, width), pad(cur_rows, width)


def _numeric_plot(ref: np.ndarray, cur: np.ndarray, edges: np.ndarray) -> dict[str, Any]:
    g_ref, g_cur = stats.coarsen(ref[None, :], cur[None, :])
    labels = ["below range", *[f"decile {i + 1}" for i in range(g_ref.shape[1] - 2)], "above range"]
    n_r, n_c = max(g_ref.sum(), 1), max(g_cur.sum(), 1)
    return {
        "labels": labels,
        "reference": (g_ref[0] / n_r).tolist(),
        "current": (g_cur[0] / n_c).tolist(),
        "range": [float(edges[0]), float(edges[-1])],
    }


def _values_plot(values: np.ndarray, ref: np.ndarray, cur: np.ndarray) -> dict[str, Any]:
    n_r, n_c = max(ref.sum(), 1), max(cur.sum(), 1)
    top = np.sort(np.argsort(-(ref / n_r + cur / n_c), kind="stable")[:PLOT_CATEGORIES])
    return {
        "labels": [f"{v:g}" for v in values[top]],
        "reference": (ref[top] / n_r).tolist(),
        "current": (cur[top] / n_c).tolist(),
    }


Statistics = tuple[dict[str, tuple[Any, Any]], float | None, dict[str, Any], list[str]]


def _by_column(
    ad: np.ndarray,
    p_ad: np.ndarray,
    d: np.ndarray,
    p_ks: np.ndarray,
    psi: np.ndarray,
    js: np.ndarray,
    chi: np.ndarray,
    p_chi: np.ndarray,
) -> list[dict[str, tuple[Any, Any]]]:
    """Each column's statistic and p-value (where there is one) per method, from the vectorized results."""
    return [
        {
            "anderson": (ad[i], p_ad[i]),
            "ks": (d[i], p_ks[i]),
            "psi": (psi[i], None),
            "jensenshannon": (js[i], None),
            "chisquare": (chi[i], p_chi[i]),
        }
        for i in range(len(ad))
    ]


def _binned_statistics(
    refs: list[ColumnReference], curs: list[NumericCounts], min_expected: float
) -> list[Statistics]:
    mat = _numeric_matrices(refs, curs)
    tied = stats.heaviest_share(mat["ref"], mat["cur"]) > stats.TIES_SHARE
    d, p_ks = stats.ks_binned(mat["ref"], mat["cur"])
    ad, p_ad = stats.anderson_darling_binned(mat["ref"], mat["cur"])
    w = stats.wasserstein_binned(
        mat["edges"], mat["ref"], mat["cur"], mat["below"], mat["above"], mat["ref_sums"], mat["cur_sums"]
    )
    coarse_ref, coarse_cur = stats.coarsen(mat["ref"], mat["cur"])
    psi = stats.psi(coarse_ref, coarse_cur)
    js = stats.jensen_shannon(coarse_ref, coarse_cur)
    chi, p_chi, _ = stats.chi2_homogeneity(coarse_ref, coarse_cur, min_expected)
    tests = _by_column(ad, p_ad, d, p_ks, psi, js, chi, p_chi)
    return [
        (
            tests[i],
            w[i],
            _numeric_plot(mat["ref"][i], mat["cur"][i], mat["edges"][i]),
            [
                f"one bin holds more than {stats.TIES_SHARE:.0%} of the rows (a point mass): the "
                f"Anderson–Darling p-value is a Monte Carlo one ({stats.AD_RESAMPLES} splits)"
            ]
            if tied[i]
            else [],
        )
        for i in range(len(refs))
    ]


def _discrete_statistics(
    refs: list[ColumnReference], curs: list[NumericCounts], min_expected: float
) -> list[Statistics]:
    support, values, ref, cur = _value_matrices(refs, curs)
    d, p_ks = stats.ks_binned(ref, cur)
    ad, p_ad = stats.anderson_darling_binned(ref, cur)
    w = stats.wasserstein_discrete(values, ref, cur)
    psi = stats.psi(ref, cur)
    js = stats.jensen_shannon(ref, cur)
    chi, p_chi, _ = stats.chi2_homogeneity(ref, cur, min_expected)
    tests = _by_column(ad, p_ad, d, p_ks, psi, js, chi, p_chi)
    return [
        (
            tests[i],
            w[i],
            _values_plot(support[i], ref[i, : len(support[i])], cur[i, : len(support[i])]),
            [],
        )
        for i in range(len(refs))
    ]


def numeric_statistics(
    refs: list[ColumnReference], curs: list[NumericCounts], few: list[int], min_expected: float
) -> dict[int, Statistics]:
    """Each column's statistics by position: the ``few``-valued ones value by value, the others binned."""
    binned = [i for i in range(len(refs)) if i not in set(few)]
    computed: dict[int, Statistics] = {}
    for group, fn in ((binned, _binned_statistics), (few, _discrete_statistics)):
        if group:
            for i, item in zip(
                group, fn([refs[i] for i in group], [curs[i] for i in group], min_expected), strict=True
            ):
                computed[i] = item
    return computed
