"""A fast path for mixed-column models: numbers, categories and text into a logistic regression.

The pipeline mlfactory builds by default (``preprocess: true``) is a ColumnTransformer of an imputer and a
scaler over the numbers, an imputer and a one-hot encoder over the categories and one TF-IDF vectorizer
per text column, before the estimator. Asked for one row, scikit-learn spends most of its time around the
arithmetic: building a DataFrame, validating it once per step, selecting columns through pandas, running
each part through joblib. For one row of the quickstart's spam model that is over 90% of a predict.

:func:`compile_columns` takes such a pipeline apart when its estimator is a LogisticRegression, and answers
from the checked columns directly: numbers through NumPy (the steps of :mod:`mlfactory.serving.compiled`),
each category through a dictionary from value to its one-hot column (read off the fitted encoder itself,
infrequent and dropped categories included), text through the vectorizer's counts a batch at a time
(:mod:`mlfactory.serving.compiled_text`) and its own weighting, and the logistic regression as one dot
product per block. Sparse blocks are plain arrays of entries rather than scipy.sparse matrices, whose checks
and conversions cost more than the arithmetic for the few rows of a micro-batch. Each text block is kept
only if it gives exactly the vectorizer's ``transform`` on probe documents (odd and non-ASCII ones
included), and the function only if it gives ``predict_proba``'s answers to 1e-9 on probe rows that visit
every category, an unknown one and a missing one, and text made of the vectorizer's own terms; anything
else returns None and the model is used as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import repeat
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from mlfactory.inputs import NUMERIC, InputSpec
from mlfactory.serving.compiled import Step, numeric_steps
from mlfactory.serving.compiled_text import BULK, Entries, text_counts

Columns = dict[str, np.ndarray]
Block = Callable[[Columns, int], np.ndarray | Entries]  # the block's (n, width) matrix, dense or sparse
ColumnsFn = Callable[[Columns], np.ndarray]
_UNKNOWN = "\x00mlfactory-unknown-category"
_TEXT = ("TfidfVectorizer", "CountVectorizer")


def _numeric(transformer: Any, cols: list[str]) -> Block | None:
    steps: list[Step] | None = [] if transformer == "passthrough" else numeric_steps(transformer, cols)
    if steps is None:
        return None

    def block(columns: Columns, n: int) -> np.ndarray:
        x = np.column_stack([columns[c] for c in cols]).astype(np.float64, copy=False)
        for step in steps:
            x = step(x)
        return x

    return block


def _encoder_parts(transformer: Any) -> tuple[Any, Any] | None:
    """(imputer or None, one-hot encoder) of a categorical part."""
    kind = type(transformer).__name__
    if kind == "OneHotEncoder":
        return None, transformer
    if kind != "Pipeline" or len(transformer.steps) != 2:
        return None
    (_, imputer), (_, encoder) = transformer.steps
    if type(imputer).__name__ != "SimpleImputer" or type(encoder).__name__ != "OneHotEncoder":
        return None
    if imputer.strategy != "constant" or getattr(imputer, "add_indicator", False):
        return None
    return imputer, encoder


def _one_hot_maps(encoder: Any) -> tuple[list[dict[Any, int]], np.ndarray] | None:
    """Per column, each known category's output column (-1: none, e.g. a dropped category), read off the
    encoder by encoding every category, and where each column's block starts (its end last); None when the
    encoder is not one this path reproduces."""
    if encoder.handle_unknown not in ("ignore", "infrequent_if_exist"):
        return None
    categories = [list(c) for c in encoder.categories_]
    sizes = getattr(encoder, "_n_features_outs", None)  # each column's output width (scikit-learn >= 1.1)
    if not isinstance(sizes, list) or len(sizes) != len(categories):
        return None
    width = max(len(c) for c in categories)
    probe = np.empty((width, len(categories)), dtype=object)
    for j, cats in enumerate(categories):
        probe[:, j] = [cats[min(i, len(cats) - 1)] for i in range(width)]
    names = getattr(encoder, "feature_names_in_", None)
    encoded = sp.csr_matrix(encoder.transform(probe if names is None else pd.DataFrame(probe, columns=names)))
    starts = np.concatenate([[0], np.cumsum(sizes)])
    maps: list[dict[Any, int]] = []
    for j, cats in enumerate(categories):
        part = encoded[:, starts[j] : starts[j + 1]].toarray()
        hot = [int(np.argmax(row)) if row.any() else -1 for row in part]
        maps.append({c: hot[i] for i, c in enumerate(cats)})
    return maps, starts


def _unknown_columns(encoder: Any, maps: list[dict[Any, int]]) -> list[int]:
    """Per column, where a category the encoder never saw goes (-1: nowhere, an all-zero row)."""
    if encoder.handle_unknown != "infrequent_if_exist" or encoder.infrequent_categories_ is None:
        return [-1] * len(maps)
    out = []
    for j, infrequent in enumerate(encoder.infrequent_categories_):
        out.append(maps[j][infrequent[0]] if infrequent is not None and len(infrequent) else -1)
    return out


def _categorical(transformer: Any, cols: list[str]) -> Block | None:
    parts = _encoder_parts(transformer)
    if parts is None:
        return None
    imputer, encoder = parts
    layout = _one_hot_maps(encoder)
    if layout is None:
        return None
    maps, offsets = layout
    unknown = _unknown_columns(encoder, maps)
    width = int(offsets[-1])
    # each value's output column (-1: none), an unknown one's through get's default and a missing one's
    # as its imputed value's
    lookups = [
        {v: int(offsets[j]) + hot if hot >= 0 else -1 for v, hot in m.items()} for j, m in enumerate(maps)
    ]
    misses = [int(offsets[j]) + hot if hot >= 0 else -1 for j, hot in enumerate(unknown)]
    if imputer is not None:
        for lookup, miss in zip(lookups, misses, strict=True):
            lookup[None] = lookup.get(imputer.fill_value, miss)

    def block(columns: Columns, n: int) -> Entries:
        hot = np.empty((n, len(cols)), dtype=np.int64)
        for j, c in enumerate(cols):
            values = columns[c].tolist()
            if imputer is None and None in values:  # as the encoder itself, which cannot order None
                raise ValueError(f"column '{c}' row {values.index(None)} is missing and nothing imputes it")
            hot[:, j] = np.fromiter(map(lookups[j].get, values, repeat(misses[j])), dtype=np.int64, count=n)
        rows, at = np.nonzero(hot >= 0)  # row by row, each row's columns in order
        return Entries(rows, hot[rows, at], np.ones(len(rows)), (n, width))

    return block


def _weighted(x: Entries, vectorizer: Any) -> Entries:
    """Counts turned into the vectorizer's output: binary, sublinear tf, idf, then the row norm."""
    if vectorizer.binary:
        x.data[:] = 1.0
    if type(vectorizer).__name__ != "TfidfVectorizer":
        return x
    if vectorizer.sublinear_tf:
        np.log(x.data, out=x.data)
        np.add(x.data, 1.0, out=x.data)
    if vectorizer.use_idf:
        np.multiply(x.data, vectorizer.idf_[x.cols], out=x.data)
    if vectorizer.norm in ("l1", "l2"):
        size = np.abs(x.data) if vectorizer.norm == "l1" else x.data**2
        norms = np.bincount(x.rows, weights=size, minlength=x.shape[0])
        norms = norms if vectorizer.norm == "l1" else np.sqrt(norms)
        norms[norms == 0.0] = 1.0
        np.divide(x.data, norms[x.rows], out=x.data)
    return x


_ODD_DOCS = [
    "",
    "  ",
    "!?",
    "a b c",
    "Ünïcode café, naïve résumé",
    "snake_case 42 x9 TAB\tnew\nline",
    "ÀÉ ok",
]


def _text_probe(vectorizer: Any, rng: np.random.Generator) -> list[str]:
    """Documents of the vectorizer's own terms in mixed case and separators, and odd ones: empty, no
    tokens, one-letter words, non-ASCII."""
    words = [w for term in sorted(vectorizer.vocabulary_)[:400] for w in term.split(" ")] or ["word"]
    cased = [w.upper() if i % 3 == 0 else w for i, w in enumerate(words)]
    seps = [" ", ", ", "\n", " - ", "."]
    docs = [
        "".join(f"{w}{rng.choice(seps)}" for w in rng.choice(cased, size=int(rng.integers(0, 14))))
        for _ in range(40)
    ]
    return docs + _ODD_DOCS


def _text(vectorizer: Any, col: Any) -> Block | None:
    """A TF-IDF or count vectorizer: its counts a batch at a time (:mod:`mlfactory.serving.compiled_text`),
    then its weighting, without the validation scikit-learn repeats on every call. Kept only if it gives
    exactly the vectorizer's ``transform`` on probe documents, a large batch and a small one."""
    if type(vectorizer).__name__ not in _TEXT or not isinstance(col, str):
        return None
    if getattr(vectorizer, "norm", None) not in ("l1", "l2", None):
        return None
    counts = text_counts(vectorizer)
    probe = _text_probe(vectorizer, np.random.default_rng(0))
    for docs in (probe, probe[-BULK + 1 :]):
        got, expected = _weighted(counts(docs), vectorizer).csr(), vectorizer.transform(docs)
        if got.shape != expected.shape or (got != expected).nnz:
            return None

    def block(columns: Columns, n: int) -> Entries:
        return _weighted(counts(columns[col].tolist()), vectorizer)

    return block


def _block(transformer: Any, cols: Any, kinds: dict[str, str]) -> Block | None:
    if isinstance(cols, str):
        return _text(transformer, cols) if kinds.get(cols) == "text" else None
    if not isinstance(cols, list) or not cols or any(c not in kinds for c in cols):
        return None
    if all(kinds[c] in NUMERIC for c in cols):
        return _numeric(transformer, cols)
    if all(kinds[c] == "category" for c in cols):
        return _categorical(transformer, cols)
    return None


def _blocks(pre: Any, kinds: dict[str, str]) -> list[Block] | None:
    if type(pre).__name__ != "ColumnTransformer" or pre.remainder != "drop":
        return None
    blocks = []
    for name, transformer, cols in pre.transformers_:
        if name == "remainder" or transformer == "drop":
            continue
        block = _block(transformer, cols, kinds)
        if block is None:
            return None
        blocks.append(block)
    return blocks


def _add_product(z: np.ndarray, x: np.ndarray | Entries, coef: np.ndarray) -> None:
    """``z += x @ coef``; a sparse block's row by row over its entries, in their order."""
    if isinstance(x, np.ndarray):
        z += x @ coef
        return
    for k in range(z.shape[1]):
        z[:, k] += np.bincount(x.rows, weights=x.data * coef[x.cols, k], minlength=len(z))


def _logistic_blocks(model: Any, blocks: list[Block]) -> ColumnsFn | None:
    """``predict_proba`` as one product per block with its slice of the coefficients."""
    from scipy.special import expit, softmax

    if type(model).__name__ != "LogisticRegression":
        return None
    coef = np.asarray(model.coef_, dtype=np.float64).T
    intercept = np.asarray(model.intercept_, dtype=np.float64)

    def proba(columns: Columns) -> np.ndarray:
        n = len(next(iter(columns.values())))
        z = np.tile(intercept, (n, 1))
        start = 0
        for block in blocks:
            x = block(columns, n)
            _add_product(z, x, coef[start : start + x.shape[1]])
            start += x.shape[1]
        if start != coef.shape[0]:
            raise ValueError(f"the blocks give {start} features, the model takes {coef.shape[0]}")
        if coef.shape[1] == 1:
            p1 = expit(z[:, 0])
            return np.column_stack([1.0 - p1, p1])
        return np.asarray(softmax(z, axis=1))

    return proba


def _probe(estimator: Any, spec: InputSpec, rng: np.random.Generator) -> Columns:
    """Rows that visit every category of every encoder, an unknown one and (where imputed) a missing one,
    numbers with gaps (where the model takes them), and text made of the vectorizers' own terms."""
    pre = estimator.steps[0][1]
    known: dict[str, list[Any]] = {}
    terms: dict[str, list[str]] = {}
    for _, transformer, cols in pre.transformers_:
        parts = _encoder_parts(transformer) if isinstance(cols, list) else None
        if parts is not None:
            missing = [None] if parts[0] is not None else []  # only an imputer takes a missing category
            for c, cats in zip(cols, parts[1].categories_, strict=True):
                known[c] = [*cats, _UNKNOWN, *missing]
        elif isinstance(cols, str):
            vocabulary = getattr(transformer, "vocabulary_", None) or {}
            terms[cols] = sorted(vocabulary)[:400] or ["word"]
    n = max(48, *(len(v) for v in known.values())) if known else 48
    columns: Columns = {}
    for name, kind in zip(spec.names, spec.kinds, strict=True):
        if kind in NUMERIC:
            x = rng.normal(size=n) * 10
            if spec.allow_nan:  # the rows the server lets through: NaN only where the model takes it
                x[rng.random(n) < 0.1] = np.nan
            columns[name] = x
        elif kind == "category":
            values = known.get(name, ["a", None])
            columns[name] = np.array([values[i % len(values)] for i in range(n)], dtype=object)
        else:
            words = terms.get(name, ["word"])
            docs = [" ".join(rng.choice(words, size=int(rng.integers(0, 12)))) for _ in range(n)]
            columns[name] = np.array(docs, dtype=object)
    return columns


def compile_columns(estimator: Any, spec: InputSpec, seed: int = 0) -> ColumnsFn | None:
    """A ``predict_proba`` over checked columns (``Batch.columns``), or None when the model is not a
    ColumnTransformer of numeric, categorical and text parts into a LogisticRegression, or when the result
    does not match scikit-learn's on probe rows."""
    if type(estimator).__name__ != "Pipeline" or len(estimator.steps) != 2 or spec.numeric_only:
        return None
    kinds = dict(zip(spec.names, spec.kinds, strict=True))
    try:
        blocks = _blocks(estimator.steps[0][1], kinds)
        proba = None if blocks is None else _logistic_blocks(estimator.steps[1][1], blocks)
        if proba is None:
            return None
        probe = _probe(estimator, spec, np.random.default_rng(seed))
        expected = estimator.predict_proba(pd.DataFrame(probe, copy=False))
        got = proba(probe)
    except Exception:  # anything this path does not reproduce falls back to scikit-learn
        return None
    if got.shape != expected.shape or not np.allclose(got, expected, rtol=1e-9, atol=1e-12):
        return None
    return proba
