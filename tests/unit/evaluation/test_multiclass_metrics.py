"""Holdout metrics of a three-class model with a rare class: defined where a slice lacks the rare class, and
a champion that never knew a class scored on the challenger's classes."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mlfactory.config import GateConfig
from mlfactory.evaluation import aligned_proba, compute_metrics, evaluate_gates

TIERS = ["bronze", "gold", "silver"]


def scored(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    y = rng.choice(np.array(TIERS, dtype=object), n, p=[0.74, 0.04, 0.22])
    logits = rng.normal(size=(n, 3)) + 2.0 * (y[:, None] == np.array(TIERS))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, proba


def test_roc_auc_is_the_macro_over_present_classes_and_never_nan() -> None:
    rng = np.random.default_rng(1)
    y, proba = scored(rng, 2000)
    pred = np.array(TIERS, dtype=object)[proba.argmax(axis=1)]
    full = compute_metrics("classification", y, pred, proba, TIERS, ["roc_auc"])["roc_auc"]
    assert full == pytest.approx(roc_auc_score(y, proba, multi_class="ovr", labels=TIERS))
    no_gold = y != "gold"  # a slice (say, one region) without the rare class
    part = compute_metrics("classification", y[no_gold], pred[no_gold], proba[no_gold], TIERS, ["roc_auc"])
    expected = np.mean(
        [roc_auc_score(y[no_gold] == c, proba[no_gold][:, j]) for j, c in enumerate(TIERS) if c != "gold"]
    )
    assert part["roc_auc"] == pytest.approx(expected) and np.isfinite(part["roc_auc"])


def test_a_champion_without_a_class_is_scored_on_the_challenger_classes() -> None:
    rng = np.random.default_rng(2)
    y, proba = scored(rng, 1000)
    champion = np.column_stack([proba[:, 0] + proba[:, 1], proba[:, 2]])  # it only knows bronze, silver
    aligned = aligned_proba(champion, ("bronze", "silver"), TIERS)
    assert aligned is not None and aligned.shape == (1000, 3)
    assert np.array_equal(aligned[:, 1], np.zeros(1000)) and np.array_equal(aligned[:, 2], champion[:, 1])
    pred = np.array(["bronze", "silver"], dtype=object)[champion.argmax(axis=1)]
    m = compute_metrics("classification", y, pred, aligned, TIERS, ["f1", "roc_auc", "log_loss"])
    assert all(np.isfinite(m[k]) for k in ("f1", "roc_auc", "log_loss"))
    # integer classes match whatever their stored type
    assert np.array_equal(aligned_proba(champion, (0, 1), ["0", "1"]), champion)
    gates = evaluate_gates([GateConfig(metric="f1", max_drop=0.05)], {"f1": m["f1"] - 0.1}, m, "tier/1")
    assert not gates[0].passed and "vs" in gates[0].detail
