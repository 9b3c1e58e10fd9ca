"""The checks' pure parts: which baselines a model gets, how answers are compared, how a row is replayed, and
the ``baselines`` setting."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest
from sklearn.linear_model import LogisticRegression

from mlfactory.audit.checks import CHECKS
from mlfactory.audit.checks.base import better, drop, gate_tolerance, primary_metric
from mlfactory.audit.checks.baseline import baselines
from mlfactory.audit.checks.reproducible import differing_rows
from mlfactory.audit.checks.single import replay
from mlfactory.config import ModelConfig
from mlfactory.estimators.predicting import predict_rows
from pipeline_helpers import fitted, rows


def model(**settings: object) -> ModelConfig:
    return ModelConfig.model_validate(
        {"source": "emails", "label": "y", "features": {"numeric": ["x1"]}, **settings}
    )


def test_the_check_ids_are_the_audits_fixed_ones_each_saying_what_it_does_and_costs() -> None:
    assert set(CHECKS) == {
        "data.feature_importance",
        "model.simpler_baseline",
        "model.staleness",
        "infra.reproducible",
        "model.slices",
        "infra.single_example",
    }
    assert all(c.id == key and c.does and c.costs for key, c in CHECKS.items())


def test_a_linear_model_is_not_compared_with_itself_and_declared_baselines_follow() -> None:
    linear = model(baselines=["sklearn.tree.DecisionTreeClassifier", "sklearn.dummy.DummyClassifier"])
    assert [b.estimator for b in baselines(linear)] == [
        "sklearn.dummy.DummyClassifier",
        "sklearn.tree.DecisionTreeClassifier",
    ]
    forest = model(estimator="sklearn.ensemble.RandomForestClassifier")
    assert [b.name for b in baselines(forest)] == ["DummyClassifier", "LogisticRegression"]
    regression = model(task="regression", estimator="sklearn.ensemble.RandomForestRegressor")
    assert [b.name for b in baselines(regression)] == ["DummyRegressor", "Ridge"]


def test_baselines_must_be_import_paths() -> None:
    with pytest.raises(pydantic.ValidationError, match="baseline 'DecisionTree' must be an import path"):
        model(baselines=["DecisionTree"])


def test_metrics_compare_in_their_own_direction() -> None:
    assert better("accuracy", 0.898, 0.9, tolerance=0.005) and not better("accuracy", 0.89, 0.9, 0.005)
    assert better("rmse", 1.004, 1.0, tolerance=0.005) and not better("rmse", 1.1, 1.0)
    assert drop("accuracy", 0.9, 0.8) == pytest.approx(0.1) and drop("mae", 1.0, 1.5) == pytest.approx(0.5)


def test_the_primary_metric_is_the_first_gates_and_its_tolerance_its_max_drop() -> None:
    gated = model(gates=[{"metric": "f1", "max_drop": 0.01}, {"metric": "accuracy", "min": 0.9}])
    assert primary_metric(gated) == "f1" and gate_tolerance(gated, "f1", 0.05) == 0.01
    floor = model(gates=[{"metric": "accuracy", "min": 0.9}], metrics=["roc_auc", "accuracy"])
    assert primary_metric(floor) == "accuracy" and gate_tolerance(floor, "accuracy", 0.05) == 0.05
    assert primary_metric(model(metrics=["roc_auc"])) == "roc_auc"


def test_rows_differ_by_prediction_or_by_a_probability_beyond_the_tolerance() -> None:
    pred = np.array([0, 1, 1, 0])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    other = proba.copy()
    other[1] += [1e-12, -1e-12]  # within 1e-9: the same
    other[2] += [1e-6, -1e-6]
    differ = differing_rows((pred, proba), (np.array([0, 1, 1, 1]), other))
    assert differ.tolist() == [False, False, True, True]
    assert differing_rows((pred, None), (pred, None)).sum() == 0


def test_a_row_replayed_step_by_step_answers_as_the_pipeline_does() -> None:
    pipeline = fitted(LogisticRegression(max_iter=500), classes=3)
    row = rows(1, seed=9)
    steps, pred, proba = replay(pipeline, row)
    expected_pred, expected_proba = predict_rows(pipeline, row)
    assert pred == expected_pred[0] and np.allclose(proba, expected_proba[0], atol=1e-12)
    [step] = steps
    assert step["step"] == "preprocess" and step["shape"][0] == 1
    assert step["parts"]["kind"] == {"width": 3, "nonzero": 1}  # one-hot: one of three kinds
    assert step["parts"]["num"]["width"] == 2
    assert step["nonzero"] == sum(part["nonzero"] for part in step["parts"].values())
