"""Boosters beyond the plain case: XGBoost trained on any class labels (text, or integers not 0..n-1), a
booster at the end of nested pipelines, a booster inside an ensemble refused with a clear error, and
CatBoost's prediction threads capped on every call."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import StackingClassifier, VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from mlfactory.config import BatchingConfig, ModelConfig
from mlfactory.entities import Signature
from mlfactory.errors import TrainingError
from mlfactory.inputs import frame_payload
from mlfactory.registry import native
from mlfactory.registry.loaded import LoadedModel
from mlfactory.registry.packaging import load_model, save_model
from mlfactory.serving.served import ServedVersion
from mlfactory.stores import LocalArtifactStore
from mlfactory.training import fit as fitting
from mlfactory.training import fit_model

COLUMNS = ["x1", "x2", "x3"]
SIGNATURE = Signature.from_json({"inputs": [{"name": c, "type": "number"} for c in COLUMNS]})


def _rows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(n, 3)), columns=COLUMNS)


def _labels(x: pd.DataFrame, names: list[Any]) -> np.ndarray:
    """One of ``names`` per row, learnable from the rows (by quantile of x1 + x3)."""
    score = x["x1"] + x["x3"]
    cuts = np.quantile(score, np.linspace(0, 1, len(names) + 1)[1:-1])
    return np.asarray(names, dtype=object)[np.digitize(score, cuts)]


def _config(**model: Any) -> ModelConfig:
    return ModelConfig.model_validate(
        {"source": "s", "label": "y", "features": {"numeric": COLUMNS}, "params": {}, **model}
    )


def _served(model: Any, threads: int | None = None) -> ServedVersion:
    version = SimpleNamespace(name="m", version=1, ref="m/1", signature=SIGNATURE)
    batching = BatchingConfig(enabled=False, native_threads=threads)
    return ServedVersion(LoadedModel(cast(Any, version), model), batching)


XGB = {"n_estimators": 20, "max_depth": 3, "n_jobs": 1}


@pytest.mark.parametrize(
    "names",
    [["ham", "spam"], ["bulk", "ham", "spam"], [1, 2, 5], [3, 7]],
    ids=["text2", "text3", "125", "37"],
)
def test_xgboost_trains_on_any_labels_and_answers_in_them_after_saving(
    names: list[Any], artifacts: LocalArtifactStore
) -> None:
    pytest.importorskip("xgboost")
    train = _rows(600, seed=0)
    frame = train.assign(y=_labels(train, names))
    model = fit_model(_config(estimator="xgboost.XGBClassifier", params=XGB), frame)
    assert list(model.classes_) == sorted(names)
    fresh = _rows(300, seed=1)
    truth = _labels(fresh, names)
    assert (model.predict(fresh) == truth).mean() > 0.8  # the labels, not their positions, and right

    digest, trusted = save_model(model, artifacts, [])
    loaded = load_model(artifacts, digest, trusted, "m/1")
    assert list(loaded.classes_) == sorted(names)
    np.testing.assert_array_equal(loaded.predict(fresh), model.predict(fresh))
    np.testing.assert_array_equal(loaded.predict_proba(fresh), model.predict_proba(fresh))

    served = _served(loaded, threads=1)
    assert served.classes == sorted(names) and served._argmax
    pred, proba = served.predict_batch(served.spec.check(frame_payload(fresh, served.spec)))
    assert pred.tolist() == model.predict(fresh).tolist()
    np.testing.assert_array_equal(proba, model.predict_proba(fresh))


def test_xgboost_with_labels_0_to_n_stays_the_library_class() -> None:
    pytest.importorskip("xgboost")
    train = _rows(300, seed=0)
    model = fit_model(
        _config(estimator="xgboost.XGBClassifier", params=XGB), train.assign(y=_labels(train, [0, 1, 2]))
    )
    assert type(model.steps[-1][1]).__name__ == "XGBClassifier"


def _nested(final: Any) -> Pipeline:
    inner = Pipeline([("scale", StandardScaler()), ("model", final)])
    return Pipeline([("first", StandardScaler()), ("inner", inner)])


@pytest.mark.parametrize(
    ("library", "name"),
    [("xgboost", "XGBClassifier"), ("lightgbm", "LGBMClassifier"), ("catboost", "CatBoostClassifier")],
)
def test_a_booster_at_the_end_of_nested_pipelines_is_saved_natively(
    library: str, name: str, artifacts: LocalArtifactStore
) -> None:
    params = {"xgboost": XGB, "lightgbm": {"n_estimators": 20, "verbose": -1}}.get(
        library, {"iterations": 20, "verbose": False, "allow_writing_files": False}
    )
    booster = getattr(pytest.importorskip(library), name)(**params)
    train = _rows(400, seed=0)
    model = _nested(booster).fit(train, _labels(train, [0, 1, 2]).astype(int))
    digest, trusted = save_model(model, artifacts, [])
    assert native.is_native(artifacts.get_bytes(digest))
    assert model.steps[-1][1].steps[-1][1] is booster  # saving took the model apart without changing it

    loaded = load_model(artifacts, digest, trusted, "m/1")
    assert type(loaded.steps[-1][1].steps[-1][1]) is type(booster)
    fresh = _rows(200, seed=1)
    np.testing.assert_array_equal(loaded.predict_proba(fresh), model.predict_proba(fresh))


def test_an_xgboost_classifier_at_the_end_of_nested_pipelines_is_trained_on_text_labels() -> None:
    xgboost = pytest.importorskip("xgboost")
    train = _rows(400, seed=0)
    y = _labels(train, ["a", "b", "c"])
    fitted = fitting._for_labels(_nested(xgboost.XGBClassifier(**XGB)), y).fit(train, y)
    assert type(fitted.steps[-1][1].steps[-1][1]).__name__ == "LabelledXGBClassifier"
    assert list(fitted.classes_) == ["a", "b", "c"]
    assert (fitted.predict(train) == y).mean() > 0.9


@pytest.mark.parametrize("ensemble", [VotingClassifier, StackingClassifier])
def test_a_booster_inside_an_ensemble_is_refused_naming_it(
    ensemble: Any, artifacts: LocalArtifactStore
) -> None:
    xgboost = pytest.importorskip("xgboost")
    train = _rows(300, seed=0)
    members = [("boost", xgboost.XGBClassifier(**XGB)), ("linear", LogisticRegression())]
    model = Pipeline([("scale", StandardScaler()), ("vote", ensemble(members))])
    model.fit(train, _labels(train, [0, 1]).astype(int))
    with pytest.raises(TrainingError) as caught:
        save_model(model, artifacts, [])
    message = str(caught.value)
    assert f"xgboost.XGBClassifier at model.steps[1][1].estimators[0][1], inside a {ensemble.__name__}" in (
        message
    )
    assert "final estimator" in message and "HistGradientBoostingClassifier" in message


def test_catboost_predicts_on_the_capped_threads_on_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    catboost = pytest.importorskip("catboost")
    asked: list[int] = []
    real = catboost.CatBoost._base_predict

    def spy(self: Any, pool: Any, kind: Any, start: Any, end: Any, threads: int, *rest: Any) -> Any:
        asked.append(threads)  # the thread count CatBoost's native predict receives
        return real(self, pool, kind, start, end, threads, *rest)

    monkeypatch.setattr(catboost.CatBoost, "_base_predict", spy)
    train = _rows(400, seed=0)
    params = {"iterations": 20, "depth": 3, "verbose": False, "allow_writing_files": False}
    model = Pipeline([("scale", StandardScaler()), ("model", catboost.CatBoostClassifier(**params))])
    model.fit(train, _labels(train, [0, 1, 2]).astype(int))
    fresh = _rows(100, seed=1)
    expected = model.predict_proba(fresh)
    assert asked == [-1]  # uncapped, CatBoost takes every core

    served = _served(model, threads=1)
    asked.clear()
    pred, proba = served.predict_batch(served.spec.check(frame_payload(fresh, served.spec)))
    assert pred.tolist() == np.ravel(model.predict(fresh)).tolist()  # CatBoost's is one column
    assert asked and set(asked) == {1}
    np.testing.assert_array_equal(proba, expected)
    assert type(model.steps[-1][1]).__name__ == "CatBoostClassifier" and served._argmax

    native.cap_threads(model, 2)  # a second cap replaces the first
    asked.clear()
    model.predict_proba(fresh)
    assert asked == [2]
