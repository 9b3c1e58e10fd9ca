"""Labels of a class the model does not know (a class that appeared after training) count in realized
performance: each is a wrong prediction and a missed class of the averages, the report says how many there
were, and the accuracy-drop and concept-drift tests see the drop. Seeded simulations of a three-class
model."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from mlfactory.monitoring import PerformanceCounts, build_calibration
from mlfactory.monitoring.calibration import Calibration

CLASSES = ["bronze", "gold", "silver"]
WEIGHTS = np.array([[0.0, 0.0], [1.5, -1.0], [-1.2, 1.4]])


def _world(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n rows: the model's predictions, its probabilities and the true classes (names)."""
    z = rng.normal(size=(n, 2)) @ WEIGHTS.T * 1.5
    proba = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    truth = (rng.random(n)[:, None] > proba.cumsum(axis=1)).sum(axis=1)
    names = np.array(CLASSES)
    return names[proba.argmax(axis=1)], proba, names[truth]


def _calibration(seed: int) -> Calibration:
    _, proba, truth = _world(np.random.default_rng(seed), 3000)
    return build_calibration(truth, proba, CLASSES)


def _counts(calibration: Calibration | None, *chunks: tuple[np.ndarray, np.ndarray, np.ndarray]) -> dict:
    counts = PerformanceCounts(CLASSES, calibration)
    for pred, proba, labels in chunks:
        counts.add(pred, proba, labels)
    return counts.result(0.02, 0.05).to_json()


def _new_class(rng: np.random.Generator, labels: np.ndarray, share: float) -> np.ndarray:
    out = labels.astype(object)
    out[rng.choice(len(labels), int(share * len(labels)), replace=False)] = "platinum"
    return out


@pytest.mark.parametrize("seed", range(5))
def test_labels_of_a_new_class_count_as_wrong_and_as_a_missed_class(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pred, proba, labels = _world(rng, 1000)
    before = _counts(None, (pred, proba, labels))["realized"]
    changed = _new_class(rng, labels, 0.1)
    result = _counts(None, (pred, proba, changed))
    known = changed != "platinum"
    known_accuracy = float((pred[known] == changed[known]).mean())  # what leaving them out reported
    realized = result["realized"]
    assert result["labelled_rows"] == 1000
    assert (
        realized["accuracy"] == pytest.approx(0.9 * known_accuracy)
        and realized["accuracy"] < before["accuracy"]
    )
    for name in ("precision", "recall", "f1"):  # macro averages with the new class in, as scikit-learn's
        sk = getattr(skm, f"{name}_score")(changed.astype(str), pred, average="macro", zero_division=0)
        assert realized[name] == pytest.approx(sk)
    assert any(
        m.startswith("100 label(s) are of classes the model does not know ('platinum': 100")
        for m in result["messages"]
    )


def test_slices_with_different_new_classes_merge_into_the_whole_windows_counts() -> None:
    rng = np.random.default_rng(3)
    pred, proba, labels = _world(rng, 1200)
    labels = labels.astype(object)
    labels[:50], labels[700:760] = "platinum", "diamond"
    whole = PerformanceCounts(CLASSES, None)
    whole.add(pred, proba, labels)
    first, second = PerformanceCounts(CLASSES, None), PerformanceCounts(CLASSES, None)
    first.add(pred[:600], proba[:600], labels[:600])  # sees platinum only
    second.add(pred[600:], proba[600:], labels[600:])  # diamond only
    second.merge(first)
    merged, expected = second.result(0.02, 0.05).to_json(), whole.result(0.02, 0.05).to_json()
    assert merged["realized"] == pytest.approx(expected["realized"])
    assert merged["labelled_rows"] == expected["labelled_rows"] == 1200
    assert second.realized.unknown_labels() == {"diamond": 60, "platinum": 50}


def test_the_drop_and_concept_tests_see_a_new_class() -> None:
    """Against the holdout (accuracy drop) and the label-free estimate (concept drift): no finding on
    the model's own world, both once a fifth of the labels are a new class."""
    calibration = _calibration(11)
    rng = np.random.default_rng(12)
    pred, proba, labels = _world(rng, 1000)
    same = _counts(calibration, (pred, proba, labels))["tests"]
    assert same["accuracy_drop"]["drifted"] is False and same["below_estimate"]["drifted"] is False
    new = _counts(calibration, (pred, proba, _new_class(rng, labels, 0.2)))["tests"]
    assert new["accuracy_drop"]["drifted"] is True and new["below_estimate"]["drifted"] is True
