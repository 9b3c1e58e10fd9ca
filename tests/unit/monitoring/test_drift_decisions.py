"""Drift decisions a statistician would sign: seeded simulations of error rates, never one example.

Each cell is 200 trials (more where the statistic is cheap) of one column kind at one window size, run
through the drift core on counts (see ``drift_simulation.py``). A false-alarm rate may exceed α only by a
one-sided 99 % binomial margin; power must reach 95 % from 1,000 rows up and never fall as the window grows.
The 50,000-row numeric cells sort 100,000 values per trial and are marked slow, except the normal column:
the binned Anderson–Darling test depends on ranks only, so every continuous column has its null
distribution (lognormal is checked at the smaller sizes for that reason too).
"""

from __future__ import annotations

import itertools
from functools import cache

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from mlfactory.config import MonitoringConfig
from mlfactory.monitoring import compare_frames, stats
from unit.monitoring.drift_simulation import (
    CATEGORICAL,
    CATEGORICAL_SHIFTS,
    NUMERIC,
    NUMERIC_SHIFTS,
    categorical_trials,
    numeric_trials,
    rate,
    significant,
)

ALPHA = 0.05
TRIALS = 200
Z99 = 2.326  # one-sided 99 % normal quantile


def margin(trials: int, p: float = ALPHA) -> float:
    return Z99 * float(np.sqrt(p * (1 - p) / trials))


@cache
def numeric_null(kind: str, n: int) -> tuple[float, float]:
    results = numeric_trials(NUMERIC[kind], NUMERIC[kind], n, TRIALS, seed=n + len(kind))
    return rate(results), significant(results)


@cache
def categorical_null(kind: str, n: int, trials: int = 1000) -> tuple[float, float]:
    p = CATEGORICAL[kind]
    results = categorical_trials(p, p, n, trials, seed=n + len(kind))
    return rate(results), significant(results)


@cache
def numeric_power(shift: str, n: int) -> float:
    before, after = NUMERIC_SHIFTS[shift]
    return rate(numeric_trials(before, after, n, TRIALS, seed=7 * n + len(shift)))


@cache
def categorical_power(shift: str, n: int) -> float:
    before, after = CATEGORICAL_SHIFTS[shift]
    return rate(categorical_trials(before, after, n, TRIALS, seed=7 * n + len(shift)))


SLOW = pytest.mark.slow


@pytest.mark.parametrize(
    ("kind", "n"),
    [
        *[(k, n) for k in NUMERIC for n in (200, 1_000, 5_000)],
        ("normal", 50_000),
        *[pytest.param(k, 50_000, marks=SLOW) for k in NUMERIC if k != "normal"],
    ],
)
def test_numeric_false_alarms_stay_within_alpha_at_every_size(kind: str, n: int) -> None:
    flagged, tested = numeric_null(kind, n)
    assert tested <= ALPHA + margin(TRIALS), f"{kind} at {n}: the test alone rejects {tested:.1%}"
    assert flagged <= tested


@pytest.mark.parametrize("kind", list(CATEGORICAL))
@pytest.mark.parametrize("n", [200, 1_000, 5_000, 50_000])
def test_categorical_false_alarms_stay_within_alpha_at_every_size(kind: str, n: int) -> None:
    flagged, tested = categorical_null(kind, n)
    assert tested <= ALPHA + margin(1000), f"{kind} at {n}: the test alone rejects {tested:.1%}"
    assert flagged <= tested


@pytest.mark.parametrize(("n_ref", "n"), [(200, 200), (5_000, 200), (20_000, 200), (20_000, 1_000)])
def test_sparse_chi_square_p_values_are_valid_on_50_categories(n_ref: int, n: int) -> None:
    """On raw cells the asymptotic test rejects 10 % of windows of 200 rows against a larger reference;
    with cells under 5 expected rows merged it holds α."""
    rng = np.random.default_rng(n_ref + n)
    p = CATEGORICAL["50 categories (0.9^k)"]
    trials = 4000
    ref, cur = rng.multinomial(n_ref, p, size=trials), rng.multinomial(n, p, size=trials)
    _, merged, _ = stats.chi2_homogeneity(ref, cur)
    assert np.mean(merged < ALPHA) <= ALPHA + margin(trials)
    if n_ref >= 25 * n:  # the defect this guards against is real
        _, raw, _ = stats.chi2_homogeneity(ref, cur, min_expected=0)
        assert np.mean(raw < ALPHA) > ALPHA + margin(trials)


def test_false_alarms_hold_when_the_reference_is_much_larger_than_the_window() -> None:
    p = CATEGORICAL["50 categories (0.9^k)"]
    results = categorical_trials(p, p, 200, 1000, seed=5, n_ref=20_000)
    assert significant(results) <= ALPHA + margin(1000)
    numbers = numeric_trials(NUMERIC["mostly zero"], NUMERIC["mostly zero"], 200, TRIALS, seed=6, n_ref=5_000)
    assert significant(numbers) <= ALPHA + margin(TRIALS)


@pytest.mark.parametrize("shift", list(NUMERIC_SHIFTS))
def test_numeric_power_is_high_from_1000_rows_and_never_falls(shift: str) -> None:
    powers = [numeric_power(shift, n) for n in (1_000, 5_000)]
    if shift.startswith("0/1"):  # a 6.6-point move of a 0/1 share: not among the shifts that must be caught
        assert powers[0] >= 0.7 and powers[1] >= 0.95, powers
    else:
        assert min(powers) >= 0.95, powers
    assert powers[1] >= powers[0] - margin(TRIALS, 0.05), powers


@SLOW
@pytest.mark.parametrize("shift", list(NUMERIC_SHIFTS))
def test_numeric_power_holds_at_50000_rows(shift: str) -> None:
    assert numeric_power(shift, 50_000) >= max(0.95, numeric_power(shift, 5_000) - margin(TRIALS, 0.05))


@pytest.mark.parametrize("shift", list(CATEGORICAL_SHIFTS))
def test_categorical_power_is_high_from_1000_rows_and_never_falls(shift: str) -> None:
    powers = [categorical_power(shift, n) for n in (1_000, 5_000, 50_000)]
    assert min(powers) >= 0.95, powers
    for small, large in itertools.pairwise(powers):
        assert large >= small - margin(TRIALS, 0.05), powers


def test_a_value_the_reference_never_drew_alarms_only_in_a_meaningful_share() -> None:
    base = CATEGORICAL["skewed (4)"]
    trace = categorical_trials(base, np.append(base * 0.999, 0.001), 50_000, TRIALS, seed=8)
    assert rate(trace) == 0.0  # 0.1 % of rows: significant at 50,000 rows, but no practical change
    assert significant(trace) > 0.9
    assert rate(categorical_trials(base, np.append(base * 0.98, 0.02), 1_000, TRIALS, seed=9)) >= 0.95


def test_the_zero_one_column_of_the_issue_is_seen() -> None:
    """A 0/1 indicator moving 29.8 % → 36.4 % once read statistic 0, p = 1, effect 0 in every window."""
    rng = np.random.default_rng(10)
    ref = (rng.random(5000) < 0.298).astype(float)
    cur = (rng.random(5000) < 0.364).astype(float)
    (col,) = compare_frames(pd.DataFrame({"x": ref}), pd.DataFrame({"x": cur}))["columns"]
    assert col["method"] == "chisquare" and col["drifted"] is True
    assert col["p_value"] < 1e-6
    exact = sps.wasserstein_distance(ref, cur) / ref.std(ddof=1)
    assert col["effect_size"] == pytest.approx(exact, rel=1e-9)
    assert col["plot"]["labels"] == ["0", "1"]


def test_one_rule_at_every_window_size() -> None:
    """The method and thresholds do not change with the window's size (1,000 and 1,001 rows alike)."""
    rng = np.random.default_rng(11)
    ref = pd.DataFrame({"x": rng.normal(size=3000), "c": rng.choice(list("abc"), 3000)})
    methods = set()
    for n in (200, 1000, 1001, 1500, 50_000):
        cur = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(list("abc"), n)})
        cols = compare_frames(ref, cur)["columns"]
        methods.add(tuple((c["method"], c["threshold"], c["min_effect"]) for c in cols))
    assert len(methods) == 1
    settings = MonitoringConfig(small_sample=10)  # accepted for older project files; changes nothing
    assert [c["method"] for c in compare_frames(ref, ref.iloc[:500], settings=settings)["columns"]] == [
        "anderson",
        "chisquare",
    ]


def _stream_alarms(
    window: int, streams: int = 200, change: int = 9_000, length: int = 12_000
) -> tuple[float, float]:
    """Alarm rates of consecutive windows before and after a change point (mean +0.5 SD) in seeded streams."""
    from mlfactory.data.profile import numeric_reference
    from mlfactory.monitoring.drift import numeric_drift
    from mlfactory.monitoring.reference import ColumnReference
    from mlfactory.monitoring.window_counts import NumericCounts

    rng = np.random.default_rng(window)
    refs, curs, after = [], [], []
    for _ in range(streams):
        ref = ColumnReference.from_json(numeric_reference(rng.normal(size=5_000)))  # the training data
        stream = rng.normal(size=length) + 0.5 * (np.arange(length) >= change)
        for start in range(0, length - window + 1, window):
            edges = np.asarray(ref.edges)
            acc = NumericCounts(edges, np.zeros(len(edges) + 1, dtype=np.int64), np.zeros(len(edges) - 1))
            acc.add(stream[start : start + window])
            refs.append(ref)
            curs.append(acc)
            after.append(start >= change)
    flagged = np.array(
        [
            bool(r.drifted)
            for r in numeric_drift([str(i) for i in range(len(refs))], refs, curs, MonitoringConfig())
        ]
    )
    done = np.array(after)
    return float(flagged[~done].mean()), float(flagged[done].mean())


def test_windows_one_size_apart_are_judged_alike_around_a_change_point() -> None:
    """1,000-row windows alarmed 3 in 6 before a change point (KS at that size), 1,500-row ones 0 in 7."""
    for window in (1_000, 1_500):
        before, after = _stream_alarms(window)
        assert before <= ALPHA, (window, before)
        assert after >= 0.95, (window, after)
