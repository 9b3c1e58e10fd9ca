"""A served version answers as its pipeline does, transforming each batch's rows once: through the shared
predict for a classifier whose predicted class is its own (an SVC), and through the compiled mixed-column path
for a LogisticRegression (no scikit-learn call at all)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC

from mlfactory.config import BatchingConfig
from mlfactory.entities import Signature
from mlfactory.inputs import frame_payload
from mlfactory.registry.loaded import LoadedModel
from mlfactory.serving.served import ServedVersion
from pipeline_helpers import count_transforms, fitted, rows

SIGNATURE = Signature.from_json(
    {
        "inputs": [
            {"name": "text", "type": "text"},
            {"name": "kind", "type": "category"},
            {"name": "x1", "type": "number"},
            {"name": "x2", "type": "number"},
        ]
    }
)


def served(estimator: BaseEstimator) -> ServedVersion:
    version = SimpleNamespace(name="m", version=1, ref="m/1", signature=SIGNATURE)
    return ServedVersion(LoadedModel(cast(Any, version), estimator), BatchingConfig(enabled=False))


@pytest.mark.filterwarnings("ignore:The `probability` parameter:FutureWarning")  # SVC's own, since 1.9
def test_a_batch_is_transformed_once_and_answered_as_the_pipeline_does() -> None:
    pipeline = fitted(SVC(probability=True, random_state=0), classes=3)
    version = served(pipeline)
    frame = rows(300, seed=6)
    batch = version.spec.check(frame_payload(frame, version.spec))
    calls = count_transforms(pipeline)
    pred, proba = version.predict_batch(batch)
    assert calls[0] == 1
    x = batch.frame()
    np.testing.assert_array_equal(pred, pipeline.predict(x))
    np.testing.assert_array_equal(proba, pipeline.predict_proba(x))


def test_a_logistic_regression_over_mixed_columns_answers_without_scikit_learn() -> None:
    """Text, a category and numbers into a LogisticRegression: the compiled path (see
    ``mlfactory.serving.compiled_columns``) answers; the pipeline's transforms never run."""
    pipeline = fitted(LogisticRegression(max_iter=500), classes=3)
    version = served(pipeline)
    frame = rows(300, seed=6)
    batch = version.spec.check(frame_payload(frame, version.spec))
    calls = count_transforms(pipeline)
    pred, proba = version.predict_batch(batch)
    assert calls[0] == 0
    x = batch.frame()
    expected = pipeline.predict_proba(x)
    np.testing.assert_allclose(proba, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(pred, pipeline.classes_[np.argmax(expected, axis=1)])


@pytest.mark.filterwarnings("ignore:The `probability` parameter:FutureWarning")
def test_the_loaded_model_predicts_with_one_transform() -> None:
    pipeline = fitted(SVC(probability=True, random_state=0), classes=3)
    model = served(pipeline).loaded
    frame = rows(200, seed=7)
    calls = count_transforms(pipeline)
    pred, proba = model.predict(frame)
    assert calls[0] == 1
    np.testing.assert_array_equal(pred, pipeline.predict(frame))
    np.testing.assert_array_equal(proba, pipeline.predict_proba(frame))
    out = model.predict_frame(frame)
    assert out.columns.tolist() == ["prediction", "proba_0", "proba_1", "proba_2", "model_version"]
    pd.testing.assert_index_equal(out.index, frame.index)
