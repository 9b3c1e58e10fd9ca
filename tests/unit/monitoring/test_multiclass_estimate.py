"""The label-free estimate of a three-class model with skewed classes and a rare one, over seeded
simulations of hundreds of trials: its accuracy interval covers the realized accuracy, its macro F1 is
unbiased, concept drift is rarely claimed when there is none and found when there is; string and integer
classes give the same numbers. A regressor gets realized errors and no estimate, said plainly.

Each trial fits the calibration as training does (``build_calibration`` on a holdout of the model's
probabilities: one isotonic curve per class), scores a fresh window and asks ``PerformanceCounts``.
"""

from __future__ import annotations

import numpy as np
import pytest

from mlfactory.monitoring import PerformanceCounts, build_calibration
from mlfactory.monitoring.realized import confusion_metrics

TIERS = ["bronze", "gold", "silver"]  # about 74%, 4% and 22% of rows
WEIGHTS = np.array([[0.0, 0.0, 0.0], [1.2, -1.0, 0.0], [0.6, 0.8, -0.5]])
BIAS = np.array([1.5, -2.6, 0.0])


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _world(
    rng: np.random.Generator, n: int, shift: float = 0.0, concept: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """n rows: an overconfident softmax model's probabilities and the true class indices. ``shift`` moves
    an input (the label given the inputs stays); ``concept`` turns a tenth of the rows the model calls
    bronze silver."""
    x = rng.normal(size=(n, 3))
    x[:, 0] += shift
    z = x @ WEIGHTS.T + BIAS
    y = (rng.random(n)[:, None] > _softmax(z).cumsum(axis=1)).sum(axis=1)
    proba = _softmax(z * 1.6 + 0.1)
    if concept:
        y = np.where((proba.argmax(axis=1) == 0) & (rng.random(n) < 0.1), 2, y)
    return proba, y


def _trial(seed: int, classes: list, *, shift: float = 0.0, concept: bool = False, labelled: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    names = np.array(classes, dtype=object)
    proba_h, y_h = _world(rng, int(rng.integers(500, 2001)))
    calibration = build_calibration(names[y_h], proba_h, classes)
    proba, y = _world(rng, int(rng.integers(1000, 3001)), shift, concept)
    pred = proba.argmax(axis=1)
    labels = names[y].copy()
    labels[labelled:] = None
    counts = PerformanceCounts(classes, calibration)
    for chunk in np.array_split(np.arange(len(y)), 3):  # monitoring adds a window chunk by chunk
        counts.add(names[pred[chunk]], proba[chunk], labels[chunk])
    result = counts.result(0.02, 0.05).to_json()
    cm = np.zeros((3, 3))
    np.add.at(cm, (y, pred), 1)
    realized = confusion_metrics(cm, [str(c) for c in classes])
    est = result["estimated"]
    below = result.get("tests", {}).get("below_estimate", {})
    return {
        "covered": est["accuracy_low"] <= realized["accuracy"] <= est["accuracy_high"],
        "accuracy_error": est["accuracy"] - realized["accuracy"],
        "f1_error": est["f1"] - realized["f1"],
        "reliable": est["reliable"],
        "concept": below.get("drifted"),
        "estimated": est,
    }


def test_the_interval_covers_macro_f1_is_unbiased_and_concept_drift_is_rarely_claimed() -> None:
    # covariate shift (an input moves half a standard deviation; the label given the inputs stays)
    trials = [_trial(seed, TIERS, shift=0.5, labelled=1000) for seed in range(200)]
    covered = np.mean([t["covered"] for t in trials])
    assert 0.92 <= covered <= 0.99, covered  # nominal 95% (measured 95-96% over 200-300 trials)
    for key in ("accuracy_error", "f1_error"):
        errors = np.array([t[key] for t in trials])
        assert abs(errors.mean()) < 0.006, (key, errors.mean())  # unbiased within sampling noise
        assert errors.std() < 0.03, (key, errors.std())
    assert np.mean([t["reliable"] is False for t in trials]) <= 0.02  # inputs still like the holdout's
    concept = [t["concept"] for t in trials]
    assert all(c is not None for c in concept)  # 1,000 labelled rows on a reliable estimate decide
    assert np.mean(concept) <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 200)


def test_concept_drift_is_found_from_labelled_rows() -> None:
    changed = [_trial(seed, TIERS, concept=True, labelled=1000)["concept"] for seed in range(60)]
    assert np.mean([c is True for c in changed]) >= 0.9


def test_string_and_integer_classes_give_the_same_estimate() -> None:
    for seed in range(5):
        words, numbers = _trial(seed, TIERS)["estimated"], _trial(seed, [0, 1, 2])["estimated"]
        assert words == pytest.approx(numbers)


def test_a_window_without_the_rare_class_is_averaged_over_the_classes_it_has() -> None:
    cm = np.array([[50.0, 0.0, 10.0], [0.0, 0.0, 0.0], [5.0, 0.0, 35.0]])  # no gold row, none predicted
    f1 = confusion_metrics(cm, TIERS)["f1"]
    bronze, silver = 2 * 50 / (2 * 50 + 15), 2 * 35 / (2 * 35 + 15)
    assert f1 == pytest.approx((bronze + silver) / 2)  # not a third lower for the absent class
    binary = confusion_metrics(np.array([[40.0, 10.0], [5.0, 45.0]]), ["0", "1"])
    assert binary["precision"] == pytest.approx(45 / 55)  # binary: the second class's figures


def test_a_regressor_gets_realized_errors_and_no_estimate() -> None:
    rng = np.random.default_rng(3)
    counts = PerformanceCounts(None, None)
    y = rng.normal(100, 10, 600)
    pred = y + rng.normal(0, 2, 600)
    labels = np.where(np.arange(600) < 400, y, np.nan).astype(object)
    labels[0] = "not a number"  # a bad label is left out, not a crash
    counts.add(pred, None, labels)
    result = counts.result(0.02, 0.05)
    assert result.estimated is None and result.tests is None
    assert result.labelled_rows == 399
    assert result.realized is not None and result.realized["mae"] == pytest.approx(1.6, abs=0.2)
    assert any(m.startswith("no label-free estimate for a regressor") for m in result.messages)
    empty = PerformanceCounts(None, None)
    empty.add(pred, None, None)
    assert empty.result(0.02, 0.05).realized is None  # no labels yet: no number made up
