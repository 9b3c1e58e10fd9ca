"""A served version answers as its pipeline does, transforming each batch's rows once: through the shared
predict for a classifier whose predicted class is its own (an SVC), and through one ``predict_proba`` for one
whose predicted class is the most probable (LogisticRegression)."""

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
@pytest.mark.parametrize(
    "final", [SVC(probability=True, random_state=0), LogisticRegression(max_iter=500)], ids=["svc", "logreg"]
)
def test_a_batch_is_transformed_once_and_answered_as_the_pipeline_does(final: BaseEstimator) -> None:
    pipeline = fitted(final, classes=3)
    version = served(pipeline)
    frame = rows(300, seed=6)
    batch = version.spec.check(frame_payload(frame, version.spec))
    calls = count_transforms(pipeline)
    pred, proba = version.predict_batch(batch)
    assert calls[0] == 1
    x = batch.frame()
    np.testing.assert_array_equal(pred, pipeline.predict(x))
    np.testing.assert_array_equal(proba, pipeline.predict_proba(x))


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
