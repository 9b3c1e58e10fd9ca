"""Build the estimator the project file declares and fit it with a fixed seed."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlfactory.config import ModelConfig
from mlfactory.errors import ConfigError, TrainingError
from mlfactory.estimators.predicting import final_estimator


def _import(path: str) -> Any:
    module_name, _, attr = path.rpartition(".")
    if not module_name:
        raise ConfigError(
            f"estimator '{path}' must be an import path like sklearn.linear_model.LogisticRegression"
        )
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"cannot import estimator '{path}': {exc}; check the module and class name"
        ) from None


def _preprocessor(model: ModelConfig) -> ColumnTransformer:
    f = model.features
    parts: list[tuple[str, Any, Any]] = []
    if f.numeric:
        parts.append(
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), f.numeric)
        )
    if f.categorical:
        categorical = make_pipeline(
            SimpleImputer(strategy="constant", fill_value="__missing__"),
            OneHotEncoder(handle_unknown="ignore", min_frequency=2),
        )
        parts.append(("categorical", categorical, f.categorical))
    for col in f.text:  # one vectorizer per text column; each takes a 1-D column
        parts.append((f"text_{col}", TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=50_000), col))
    return ColumnTransformer(parts, remainder="drop")


def build_estimator(model: ModelConfig) -> Any:
    """The declared estimator with its params (and the model's seed, when it takes one), unfitted; a class
    written in the project (``model``) with its params, taking the raw feature columns (no pipeline)."""
    if model.model is not None:
        from mlfactory.estimators.project_class import build

        return build(model.project_folder(), model.model, dict(model.params))
    cls = _import(model.estimator)
    params = dict(model.params)
    accepted = inspect.signature(cls).parameters
    if "random_state" in accepted and "random_state" not in params:
        params["random_state"] = model.seed
    if "allow_writing_files" in accepted and "allow_writing_files" not in params:
        params["allow_writing_files"] = False  # CatBoost's training logs would land in the working folder
    try:
        estimator = cls(**params)
    except TypeError as exc:
        raise ConfigError(f"bad params for {model.estimator}: {exc}") from None
    if not hasattr(estimator, "fit") or not hasattr(estimator, "predict"):
        raise ConfigError(f"{model.estimator} is not an estimator: it needs fit() and predict()")
    if not model.preprocess:
        return estimator
    return Pipeline([("preprocess", _preprocessor(model)), ("model", estimator)])


def _text_ready(x: pd.DataFrame, model: ModelConfig) -> pd.DataFrame:
    if not model.features.text:
        return x
    x = x.copy()
    for col in model.features.text:
        x[col] = x[col].fillna("").astype(str)
    return x


def _for_labels(estimator: Any, y: np.ndarray) -> Any:
    """``estimator`` with an ``xgboost.XGBClassifier`` at its end (nested pipelines too) swapped for the
    same classifier taking any labels, when ``y``'s are not the classes 0..n-1 it alone takes (see
    :mod:`mlfactory.estimators.xgboost_labels`); ``estimator`` is a fresh clone, so it is changed in place."""
    final = final_estimator(estimator)
    if (type(final).__module__.partition(".")[0], type(final).__name__) != ("xgboost", "XGBClassifier"):
        return estimator
    from mlfactory.estimators import xgboost_labels

    if not xgboost_labels.needs_labels(y):
        return estimator
    swapped = xgboost_labels.labelled(final)
    if final is estimator:
        return swapped
    pipeline = estimator
    while pipeline.steps[-1][1] is not final:
        pipeline = pipeline.steps[-1][1]
    pipeline.steps[-1] = (pipeline.steps[-1][0], swapped)
    return estimator


def fit_model(model: ModelConfig, train: pd.DataFrame) -> Any:
    """Fit a fresh estimator on the training frame (features and label from the model config)."""
    estimator = clone(build_estimator(model))
    x = _text_ready(train[model.features.all()], model)
    y = train[model.label].to_numpy()
    if model.task == "classification" and len(np.unique(y)) < 2:
        raise TrainingError(
            f"the label '{model.label}' has a single class in the training data; need two or more"
        )
    if model.task == "classification":
        estimator = _for_labels(estimator, y)
    try:
        return estimator.fit(x, y)
    except ValueError as exc:
        raise TrainingError(f"fitting {model.model or model.estimator} failed: {exc}") from exc
