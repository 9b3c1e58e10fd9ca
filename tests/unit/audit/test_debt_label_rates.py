"""The label-rate test of the debt finder, by seeded simulation: labels that arrive for every predicted class
alike are reported at most about alpha of the time; a real gap is reported almost always; small classes and
small gaps are never judged."""

from __future__ import annotations

import numpy as np

from mlfactory.audit.debt.label_rates import ALPHA, ClassCount, label_rate_gap

TRIALS = 400


def _counts(rng: np.random.Generator, rows: dict[str, int], rates: dict[str, float]) -> dict[str, ClassCount]:
    return {c: ClassCount(n, int(rng.binomial(n, rates[c]))) for c, n in rows.items()}


def _fire_rate(seed: int, rows: dict[str, int], rates: dict[str, float]) -> float:
    rng = np.random.default_rng(seed)
    return sum(label_rate_gap(_counts(rng, rows, rates)) is not None for _ in range(TRIALS)) / TRIALS


def test_classes_labelled_alike_are_reported_at_most_about_alpha() -> None:
    # a model predicting 'ham' four times as often as 'spam', both labelled at the same (low) rate: the
    # unequal class sizes and the low rate are where a naive comparison of two shares misfires
    for seed, rate in ((1, 0.3), (2, 0.1)):
        fired = _fire_rate(seed, {"ham": 800, "spam": 200}, {"ham": rate, "spam": rate})
        assert fired <= 2 * ALPHA, (rate, fired)


def test_three_classes_labelled_alike_are_reported_at_most_about_alpha() -> None:
    rows = {"a": 300, "b": 300, "c": 150}
    assert _fire_rate(3, rows, dict.fromkeys(rows, 0.4)) <= 2 * ALPHA


def test_a_real_gap_is_reported_almost_always_and_names_the_classes() -> None:
    rows, rates = {"ham": 800, "spam": 200}, {"ham": 0.15, "spam": 0.45}
    assert _fire_rate(4, rows, rates) >= 0.95
    gap = label_rate_gap(_counts(np.random.default_rng(5), rows, rates))
    assert gap is not None and (gap.highest, gap.lowest) == ("spam", "ham")
    assert gap.p_value < ALPHA


def test_a_significant_but_small_gap_in_a_huge_window_is_not_reported() -> None:
    # 0.50 vs 0.52 over 100,000 rows each is significant, but not a ratio worth a finding
    counts = {"ham": ClassCount(100_000, 50_000), "spam": ClassCount(100_000, 52_000)}
    assert label_rate_gap(counts) is None


def test_classes_with_too_few_rows_are_not_judged() -> None:
    # a 10-row class labelled every time next to a large class labelled rarely: no verdict from 10 rows
    counts = {"ham": ClassCount(900, 90), "spam": ClassCount(10, 10)}
    assert label_rate_gap(counts) is None
    assert label_rate_gap({"ham": ClassCount(900, 90)}) is None


def test_nothing_labelled_or_everything_labelled_is_no_gap() -> None:
    assert label_rate_gap({"a": ClassCount(500, 0), "b": ClassCount(500, 0)}) is None
    assert label_rate_gap({"a": ClassCount(500, 500), "b": ClassCount(300, 300)}) is None
