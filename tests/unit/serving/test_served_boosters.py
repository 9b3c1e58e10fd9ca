"""A served gradient-boosting model answers as the model itself does, multi-class included, through the fast
paths (one ``predict_proba`` per batch, a plain array in place of a DataFrame) with its threads capped."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest

from mlfactory.config import BatchingConfig
from mlfactory.entities import Signature
from mlfactory.inputs import frame_payload
from mlfactory.registry.loaded import LoadedModel
from mlfactory.serving.served import ServedVersion

COLUMNS = ["x1", "x2", "x3"]
SIGNATURE = Signature.from_json({"inputs": [{"name": c, "type": "number"} for c in COLUMNS]})
MODELS = {
    "xgboost": ("XGBClassifier", {"n_estimators": 30, "max_depth": 3}, "n_jobs"),
    "lightgbm": ("LGBMClassifier", {"n_estimators": 30, "num_leaves": 7, "verbose": -1}, "n_jobs"),
}


def _rows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 3)), columns=COLUMNS)
    frame.loc[rng.random(n) < 0.1, "x2"] = np.nan
    return frame


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("library", list(MODELS))
def test_a_served_booster_answers_as_the_model_on_arrays_with_threads_capped(
    library: str, classes: int
) -> None:
    name, params, threads = MODELS[library]
    train = _rows(600, seed=0)
    y = np.digitize(
        train["x1"] + train["x3"],
        np.quantile(train["x1"] + train["x3"], [0.5] if classes == 2 else [0.33, 0.66]),
    )
    model = getattr(pytest.importorskip(library), name)(**params).fit(train, y)
    version = SimpleNamespace(name="m", version=1, ref="m/1", signature=SIGNATURE)
    served = ServedVersion(
        LoadedModel(cast(Any, version), model), BatchingConfig(enabled=False, native_threads=1)
    )
    assert model.get_params()[threads] == 1
    assert served._arrays  # the checked matrix goes to the model as it is, no DataFrame built

    frame = _rows(500, seed=1)
    pred, proba = served.predict_batch(served.spec.check(frame_payload(frame, served.spec)))
    np.testing.assert_array_equal(pred, model.predict(frame))
    np.testing.assert_array_equal(proba, model.predict_proba(frame))


def test_a_booster_at_the_end_of_a_nested_pipeline_answers_with_one_predict_proba() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    train = _rows(600, seed=0)
    y = (train["x1"] + train["x3"] > 0).astype(int)
    booster = HistGradientBoostingClassifier(max_iter=20, random_state=0)
    model = make_pipeline(SimpleImputer(), make_pipeline(SimpleImputer(), booster)).fit(train, y)
    version = SimpleNamespace(name="m", version=1, ref="m/1", signature=SIGNATURE)
    served = ServedVersion(
        LoadedModel(cast(Any, version), model), BatchingConfig(enabled=False, native_threads=1)
    )
    assert served._argmax  # the booster two levels down answers both classes and probabilities

    calls: list[int] = []
    original = model.predict_proba

    def counted(rows: Any) -> Any:
        calls.append(len(rows))
        return original(rows)

    model.predict_proba = counted  # type: ignore[method-assign]
    frame = _rows(300, seed=1)
    pred, proba = served.predict_batch(served.spec.check(frame_payload(frame, served.spec)))
    assert calls == [300]
    np.testing.assert_array_equal(pred, model.predict(frame))
    np.testing.assert_array_equal(proba, original(frame))
