import numpy as np
import pytest

from mlfactory.config import GateConfig
from mlfactory.evaluation import compute_metrics, evaluate_gates, metrics_by_slice


def test_classification_metrics_match_definitions() -> None:
    y = np.array([0, 0, 1, 1, 1])
    pred = np.array([0, 1, 1, 1, 0])
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    m = compute_metrics(
        "classification",
        y,
        pred,
        proba,
        [0, 1],
        ["accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"],
    )
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["roc_auc"] == pytest.approx(5 / 6)
    assert m["confusion_matrix"] == {"labels": [0, 1], "matrix": [[1, 1], [1, 2]]}


def test_undefined_metric_is_none_not_zero() -> None:
    y = np.array([1, 1])
    m = compute_metrics("classification", y, y, np.array([[0.1, 0.9]] * 2), [0, 1], ["roc_auc"])
    assert m["roc_auc"] is None


def test_regression_metrics() -> None:
    m = compute_metrics(
        "regression", np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]), None, None, ["mae", "rmse", "r2"]
    )
    assert m["mae"] == pytest.approx(2 / 3)
    assert m["rmse"] == pytest.approx(np.sqrt(4 / 3))
    assert m["r2"] == pytest.approx(1 - 4 / 2)


def test_slices() -> None:
    import pandas as pd

    frame = pd.DataFrame({"lang": ["en", "en", "de", "de"]})
    y, pred = np.array([1, 0, 1, 1]), np.array([1, 0, 0, 1])
    out = metrics_by_slice("classification", frame, ["lang"], y, pred, None, [0, 1], ["accuracy"])
    assert out == {"lang": {"de": {"rows": 2, "accuracy": 0.5}, "en": {"rows": 2, "accuracy": 1.0}}}


def test_absolute_gates() -> None:
    gates = [GateConfig(metric="accuracy", min=0.9), GateConfig(metric="log_loss", max=0.3)]
    res = evaluate_gates(gates, {"accuracy": 0.85, "log_loss": 0.2}, None)
    assert [r.passed for r in res] == [False, True]
    assert res[0].detail == "accuracy = 0.8500"


def test_relative_gate_against_champion_respects_direction() -> None:
    gates = [GateConfig(metric="f1", max_drop=0.01), GateConfig(metric="log_loss", max_drop=0.05)]
    champion = {"f1": 0.90, "log_loss": 0.30}
    ok = evaluate_gates(gates, {"f1": 0.895, "log_loss": 0.34}, champion, "spam/1")
    assert [r.passed for r in ok] == [True, True]
    bad = evaluate_gates(gates, {"f1": 0.88, "log_loss": 0.36}, champion, "spam/1")
    assert [r.passed for r in bad] == [False, False]
    assert "spam/1" in bad[0].detail
    first = evaluate_gates(gates, {"f1": 0.5, "log_loss": 2.0}, None)
    assert all(r.passed for r in first) and "no production version" in first[0].detail
    broken = evaluate_gates(gates[:1], {"f1": 0.95}, {"error": "cannot load"}, "spam/1")
    assert not broken[0].passed
