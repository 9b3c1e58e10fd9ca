"""The mixed-column fast path (numbers, categories, text into a logistic regression) gives scikit-learn's
answers on rows it has never seen, and declines what it does not reproduce."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer, TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlfactory.inputs import InputSpec, frame_payload
from mlfactory.serving import compiled_columns
from mlfactory.serving.compiled_columns import compile_columns

SPEC = InputSpec(
    {
        "inputs": [
            {"name": "n", "type": "number"},
            {"name": "k", "type": "integer"},
            {"name": "domain", "type": "category"},
            {"name": "lang", "type": "category"},
            {"name": "body", "type": "text"},
        ]
    }
)
WORDS = [f"w{i}" for i in range(300)]


def frame(rows: int, seed: int) -> pd.DataFrame:
    """Skewed categories (a long tail seen once or twice), gaps in numbers and categories, text of a
    Zipf-like vocabulary with words the model never saw."""
    rng = np.random.default_rng(seed)
    domains = np.array([f"d{int(z)}" for z in rng.zipf(1.6, rows) % 500], dtype=object)
    domains[rng.random(rows) < 0.05] = None
    n = rng.normal(size=rows) * 30
    n[rng.random(rows) < 0.1] = np.nan
    picks = np.minimum(rng.zipf(1.3, (rows, 15)), len(WORDS)) - 1
    body = [
        " ".join(WORDS[j] for j in row[: rng.integers(0, 15)]) + (" novel" if i % 7 else "")
        for i, row in enumerate(picks)
    ]
    return pd.DataFrame(
        {
            "n": n,
            "k": rng.integers(0, 20, rows).astype(float),
            "domain": domains,
            "lang": rng.choice(
                np.array(["en", "de", "fr", "xx"], dtype=object), rows, p=[0.7, 0.2, 0.099, 0.001]
            ),
            "body": body,
        }
    )


def pipeline(final: object = None, text: object = None, encoder: object = None) -> Pipeline:
    pre = ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), ["n", "k"]),
            (
                "categorical",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="__missing__"),
                    OneHotEncoder(handle_unknown="ignore", min_frequency=2) if encoder is None else encoder,
                ),
                ["domain", "lang"],
            ),
            ("text_body", TfidfVectorizer(ngram_range=(1, 2), min_df=2) if text is None else text, "body"),
        ]
    )
    return Pipeline(
        [("preprocess", pre), ("model", LogisticRegression(max_iter=500) if final is None else final)]
    )


def labels(x: pd.DataFrame, classes: int) -> np.ndarray:
    score = np.nan_to_num(x["n"].to_numpy()) / 30 + x["body"].str.contains("w1 ").to_numpy()
    return np.digitize(score, np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1]))


def columns(x: pd.DataFrame) -> dict[str, np.ndarray]:
    return SPEC.check(frame_payload(x, SPEC)).columns


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize(
    ("text", "encoder"),
    [
        (None, None),
        (TfidfVectorizer(sublinear_tf=True, norm="l1", min_df=3), None),
        (CountVectorizer(binary=True), OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=3)),
        (None, OneHotEncoder(handle_unknown="ignore", drop="first")),
    ],
)
def test_answers_unseen_rows_as_scikit_learn_does(classes: int, text: object, encoder: object) -> None:
    train = frame(2000, 1)
    model = pipeline(text=text, encoder=encoder).fit(train, labels(train, classes))
    fast = compile_columns(model, SPEC)
    assert fast is not None
    fresh = frame(500, 2)  # unknown domains, words never seen, gaps
    expected = model.predict_proba(pd.DataFrame(columns(fresh)))
    np.testing.assert_allclose(fast(columns(fresh)), expected, rtol=1e-9, atol=1e-12)
    one = fresh.iloc[[3]]
    np.testing.assert_allclose(fast(columns(one)), model.predict_proba(pd.DataFrame(columns(one))), rtol=1e-9)


@pytest.mark.parametrize("size", [1, 4, 8, 16])
def test_answers_micro_batches_as_scikit_learn_does(size: int) -> None:
    train = frame(2000, 1)
    model = pipeline().fit(train, labels(train, 2))
    fast = compile_columns(model, SPEC)
    assert fast is not None
    fresh = frame(4 * size, 5)
    fresh.loc[::3, "body"] = ""
    fresh.loc[1::3, "body"] = "ünïcode w1 w2 — w1 w2 naïve"
    for start in range(0, len(fresh), size):
        batch = columns(fresh.iloc[start : start + size])
        expected = model.predict_proba(pd.DataFrame(batch))
        np.testing.assert_allclose(fast(batch), expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "model",
    [
        pipeline(final=RandomForestClassifier(n_estimators=5)),
        pipeline(text=HashingVectorizer(n_features=256)),
        pipeline(encoder=OneHotEncoder(handle_unknown="error")),
    ],
)
def test_declines_what_it_does_not_reproduce(model: Pipeline) -> None:
    train = frame(600, 3)
    x = train if "error" not in str(model) else train.fillna({"domain": "__missing__"})
    model.fit(x, labels(x, 2))
    assert compile_columns(model, SPEC) is None


def test_a_wrong_result_is_caught_at_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    train = frame(1000, 4)
    model = pipeline().fit(train, labels(train, 2))
    assert compile_columns(model, SPEC) is not None
    monkeypatch.setattr(compiled_columns, "_weighted", lambda x, vectorizer: x)  # idf and norm forgotten
    assert compile_columns(model, SPEC) is None
