"""ONNX export of fitted models: the graph answers like the model on its rows, or the export is refused
naming the rows that differ (or the step that has no converter)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import onnx
import pandas as pd
import pytest

from mlfactory.config import ModelConfig
from mlfactory.entities import InputColumn, Signature
from mlfactory.errors import ExportError
from mlfactory.registry.onnx import OnnxRunner, _checked_frame, check, convert, export_checked
from mlfactory.training.fit import fit_model

INPUTS = {
    "a": InputColumn(name="a", type="number"),
    "b": InputColumn(name="b", type="integer"),
    "c": InputColumn(name="c", type="category"),
    "t": InputColumn(name="t", type="text"),
}
PHRASES = ["free money now", "hello friend", "win a prize", "meeting at noon today", "see you at lunch"]


def _frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.integers(0, 5, n),
            # "q" is rare: the one-hot encoder (min_frequency=2) folds it into its infrequent column
            "c": rng.choice(["x", "y", "z", "w", "q"], n, p=[0.3, 0.3, 0.2, 0.197, 0.003]),
            "t": rng.choice(PHRASES, n),
        }
    )
    df.loc[::17, "a"] = np.nan
    df.loc[::13, "c"] = None
    df["y"] = np.where(
        df["a"].fillna(0) + (df["c"] == "x") + df["t"].str.contains("money") > 0.5, "spam", "ham"
    )
    df["m"] = (df["b"] + (df["c"] == "y")) % 3
    df["r"] = df["a"].fillna(0) * 3 + df["b"]
    return df


def _fit(
    estimator: str, *, label: str = "y", text: bool = False, params: dict[str, Any] | None = None
) -> tuple[Any, Signature, pd.DataFrame, pd.DataFrame]:
    task = "regression" if label == "r" else "classification"
    features: dict[str, list[str]] = {
        "numeric": ["a", "b"],
        "categorical": ["c"],
        "text": ["t"] if text else [],
    }
    cfg = ModelConfig(
        source="s", label=label, task=task, features=features, estimator=estimator, params=params or {}
    )
    df = _frame()
    train, holdout = df.iloc[:400], df.iloc[400:]
    model = fit_model(cfg, train)
    signature = Signature(inputs=tuple(INPUTS[c] for c in cfg.features.all()), task=task, label=label)
    return model, signature, train, holdout


CONVERTIBLE = {
    "logistic regression, numbers and categories": (
        "sklearn.linear_model.LogisticRegression",
        "y",
        False,
        {},
    ),
    "logistic regression with TF-IDF bigrams": ("sklearn.linear_model.LogisticRegression", "y", True, {}),
    "multi-class logistic regression": ("sklearn.linear_model.LogisticRegression", "m", False, {}),
    "random forest": (
        "sklearn.ensemble.RandomForestClassifier",
        "y",
        False,
        {"n_estimators": 20, "max_depth": 3},
    ),
    "histogram gradient boosting": ("sklearn.ensemble.HistGradientBoostingClassifier", "y", False, {}),
    "xgboost": ("xgboost.XGBClassifier", "y", False, {"n_estimators": 20}),
    "lightgbm multi-class": ("lightgbm.LGBMClassifier", "m", False, {"n_estimators": 20, "verbose": -1}),
    "ridge regression": ("sklearn.linear_model.Ridge", "r", False, {}),
    "lightgbm regression": ("lightgbm.LGBMRegressor", "r", False, {"n_estimators": 20, "verbose": -1}),
    # CatBoost's own ONNX export of the booster, inside the pipeline's graph
    "catboost multi-class": ("catboost.CatBoostClassifier", "m", False, {"iterations": 10, "verbose": 0}),
    "catboost regression": ("catboost.CatBoostRegressor", "r", False, {"iterations": 10, "verbose": 0}),
}


@pytest.mark.parametrize("case", list(CONVERTIBLE))
def test_a_model_exports_and_its_graph_answers_like_it(case: str) -> None:
    estimator, label, text, params = CONVERTIBLE[case]
    pytest.importorskip(estimator.partition(".")[0])
    model, signature, _, holdout = _fit(estimator, label=label, text=text, params=params)
    checked = export_checked(model, signature, holdout, tolerance=1e-4, label=case)
    assert checked.agreement.rows == len(holdout)
    assert checked.agreement.max_abs_diff <= 1e-4
    # the written graph, opened on its own, gives the model's answers on the rows the check saw
    x = _checked_frame(signature, holdout)  # the rows as serving gives them to the model
    pred, proba = OnnxRunner(checked.data, threads=1).predict({c: x[c].to_numpy() for c in x.columns})
    if label == "r":
        np.testing.assert_allclose(pred, model.predict(x), rtol=1e-4, atol=1e-4)
        assert proba is None
    else:
        assert [str(p) for p in pred] == [str(p) for p in np.ravel(model.predict(x))]  # CatBoost: (n, 1)
        np.testing.assert_allclose(proba, model.predict_proba(x), atol=1e-4)


def test_text_the_graph_tokenizes_differently_is_refused_naming_the_rows() -> None:
    # ONNX Runtime's tokenizer reads \w as ASCII: "café" becomes "caf", which scikit-learn never does
    model, signature, train, holdout = _fit("sklearn.linear_model.LogisticRegression", text=True)
    holdout = holdout.copy()
    accented = holdout.index[[3, 7]]
    holdout.loc[accented, "t"] = "free money now café café"
    trained_on = train.assign(t=train["t"].where(train.index % 5 != 0, "free money now café café"))
    model = model.fit(trained_on.drop(columns=["y", "m", "r"]), trained_on["y"])
    with pytest.raises(ExportError) as err:
        export_checked(model, signature, holdout, tolerance=1e-4, label="spam/1")
    message = str(err.value)
    assert "on 2 of 200 holdout rows" in message
    assert f"row {accented[0]}: model " in message and f"row {accented[1]}: model " in message


def test_a_tolerance_of_zero_refuses_float32_rounding_naming_count_and_rows() -> None:
    model, signature, _, holdout = _fit("sklearn.linear_model.LogisticRegression", text=True)
    with pytest.raises(ExportError) as err:
        export_checked(model, signature, holdout, tolerance=0.0, label="spam/2")
    message = str(err.value)
    assert message.startswith("spam/2's ONNX model answers differently on ")
    # the first differing rows by holdout index, with both answers
    assert re.search(r"\): row (4|5)\d\d: model '(ham|spam)' \[[^]]+\], ONNX '(ham|spam)' \[", message), (
        message
    )


def test_a_tampered_graph_is_refused_naming_the_rows() -> None:
    model, signature, _, holdout = _fit("sklearn.linear_model.LogisticRegression")
    graph = onnx.load_from_string(convert(model, signature, "spam/3"))
    (linear,) = [n for n in graph.graph.node if n.op_type == "LinearClassifier"]
    (coefficients,) = [a for a in linear.attribute if a.name == "coefficients"]
    coefficients.floats[:] = [2 * v for v in coefficients.floats]  # the classifier's weights, doubled
    runner = OnnxRunner(graph.SerializeToString())
    with pytest.raises(
        ExportError, match=r"answers differently on \d+ of 200 holdout rows.*row 40\d: model '"
    ):
        check(model, runner, signature, holdout, tolerance=1e-4, label="spam/3")
    # the untouched graph passes the same check: the refusal is the tampering's
    check(
        model, OnnxRunner(convert(model, signature, "spam/3")), signature, holdout, tolerance=1e-4, label="x"
    )


def test_a_step_without_a_converter_is_named() -> None:
    model, signature, _, holdout = _fit("sklearn.semi_supervised.LabelPropagation")
    with pytest.raises(
        ExportError, match=r"^spam/4 cannot be exported to ONNX: no converter for sklearn\.LabelPropagation;"
    ):
        export_checked(model, signature, holdout, tolerance=1e-4, label="spam/4")


def test_a_model_taking_a_matrix_exports_with_one_input() -> None:
    cfg = ModelConfig(
        source="s",
        label="y",
        features={"numeric": ["b"]},
        estimator="sklearn.linear_model.LogisticRegression",
        preprocess=False,
    )
    df = _frame()
    model = fit_model(cfg, df.iloc[:400])
    signature = Signature(inputs=(INPUTS["b"],), label="y")
    checked = export_checked(model, signature, df.iloc[400:], tolerance=1e-4, label="m")
    assert [i.name for i in onnx.load_from_string(checked.data).graph.input] == ["input"]
