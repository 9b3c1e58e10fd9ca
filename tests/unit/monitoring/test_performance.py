"""Realized and estimated performance: CBPE under covariate shift, concept change detection, calibration."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mlfactory.monitoring import PerformanceCounts, build_calibration
from mlfactory.monitoring.calibration import Calibration

W = np.array([1.5, -1.0, 0.5])
TOLERANCE = 0.03  # stated bound on |estimated − realized| accuracy and F1 under covariate shift (5000 rows)


def _world(rng: np.random.Generator, n: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=(n, 3))
    x[:, 0] += shift
    x[:, 1] *= 1 + shift / 2
    y = (rng.random(n) < 1 / (1 + np.exp(-(x @ W)))).astype(int)
    return x, y


@pytest.mark.parametrize("seed", range(8))
def test_estimate_tracks_realized_performance_under_covariate_shift(seed: int) -> None:
    rng = np.random.default_rng(seed)
    model = LogisticRegression().fit(*_world(rng, 4000))
    xh, yh = _world(rng, 2000)
    calibration = build_calibration(yh, model.predict_proba(xh), [0, 1])
    xc, yc = _world(rng, 5000, shift=1.0)  # inputs move, the label given the inputs does not
    counts = PerformanceCounts([0, 1], calibration)
    for chunk in np.array_split(np.arange(5000), 4):
        counts.add(model.predict(xc[chunk]), model.predict_proba(xc[chunk]), yc[chunk])
    result = counts.result(0.02, 0.05).to_json()
    realized, estimated = result["realized"], result["estimated"]
    assert abs(realized["accuracy"] - calibration.holdout_accuracy) > TOLERANCE  # the shift matters
    assert estimated["accuracy"] == pytest.approx(realized["accuracy"], abs=TOLERANCE)
    assert estimated["f1"] == pytest.approx(realized["f1"], abs=TOLERANCE)
    below = result["tests"]["below_estimate"]
    assert below["below"] is False  # the labels agree with the estimate ...
    assert below["drifted"] is not True  # ... so no concept drift (undecided when the scores moved far)


def _concept_trial(rng: np.random.Generator, calibration: dict, changed: bool) -> dict:
    x = rng.normal(size=1000)
    p = 1 / (1 + np.exp(-3 * x))
    y = (rng.random(1000) < p).astype(int)
    if changed:  # the label given the features changes: in 0 < x < 1 the answer flips
        region = (x > 0) & (x < 1)
        y[region] = 1 - y[region]
    counts = PerformanceCounts([0, 1], calibration)
    counts.add((x > 0).astype(int), np.column_stack([1 - p, p]), y)
    return counts.result(0.02, 0.05).to_json()["tests"]


def test_detects_a_change_of_the_label_given_the_features_and_keeps_false_alarms_low() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=2000)
    p = 1 / (1 + np.exp(-3 * x))
    calibration = build_calibration((rng.random(2000) < p).astype(int), np.column_stack([1 - p, p]), [0, 1])
    changed = [_concept_trial(rng, calibration, True) for _ in range(200)]
    same = [_concept_trial(rng, calibration, False) for _ in range(200)]
    for test in ("accuracy_drop", "below_estimate"):
        assert np.mean([t[test]["drifted"] for t in changed]) >= 0.95
        assert np.mean([t[test]["drifted"] for t in same]) <= 0.05 + 0.03


def test_calibration_check_warns_on_overconfident_scores() -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(size=3000)
    p = 1 / (1 + np.exp(-x))
    y = (rng.random(3000) < p).astype(int)
    sharp = 1 / (1 + np.exp(-6 * x))  # far too sure of itself
    calibration = build_calibration(y, np.column_stack([1 - sharp, sharp]), [0, 1])
    assert calibration is not None and calibration.ece_raw is not None
    assert calibration.ece_raw > 0.05
    assert any("poorly calibrated" in w for w in calibration.warnings)
    assert calibration.ece_calibrated is not None and calibration.ece_calibrated < calibration.ece_raw
    honest = build_calibration(y, np.column_stack([1 - p, p]), [0, 1])
    assert honest is not None and not any("poorly calibrated" in w for w in honest.warnings)


def test_no_labels_and_no_calibration_say_so() -> None:
    counts = PerformanceCounts([0, 1], None)
    counts.add(np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]]), None)
    result = counts.result(0.02, 0.05).to_json()
    assert result["realized"] is None and result["estimated"] is None
    assert any("no feedback labels" in m for m in result["messages"])
    assert any("no calibration data" in m for m in result["messages"])


def test_versions_registered_before_the_bootstrap_still_get_an_interval_and_a_check() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=2000)
    p = 1 / (1 + np.exp(-3 * x))
    calibration = build_calibration((rng.random(2000) < p).astype(int), np.column_stack([1 - p, p]), [0, 1])
    stored = calibration.to_json() if calibration is not None else {}
    assert {"bootstrap", "support"} <= stored.keys()
    # as stored before the bootstrap and support existed
    old = Calibration.from_json({k: v for k, v in stored.items() if k not in ("bootstrap", "support")})

    def window(scale: float) -> dict:
        xc = rng.normal(size=3000) * scale
        pc = 1 / (1 + np.exp(-3 * xc))
        counts = PerformanceCounts([0, 1], old)
        counts.add((xc > 0).astype(int), np.column_stack([1 - pc, pc]), None)
        return counts.result(0.02, 0.05).to_json()

    same = window(1.0)
    est = same["estimated"]
    assert est["accuracy_low"] < est["accuracy"] < est["accuracy_high"]
    assert est["accuracy_se"] > same["estimate_check"]["sampling_se"]  # the calibration's share is in it
    assert est["reliable"] is True
    assert any("registered before" in m for m in same["messages"])
    unsure = window(0.1)  # every score near 0.5, where the holdout had few rows
    assert unsure["estimated"]["reliable"] is False
    assert any("estimate is unreliable" in m for m in unsure["messages"])
