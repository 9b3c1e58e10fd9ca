"""The straightforward measurement of text views (each document tokenized twice, by scikit-learn's
vectorizers, with pandas' lengths and word counts), which mlfactory's one-pass measurement must equal."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer

from mlfactory.data.profile import TOKEN_PATTERN


def straightforward_views(docs: pd.Series, vocabulary: Sequence[str]) -> dict[str, np.ndarray]:
    """Characters, words and out-of-vocabulary share per document, computed the plain way."""
    present = docs.notna().to_numpy()
    text = docs.astype("str").where(docs.notna(), "")
    chars = text.str.len().to_numpy(dtype="float64")
    words = text.str.count(r"\S+").to_numpy(dtype="float64")
    as_list = text.tolist()
    hashing = HashingVectorizer(
        lowercase=True, token_pattern=TOKEN_PATTERN, alternate_sign=False, norm=None, n_features=2**10
    )
    tokens = np.asarray(hashing.transform(as_list).sum(axis=1), dtype="float64").ravel()
    known = np.zeros(len(text))
    if vocabulary:  # the vectorizer refuses an empty one: nothing is known
        counting = CountVectorizer(
            lowercase=True, token_pattern=TOKEN_PATTERN, vocabulary=sorted(set(vocabulary)), dtype=np.int64
        )
        known = np.asarray(counting.transform(as_list).sum(axis=1), dtype="float64").ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        oov = np.where(tokens > 0, 1.0 - known / tokens, np.nan)
    for view in (chars, words, oov):
        view[~present] = np.nan
    return {"chars": chars, "words": words, "oov_rate": oov}
