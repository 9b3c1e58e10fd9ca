"""NumPy fast paths for numeric models, each checked against scikit-learn at load.

scikit-learn spends milliseconds per call validating a DataFrame through a ColumnTransformer, whatever the
number of rows. For pipelines made only of SimpleImputer, StandardScaler, a ColumnTransformer of those over
numeric columns, and a LogisticRegression at the end, the same arithmetic takes microseconds in NumPy.
:func:`compile_numeric` builds that function and keeps it only if it agrees with ``predict_proba`` on probe
rows (including missing values) to 1e-9; anything else returns None and the model is used as it is.

Other numeric models fitted on a DataFrame still pay for one per call: building it, then checking its
column names against ``feature_names_in_`` (about 1.4 ms of a 6 ms HistGradientBoosting predict of 1,000
rows). :func:`takes_arrays` says when the model may be given the checked matrix directly: its fitted names
are exactly the signature's, in order, and it answers probe rows identically either way. scikit-learn then
warns that the array has no column names, which is what was just verified; the warning is silenced by
message in a process that uses this path.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

Step = Callable[[np.ndarray], np.ndarray]
ProbaFn = Callable[[np.ndarray], np.ndarray]


def _imputer(t: Any) -> Step | None:
    if type(t).__name__ != "SimpleImputer" or getattr(t, "add_indicator", False):
        return None
    if not (isinstance(t.missing_values, float) and np.isnan(t.missing_values)):
        return None
    stats = np.asarray(t.statistics_, dtype=np.float64)
    if np.isnan(stats).any():  # columns dropped for being all-missing change the width: not handled
        return None

    def impute(x: np.ndarray) -> np.ndarray:
        mask = np.isnan(x)
        return np.where(mask, stats, x) if mask.any() else x

    return impute


def _scaler(t: Any) -> Step | None:
    if type(t).__name__ != "StandardScaler":
        return None
    mean = np.asarray(t.mean_, dtype=np.float64) if t.with_mean and t.mean_ is not None else 0.0
    scale = np.asarray(t.scale_, dtype=np.float64) if t.with_std and t.scale_ is not None else 1.0
    return lambda x: (x - mean) / scale


def numeric_steps(t: Any, names: list[str]) -> list[Step] | None:
    kind = type(t).__name__
    if kind == "Pipeline":
        out: list[Step] = []
        for _, step in t.steps:
            part = numeric_steps(step, names)
            if part is None:
                return None
            out += part
        return out
    if kind == "ColumnTransformer":
        fitted = [(n, tr, cols) for n, tr, cols in t.transformers_ if n != "remainder" or tr != "drop"]
        if len(fitted) != 1 or t.remainder != "drop":
            return None
        _, tr, cols = fitted[0]
        if not isinstance(cols, list) or not all(isinstance(c, str) for c in cols):
            return None
        if any(c not in names for c in cols):
            return None
        index = np.array([names.index(c) for c in cols])
        inner = numeric_steps(tr, names) if tr != "passthrough" else []
        if inner is None:
            return None
        return [lambda x: x[:, index], *inner]
    for build in (_imputer, _scaler):
        step = build(t)
        if step is not None:
            return [step]
    return None


def _logistic(t: Any) -> ProbaFn | None:
    if type(t).__name__ != "LogisticRegression":
        return None
    coef = np.asarray(t.coef_, dtype=np.float64).T
    intercept = np.asarray(t.intercept_, dtype=np.float64)
    if coef.shape[1] == 1:

        def binary(x: np.ndarray) -> np.ndarray:
            p1 = expit((x @ coef + intercept)[:, 0])
            return np.column_stack([1.0 - p1, p1])

        return binary

    def softmax(x: np.ndarray) -> np.ndarray:
        z = x @ coef + intercept
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        proba: np.ndarray = e / e.sum(axis=1, keepdims=True)
        return proba

    return softmax


def compile_numeric(estimator: Any, names: list[str], seed: int = 0) -> ProbaFn | None:
    """A ``predict_proba`` over an (n, k) float matrix in ``names`` order, or None when not supported or
    when it does not match scikit-learn on probe rows."""
    if type(estimator).__name__ != "Pipeline" or len(estimator.steps) < 2:
        return None
    pre: list[Step] | None = []
    for _, step in estimator.steps[:-1]:
        part = numeric_steps(step, names) if step != "passthrough" else []
        if part is None:
            return None
        pre += part  # type: ignore[operator]
    final = _logistic(estimator.steps[-1][1])
    if pre is None or final is None:
        return None

    def proba(x: np.ndarray) -> np.ndarray:
        for step in pre:
            x = step(x)
        return final(x)

    rng = np.random.default_rng(seed)
    probe = rng.normal(size=(64, len(names))) * 10
    probe[rng.random(probe.shape) < 0.1] = np.nan
    try:
        expected = estimator.predict_proba(pd.DataFrame(probe, columns=names))
        got = proba(probe)
    except Exception:
        return None
    if got.shape != expected.shape or not np.allclose(got, expected, rtol=1e-9, atol=1e-12):
        return None
    return proba


def compile_boosted(estimator: Any, names: list[str], *, allow_nan: bool, seed: int = 0) -> ProbaFn | None:
    """A HistGradientBoostingClassifier's ``predict_proba`` over an (n, k) float matrix in ``names`` order:
    its own compiled trees summed as its ``_raw_predict`` sums them (the same leaf for every row, the
    float64 thresholds it was fitted with), without the checks and conversions scikit-learn repeats on
    every call (about 0.9 ms of a 6 ms predict of 1,000 rows, and most of a one-row predict). None when
    the model has categorical features, is not laid out as this scikit-learn lays it out, or answers
    probe rows differently in any digit."""
    if type(estimator).__name__ != "HistGradientBoostingClassifier":
        return None
    fitted = getattr(estimator, "feature_names_in_", None)
    if fitted is None or list(fitted) != list(names) or estimator.is_categorical_ is not None:
        return None
    try:
        from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

        trees = [list(of_iteration) for of_iteration in estimator._predictors]
        bitsets, features = estimator._bin_mapper.make_known_categories_bitsets()
        baseline, loss = estimator._baseline_prediction, estimator._loss
        width = int(estimator.n_trees_per_iteration_)
    except (AttributeError, ImportError):
        return None

    def proba(x: np.ndarray) -> np.ndarray:
        threads = _openmp_effective_n_threads()  # as scikit-learn asks, under the server's thread cap
        raw = np.zeros((x.shape[0], width), dtype=baseline.dtype, order="F")
        raw += baseline
        for of_iteration in trees:
            for k, tree in enumerate(of_iteration):
                raw[:, k] += tree.predict(x, bitsets, features, threads)
        out: np.ndarray = loss.predict_proba(raw)
        return out

    rng = np.random.default_rng(seed)
    probe = rng.normal(size=(256, len(names))) * 10
    if allow_nan:
        probe[rng.random(probe.shape) < 0.1] = np.nan
    try:
        same = np.array_equal(proba(probe), estimator.predict_proba(pd.DataFrame(probe, columns=names)))
    except Exception:
        return None
    return proba if same else None


NO_NAMES_WARNING = "X does not have valid feature names"


def takes_arrays(estimator: Any, names: list[str], *, allow_nan: bool, seed: int = 0) -> bool:
    """Whether ``estimator`` may predict on an (n, k) float matrix in ``names`` order instead of a DataFrame:
    it was fitted on exactly these columns in this order and answers probe rows the same either way."""
    fitted = getattr(estimator, "feature_names_in_", None)
    if fitted is None or list(fitted) != list(names):
        return False
    warnings.filterwarnings("ignore", message=NO_NAMES_WARNING, category=UserWarning)
    rng = np.random.default_rng(seed)
    probe = rng.normal(size=(64, len(names))) * 10
    if allow_nan:
        probe[rng.random(probe.shape) < 0.1] = np.nan
    frame = pd.DataFrame(probe, columns=names)
    methods = [m for m in ("predict", "predict_proba") if hasattr(estimator, m)]
    try:
        return all(
            np.array_equal(getattr(estimator, m)(probe), getattr(estimator, m)(frame)) for m in methods
        )
    except Exception:
        return False
