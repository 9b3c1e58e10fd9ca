"""The loader of an mlfactory model exported for MLflow: copied as it is into the export's ``code/`` folder.

MLflow's ``python_function`` flavor imports this module by name (``loader_module``) and calls
:func:`_load_pyfunc` with the export's ``model/`` folder. It must run where only MLflow, scikit-learn, skops
and the model's own libraries are installed, so it imports nothing of mlfactory and never unpickles:

- ``mlfactory-model.json`` lists every file with its SHA-256, the types skops may create, the booster's
  library and wrapper, and the inputs in feature order with their mlfactory types;
- ``pipeline.skops`` (absent for a bare booster) is loaded by skops, refusing any type not on that list;
- a booster (XGBoost, LightGBM, CatBoost) is read by its library's own loader into the wrapper named in the
  config, from a fixed table, and put back as the (innermost) pipeline's last step; an XGBoost classifier
  trained on labels other than 0..n-1 answers in positions, mapped back to the labels listed in the config.

It repeats what :mod:`mlfactory.registry.native` does to restore a LightGBM wrapper, on purpose: this file
runs without mlfactory.

Rows are typed as mlfactory's server types them (numbers as float64, missing text as empty text), so the
MLflow server answers what mlfactory answers for the same rows.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from typing import Any

import numpy as np
import pandas as pd

CONFIG = "mlfactory-model.json"
NUMERIC = ("number", "integer", "boolean")
WRAPPERS = {
    "xgboost": ("XGBClassifier", "XGBRegressor"),
    "lightgbm": ("LGBMClassifier", "LGBMRegressor"),
    "catboost": ("CatBoostClassifier", "CatBoostRegressor"),
}


def _read(folder: str, name: str, sha256: dict[str, str]) -> bytes:
    """A file of the export, refused when its bytes are not the ones exported."""
    with open(os.path.join(folder, name), "rb") as f:
        data = f.read()
    if hashlib.sha256(data).hexdigest() != sha256.get(name):
        raise ValueError(f"{name} does not match the hash it was exported with; refusing to load")
    return data


def _lightgbm(cls: type, data: bytes, state: dict[str, Any], classes: np.ndarray | None) -> Any:
    """A LightGBM wrapper around its text model, with the fitted state the text model does not hold."""
    import lightgbm
    from sklearn.preprocessing import LabelEncoder

    estimator = cls(**state["params"])
    booster = lightgbm.Booster(model_str=data.decode("utf-8"))
    estimator._Booster = booster
    estimator._n_features = booster.num_feature()
    estimator._n_features_in = state["n_features_in"]
    estimator._fitted_with_feature_names = state["feature_names"]
    estimator._objective = state["objective"]
    estimator._best_iteration = booster.best_iteration
    estimator._best_score = {}
    estimator._evals_result = {}
    if classes is not None:
        estimator._le = LabelEncoder()
        estimator._le.classes_ = classes
        estimator._class_map = {c: i for i, c in enumerate(classes)}
        estimator._classes = classes
        estimator._n_classes = len(classes)
    estimator.fitted_ = True
    return estimator


def _booster(folder: str, spec: dict[str, Any], sha256: dict[str, str]) -> Any:
    library, wrapper = spec["library"], spec["estimator"]
    if wrapper not in WRAPPERS.get(library, ()):
        raise ValueError(f"{library}.{wrapper} is not a known booster")
    cls = getattr(importlib.import_module(library), wrapper)
    data = _read(folder, spec["file"], sha256)
    if library == "xgboost":
        estimator = cls()
        estimator.load_model(bytearray(data))
        return estimator
    if library == "catboost":
        estimator = cls()
        estimator.load_model(blob=data, format="cbm")
        return estimator
    classes = None if spec["classes"] is None else np.asarray(spec["classes"])
    return _lightgbm(cls, data, spec["state"], classes)


def _innermost(pipeline: Any) -> Any:
    """The pipeline whose last step is the booster (``pipeline`` itself unless pipelines are nested)."""
    while hasattr(pipeline.steps[-1][1], "steps"):
        pipeline = pipeline.steps[-1][1]
    return pipeline


def _model(folder: str, config: dict[str, Any]) -> Any:
    import skops.io as sio

    sha256 = config["sha256"]
    head = None
    if config["pipeline"] is not None:
        data = _read(folder, config["pipeline"], sha256)
        untrusted = sorted(set(sio.get_untrusted_types(data=data)) - set(config["trusted_types"]))
        if untrusted:
            raise ValueError(f"the pipeline holds types it was not exported with: {untrusted}")
        head = sio.loads(data, trusted=list(config["trusted_types"]))
    spec = config["booster"]
    if spec is None:
        return head
    booster = _booster(folder, spec, sha256)
    if head is None:
        return booster
    inner = _innermost(head)
    if inner.steps[-1] != (spec["step"], "passthrough"):
        raise ValueError(f"the pipeline does not end in the booster's placeholder step '{spec['step']}'")
    inner.steps = [*inner.steps[:-1], (spec["step"], booster)]
    return head


class ExportedModel:
    """The model MLflow serves: typed rows in, the model's predictions out."""

    def __init__(self, estimator: Any, inputs: list[dict[str, str]], labels: list[Any] | None) -> None:
        self.estimator = estimator
        self.inputs = inputs
        self.labels = None if labels is None else np.asarray(labels)  # an XGBoost model's, by position

    def _column(self, values: pd.Series, kind: str) -> Any:
        if kind in NUMERIC:
            return pd.to_numeric(values, errors="raise").astype("float64")
        if kind == "datetime":
            return pd.to_datetime(values, utc=True, format="ISO8601")
        out = values.astype(object).where(values.notna(), None)
        return out.where(out.notna(), "") if kind == "text" else out

    def frame(self, rows: Any) -> pd.DataFrame:
        """The rows as the DataFrame the model was trained on: its inputs, in order, typed."""
        rows = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
        missing = [c["name"] for c in self.inputs if c["name"] not in rows.columns]
        if missing:
            raise ValueError(f"the rows lack the model's input column(s) {missing}")
        data = {c["name"]: self._column(rows[c["name"]], c["type"]) for c in self.inputs}
        return pd.DataFrame(data, index=rows.index)

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> np.ndarray:
        answer = np.asarray(self.estimator.predict(self.frame(model_input)))
        return answer if self.labels is None else self.labels[answer.astype(np.intp)]


def _load_pyfunc(data_path: str) -> ExportedModel:
    """MLflow's entry point: the model in ``data_path`` (the export's ``model/`` folder), verified."""
    with open(os.path.join(data_path, CONFIG), encoding="utf-8") as f:
        config = json.load(f)
    labels = (config["booster"] or {}).get("labels")
    return ExportedModel(_model(data_path, config), config["inputs"], labels)
