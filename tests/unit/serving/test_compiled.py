"""The NumPy fast paths agree with scikit-learn, and decline what they do not know."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from mlfactory.serving.compiled import compile_boosted, compile_numeric, takes_arrays

NAMES = ["a", "b", "c"]


def _data(classes: int = 2) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(300, 3)) * [1, 5, 100], columns=NAMES)
    y = rng.integers(0, classes, 300)
    return x, y


def test_matches_sklearn_binary_and_multiclass() -> None:
    for classes in (2, 3):
        x, y = _data(classes)
        pre = ColumnTransformer(
            [("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NAMES)]
        )
        model = Pipeline([("preprocess", pre), ("model", LogisticRegression())]).fit(x, y)
        fast = compile_numeric(model, NAMES)
        assert fast is not None
        probe = x.to_numpy()[:20].copy()
        probe[3, 1] = np.nan
        np.testing.assert_allclose(
            fast(probe), model.predict_proba(pd.DataFrame(probe, columns=NAMES)), rtol=1e-9
        )


def test_declines_unknown_pipelines() -> None:
    x, y = _data()
    assert compile_numeric(HistGradientBoostingClassifier(max_iter=5).fit(x, y), NAMES) is None
    reordered = make_pipeline(StandardScaler(), LogisticRegression()).fit(x[["c", "b", "a"]], y)
    assert compile_numeric(reordered, NAMES) is None  # columns in another order disagree, so declined


def test_arrays_only_for_models_fitted_on_exactly_the_signature_columns() -> None:
    x, y = _data()
    hgb = HistGradientBoostingClassifier(max_iter=5).fit(x, y)
    assert takes_arrays(hgb, NAMES, allow_nan=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.filterwarnings("always", category=UserWarning, append=True)  # all but the silenced one
        assert np.array_equal(hgb.predict_proba(x.to_numpy()), hgb.predict_proba(x))
    assert not [w for w in caught if "feature names" in str(w.message)]
    assert not takes_arrays(hgb, ["c", "b", "a"], allow_nan=True)  # another order would mix columns up
    on_arrays = HistGradientBoostingClassifier(max_iter=5).fit(x.to_numpy(), y)
    assert not takes_arrays(on_arrays, NAMES, allow_nan=True)  # no fitted names to check against
    by_name = Pipeline(
        [("pick", ColumnTransformer([("s", StandardScaler(), ["a", "c"])])), ("m", LogisticRegression())]
    ).fit(x, y)
    assert not takes_arrays(by_name, NAMES, allow_nan=False)  # selects columns by name: fails on arrays


@pytest.mark.parametrize("classes", [2, 3])
def test_a_boosted_model_answers_exactly_as_scikit_learn_on_unseen_rows_with_gaps(classes: int) -> None:
    x, _ = _data(classes)
    x.loc[::7, "b"] = np.nan  # fitted with missing values: every node knows where they go
    y = np.digitize(np.nan_to_num(x["a"]) + x["c"] / 100, [-0.5, 0.5][: classes - 1])
    model = HistGradientBoostingClassifier(max_iter=40, random_state=0).fit(x, y)
    fast = compile_boosted(model, NAMES, allow_nan=True)
    assert fast is not None
    rng = np.random.default_rng(1)
    fresh = rng.normal(size=(500, 3)) * [1, 5, 100]
    fresh[rng.random(fresh.shape) < 0.15] = np.nan
    fresh[:40] = x.to_numpy()[:40]  # rows on the fitted thresholds' sides, as trained
    assert np.array_equal(fast(fresh), model.predict_proba(pd.DataFrame(fresh, columns=NAMES)))


def test_a_boosted_model_is_declined_when_it_does_not_match(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = _data()
    model = HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(x, y)
    assert compile_boosted(model, ["c", "b", "a"], allow_nan=True) is None  # columns in another order
    categorical = HistGradientBoostingClassifier(max_iter=5, categorical_features=[0])
    x_cat = x.assign(a=np.abs(x["a"]).round())
    assert compile_boosted(categorical.fit(x_cat, y), NAMES, allow_nan=True) is None
    real = model.predict_proba
    monkeypatch.setattr(model, "predict_proba", lambda rows: real(rows) + 1e-15)
    assert compile_boosted(model, NAMES, allow_nan=True) is None  # answers one digit off: declined
