"""Predictions and probabilities from rows transformed once: the same answers as asking the pipeline for each
(classifiers of two and more classes, regressors, an SVC whose predicted class is not always the most
probable, passthrough and nested steps), with the steps before the last run once per call."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from mlfactory.estimators.predicting import predict_rows
from pipeline_helpers import count_transforms, fitted, preprocess, rows


@pytest.mark.filterwarnings("ignore:The `probability` parameter:FutureWarning")  # SVC's own, since 1.9
@pytest.mark.parametrize(
    ("final", "classes"),
    [
        (LogisticRegression(max_iter=500), 2),
        (LogisticRegression(max_iter=500), 4),
        (SVC(probability=True, random_state=0), 3),  # Platt scaling: predict is not argmax(predict_proba)
    ],
    ids=["binary", "multiclass", "svc"],
)
def test_a_classifier_answers_as_the_pipeline_does_with_one_transform(final: Any, classes: int) -> None:
    pipeline = fitted(final, classes)
    x = rows(300, seed=2)
    calls = count_transforms(pipeline)
    pred, proba = predict_rows(pipeline, x)
    assert calls[0] == 1
    assert proba is not None and proba.shape == (300, classes)
    np.testing.assert_array_equal(pred, pipeline.predict(x))
    np.testing.assert_array_equal(proba, pipeline.predict_proba(x))
    assert calls[0] == 3  # the spy counts: each pipeline call transforms on its own


@pytest.mark.filterwarnings("ignore:The `probability` parameter:FutureWarning")  # SVC's own, since 1.9
def test_svc_predictions_are_its_own_not_the_most_probable_class() -> None:
    """Where an SVC's predicted class is not its most probable one, the answer is still the SVC's."""
    pipeline = fitted(SVC(probability=True, random_state=0), classes=3)
    x = rows(2000, seed=5)
    pred, proba = predict_rows(pipeline, x)
    assert proba is not None
    differs = pipeline.classes_[np.argmax(proba, axis=1)] != pred
    assert differs.any()  # this seeded case has such rows, so the test can tell the two apart
    np.testing.assert_array_equal(pred, pipeline.predict(x))


def test_a_regressor_predicts_once_and_has_no_probabilities() -> None:
    pipeline = fitted(Ridge())
    x = rows(200, seed=2)
    calls = count_transforms(pipeline)
    pred, proba = predict_rows(pipeline, x)
    assert calls[0] == 1 and proba is None
    np.testing.assert_array_equal(pred, pipeline.predict(x))


def test_probabilities_only_when_asked() -> None:
    pipeline = fitted(LogisticRegression(max_iter=500), 2)
    x = rows(50, seed=2)
    pred, proba = predict_rows(pipeline, x, proba=False)
    assert proba is None
    np.testing.assert_array_equal(pred, pipeline.predict(x))


def test_passthrough_and_nested_steps_are_taken_as_the_pipeline_takes_them() -> None:
    inner = Pipeline([("preprocess", preprocess()), ("skip", "passthrough")])
    steps = [("inner", inner), ("none", None), ("scale", StandardScaler(with_mean=False))]
    pipeline = fitted(Pipeline([("last", LogisticRegression(max_iter=500))]), 3, steps)
    x = rows(100, seed=4)
    calls = count_transforms(inner)
    pred, proba = predict_rows(pipeline, x)
    assert calls[0] == 1
    np.testing.assert_array_equal(pred, pipeline.predict(x))
    np.testing.assert_array_equal(proba, pipeline.predict_proba(x))


def test_an_estimator_without_steps_is_asked_directly() -> None:
    frame = rows(200, seed=1)[["x1", "x2"]]
    model = LogisticRegression().fit(frame, frame["x1"] > 0)
    pred, proba = predict_rows(model, frame)
    np.testing.assert_array_equal(pred, model.predict(frame))
    np.testing.assert_array_equal(proba, model.predict_proba(frame))
