"""Statistical profiles of a frame: the dataset's summary and the reference monitoring compares against.

Everything is plain JSON (floats, ints, strings, lists, dicts; ``None`` for undefined values such as the
standard deviation of one value), and exact: bin counts and frequencies are counted, never sampled.

Conventions drift monitoring must follow to compare new data with a profile:

* numeric bins: ``edges`` ascending; ``counts[i]`` counts finite values in ``[edges[i], edges[i+1])``, the
  last bin also holding ``edges[-1]`` (``numpy.histogram``). A constant column has edges ``[v, v]``.
* category frequencies: the 100 most frequent values as strings, the rest summed under ``"__other__"``.
* text vocabulary: lowercase tokens matched by :data:`TOKEN_PATTERN`, with the number of documents
  (non-null values) holding each.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from mlfactory.data.schema import as_strings, is_stringish, to_utc_datetime

QUANTILES = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
N_BINS = 10
TOP_CATEGORIES = 100
OTHER = "__other__"
VOCABULARY_SIZE = 1000
TOKEN_PATTERN = r"(?u)\b\w+\b"


def _num(x: Any) -> float | None:
    """A JSON-safe float: NaN and infinities become None."""
    value = float(x)
    return value if math.isfinite(value) else None


def _quantiles(ordered: np.ndarray, levels: Any) -> np.ndarray:
    """Quantiles of sorted values by linear interpolation (numpy's default method), without re-sorting."""
    pos = np.asarray(levels, dtype="float64") * (len(ordered) - 1)
    low = np.floor(pos).astype(np.int64)
    high = np.minimum(low + 1, len(ordered) - 1)
    frac = pos - low
    return np.asarray(ordered[low] + (ordered[high] - ordered[low]) * frac, dtype="float64")


def _summary(ordered: np.ndarray) -> dict[str, Any]:
    """Mean, sample standard deviation and quantiles of sorted finite floats."""
    if not len(ordered):
        return {"mean": None, "std": None, "quantiles": [None] * len(QUANTILES)}
    return {
        "mean": _num(ordered.mean()),
        "std": _num(ordered.std(ddof=1)) if len(ordered) > 1 else None,
        "quantiles": [_num(q) for q in _quantiles(ordered, QUANTILES)],
    }


def _bins(ordered: np.ndarray) -> dict[str, list[Any]]:
    """Quantile-bin edges and exact counts, counted like ``numpy.histogram`` (the last bin is closed)."""
    if not len(ordered):
        return {"edges": [], "counts": []}
    edges = np.unique(_quantiles(ordered, np.linspace(0.0, 1.0, N_BINS + 1)))
    if len(edges) == 1:
        edges = np.array([edges[0], edges[0]])
    starts = np.searchsorted(ordered, edges, side="left")
    starts[-1] = len(ordered)  # every value is <= the last edge, which closes the last bin
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in np.diff(starts)]}


def _whole(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


def _numeric(s: pd.Series, integer: bool) -> dict[str, Any]:
    if pd.api.types.is_numeric_dtype(s.dtype):  # booleans included
        raw = s
    elif is_stringish(s):
        raw = pd.to_numeric(s, errors="coerce")
    else:  # e.g. timestamps in a number column: validation reports it, the profile has no numbers
        raw = pd.Series(np.nan, index=s.index)
    all_values = raw.to_numpy(dtype="float64", na_value=np.nan)
    ordered = np.sort(all_values[np.isfinite(all_values)])
    out: dict[str, Any] = {
        "count": len(ordered),
        "nulls": int(np.isnan(all_values).sum()),
        "infinite": int(np.isinf(all_values).sum()),
        "quantile_levels": list(QUANTILES),
        **_summary(ordered),
        "min": None,
        "max": None,
        "bins": _bins(ordered),
    }
    if len(ordered):
        low, high = ordered[0], ordered[-1]
        out["min"], out["max"] = (_whole(low), _whole(high)) if integer else (float(low), float(high))
    return out


def _categorical(s: pd.Series) -> dict[str, Any]:
    strings = as_strings(s)
    counts = strings.value_counts(dropna=True)
    top = counts.iloc[:TOP_CATEGORIES]
    frequencies = {str(k): int(v) for k, v in zip(top.index, top.to_numpy(), strict=True)}
    frequencies[OTHER] = frequencies.get(OTHER, 0) + int(counts.iloc[TOP_CATEGORIES:].sum())
    return {
        "count": int(strings.notna().sum()),
        "nulls": int(strings.isna().sum()),
        "distinct": len(counts),
        "frequencies": frequencies,
    }


def _vocabulary(docs: pd.Series) -> dict[str, int]:
    from sklearn.feature_extraction.text import CountVectorizer

    vectorizer = CountVectorizer(
        lowercase=True, token_pattern=TOKEN_PATTERN, max_features=VOCABULARY_SIZE, binary=True, dtype=np.int64
    )
    try:
        matrix = vectorizer.fit_transform(docs.tolist())
    except ValueError:  # no tokens at all
        return {}
    df = np.asarray(matrix.sum(axis=0)).ravel()
    terms = vectorizer.get_feature_names_out()
    order = np.lexsort((terms, -df))
    return {str(terms[i]): int(df[i]) for i in order}


def _text(s: pd.Series) -> dict[str, Any]:
    docs = as_strings(s).dropna()
    if not isinstance(docs.dtype, pd.StringDtype):
        docs = docs.astype("str")
    chars = np.sort(docs.str.len().to_numpy(dtype="float64"))
    words = np.sort(docs.str.count(r"\S+").to_numpy(dtype="float64"))
    return {
        "documents": len(docs),
        "nulls": int(s.isna().sum()),
        "quantile_levels": list(QUANTILES),
        "chars": _summary(chars),
        "words": _summary(words),
        "token_pattern": TOKEN_PATTERN,
        "vocabulary": _vocabulary(docs),
    }


def _datetime(s: pd.Series) -> dict[str, Any]:
    values = to_utc_datetime(s)
    valid = values.dropna()
    return {
        "count": len(valid),
        "nulls": int(s.isna().sum()),
        "min": valid.min().isoformat() if len(valid) else None,
        "max": valid.max().isoformat() if len(valid) else None,
    }


def profile_frame(df: pd.DataFrame, types: dict[str, str]) -> dict[str, Any]:
    """Profile each typed column of a frame.

    Per ``number``/``integer`` column: count (finite values), nulls, infinite, mean, std (sample), min, max,
    quantiles at :data:`QUANTILES`, and 10 quantile bins (deduplicated edges and exact counts). Per
    ``category``/``boolean`` column: count, nulls, distinct count and frequencies (top 100 plus
    ``"__other__"``). Per ``text`` column: character and word length statistics and the document
    frequencies of the 1000 most common lowercase tokens. Per ``datetime`` column: count, nulls, min, max.

    Args:
        df: the data.
        types: column name to type; columns missing from ``df`` or of unknown type are left out.

    Returns:
        ``{"n_rows": int, "columns": {name: {"type": ..., ...}}}``, JSON-serializable.
    """
    columns: dict[str, Any] = {}
    for name, kind in types.items():
        if name not in df.columns:
            continue
        s = df[name]
        if kind in ("number", "integer"):
            stats = _numeric(s, integer=kind == "integer")
        elif kind in ("category", "boolean"):
            stats = _categorical(s)
        elif kind == "text":
            stats = _text(s)
        elif kind == "datetime":
            stats = _datetime(s)
        else:
            continue
        columns[name] = {"type": kind, **stats}
    return {"n_rows": len(df), "columns": columns}
