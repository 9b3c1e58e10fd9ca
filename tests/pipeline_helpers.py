"""Small seeded scikit-learn pipelines (TF-IDF, one-hot and scaled numbers before any final step) and a spy
that counts how often a step transforms, for tests of how models answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

WORDS = np.array(["offer", "meeting", "free", "report", "win", "lunch", "invoice", "prize", "team", "cash"])


def rows(n: int, seed: int) -> pd.DataFrame:
    """Seeded rows of text, a category and two numbers."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "text": [" ".join(rng.choice(WORDS, size=6)) for _ in range(n)],
            "kind": rng.choice(["a", "b", "c"], size=n),
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
        }
    )


def preprocess() -> ColumnTransformer:
    return ColumnTransformer(
        [
            ("text", TfidfVectorizer(), "text"),
            ("kind", OneHotEncoder(handle_unknown="ignore"), ["kind"]),
            ("num", StandardScaler(), ["x1", "x2"]),
        ]
    )


def target(frame: pd.DataFrame, classes: int) -> np.ndarray:
    """A label the rows say something about, with noise (so probabilities are not all near 0 or 1)."""
    score = frame["text"].str.count("free|win|prize|cash") + frame["x1"] + (frame["kind"] == "a")
    noisy = score.to_numpy() + np.random.default_rng(3).normal(size=len(frame))
    return np.digitize(noisy, np.quantile(noisy, np.linspace(0, 1, classes + 1)[1:-1]))


def fitted(final: Any, classes: int | None = None, steps: list[tuple[str, Any]] | None = None) -> Pipeline:
    frame = rows(400, seed=1)
    y = target(frame, classes) if classes else frame["x1"].to_numpy() * 2 + frame["x2"]
    return Pipeline([*(steps or [("preprocess", preprocess())]), ("model", final)]).fit(frame, y)


def count_transforms(pipeline: Pipeline) -> list[int]:
    """A spy on the first step's ``transform``: the list holds how often it ran."""
    calls = [0]
    step = pipeline.steps[0][1]
    original: Callable[..., Any] = step.transform

    def spy(x: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(x, **kwargs)

    step.transform = spy
    return calls
