"""The reference monitoring compares against, built once (at training) and stored with the model version.

It extends the data profile with what drift tests need: per numeric column, bins at 100 quantiles and at 100
equal widths (the data profile keeps 10, too coarse for Anderson–Darling and Wasserstein; the equal widths
split the wide tail bins of skewed columns) with the sum of each bin's offsets from its left edge (so the
Wasserstein distance is exact, not interpolated), and every value with its count when there are at most
:data:`DISCRETE_VALUES` distinct values (tested as the discrete variable it is; quantile bins would lump a
0/1 column into one bin); category counts; and for each text column three numeric views (characters,
words, out-of-vocabulary share) with the vocabulary that defines the last. Versions registered before this
existed fall back to :func:`reference_from_profile`.

Layout (plain JSON)::

    {"format": 2, "n_rows": int,
     "columns": {name: {"kind": "numeric", "edges": [...], "counts": [...], "sums": [...],
                        "values": [...] | None, "value_counts": [...] | None, "count", "nulls", "mean", "std"}
                       | {"kind": "categorical", "frequencies": {value: count}, "other": int,
                          "count", "nulls"}},
     "text": {column: {"vocabulary": [...], "token_pattern": str}},
     "outputs": {"prediction": {...}, "score": {...}}, "label": {...} | None, "calibration": {...} | None}

A text column ``body`` appears in ``columns`` as ``body.chars``, ``body.words`` and ``body.oov_rate``.
Format 1 (before ``sums``, ``values`` and ``value_counts``) still reads: its bins are interpolated and its
few-valued columns binned, which the report says.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

FORMAT = 2
BINS = 100
TOP_CATEGORIES = 200
DISCRETE_VALUES = 20  # a numeric column with at most this many distinct values is tested as discrete
OTHER = "__other__"
VOCABULARY_SIZE = 1000
TOKEN_PATTERN = r"(?u)\b\w+\b"
TEXT_FEATURES = ("chars", "words", "oov_rate")
NUMERIC_TYPES = ("number", "integer")
CATEGORICAL_TYPES = ("category", "boolean")


def _num(x: Any) -> float | None:
    value = float(x)
    return value if math.isfinite(value) else None


def category_key(value: Any) -> str:
    """The text a category value is compared as: ``1``, ``1.0`` and ``np.int64(1)`` are all ``"1"``."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def as_floats(values: Any) -> np.ndarray:
    """Any column as float64; text that is not a number becomes NaN (counted as null)."""
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if not pd.api.types.is_numeric_dtype(s.dtype):
        s = pd.to_numeric(s, errors="coerce")
    return s.to_numpy(dtype="float64", na_value=np.nan)


def numeric_reference(values: Any, bins: int = BINS) -> dict[str, Any]:
    """Bins at ``bins`` quantiles and ``bins`` equal widths (deduplicated edges, exact ``numpy.histogram``
    counts, each bin's sum of offsets from its left edge), the values themselves when there are at most
    :data:`DISCRETE_VALUES`, and moments of one column."""
    raw = as_floats(values)
    finite = np.sort(raw[np.isfinite(raw)])
    out: dict[str, Any] = {
        "kind": "numeric",
        "count": len(finite),
        "nulls": int((~np.isfinite(raw)).sum()),
        "edges": [],
        "counts": [],
        "sums": [],
        "values": None,
        "value_counts": None,
        "mean": None,
        "std": None,
        "min": None,
        "max": None,
    }
    if not len(finite):
        return out
    pos = np.linspace(0.0, 1.0, bins + 1) * (len(finite) - 1)  # numpy's linear quantiles, on the sorted data
    low = np.floor(pos).astype(np.int64)
    high = np.minimum(low + 1, len(finite) - 1)
    quantiles = finite[low] + (finite[high] - finite[low]) * (pos - low)
    # equal-width edges too: quantile bins of a skewed column leave a wide top bin, where the two
    # distribution functions may cross unseen and the Wasserstein distance would come out short
    even = np.linspace(finite[0], finite[-1], bins + 1)
    edges = np.unique(np.concatenate([quantiles, even]))
    if len(edges) == 1:
        edges = np.array([edges[0], edges[0]])
    starts = np.searchsorted(finite, edges, side="left")
    starts[-1] = len(finite)
    counts = np.diff(starts)
    # Σ (x − left edge) per bin; reduceat gives a lone value for an empty bin, which the mask drops
    totals = np.add.reduceat(finite, np.minimum(starts[:-1], len(finite) - 1))
    sums = np.where(counts > 0, totals - counts * edges[:-1], 0.0)
    if np.count_nonzero(finite[1:] != finite[:-1]) < DISCRETE_VALUES:
        first = np.concatenate([[0], np.flatnonzero(finite[1:] != finite[:-1]) + 1])
        out.update(
            values=[float(v) for v in finite[first]],
            value_counts=[int(c) for c in np.diff(np.concatenate([first, [len(finite)]]))],
        )
    out.update(
        edges=[float(e) for e in edges],
        counts=[int(c) for c in counts],
        sums=[float(v) for v in sums],
        mean=_num(finite.mean()),
        std=_num(finite.std(ddof=1)) if len(finite) > 1 else None,
        min=float(finite[0]),
        max=float(finite[-1]),
    )
    return out


def categorical_reference(values: Any, top: int = TOP_CATEGORIES) -> dict[str, Any]:
    """Counts of the ``top`` most frequent values (as :func:`category_key` text), the rest as ``other``."""
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    counts = s.value_counts(dropna=True)
    merged: dict[str, int] = {}
    for key, n in zip(counts.index, counts.to_numpy(), strict=True):
        k = category_key(key)
        merged[k] = merged.get(k, 0) + int(n)
    ordered = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))
    return {
        "kind": "categorical",
        "count": int(sum(merged.values())),
        "nulls": int(s.isna().sum()),
        "frequencies": dict(ordered[:top]),
        "other": int(sum(n for _, n in ordered[top:])),
    }


def text_views(docs: Any, vocabulary: Iterable[str]) -> dict[str, np.ndarray]:
    """Per document: characters, words (whitespace-separated) and the share of tokens outside
    ``vocabulary`` (NaN for a document without tokens). Nulls stay NaN in every view."""
    from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer

    s = docs if isinstance(docs, pd.Series) else pd.Series(docs)
    present = s.notna().to_numpy()
    text = s.astype("str").where(s.notna(), "")
    chars = text.str.len().to_numpy(dtype="float64")
    words = text.str.count(r"\S+").to_numpy(dtype="float64")
    docs_list = text.tolist()
    counter = HashingVectorizer(
        lowercase=True, token_pattern=TOKEN_PATTERN, alternate_sign=False, norm=None, n_features=2**10
    )
    tokens = np.asarray(counter.transform(docs_list).sum(axis=1), dtype="float64").ravel()
    vocab = sorted(set(vocabulary))
    if vocab:
        vectorizer = CountVectorizer(
            lowercase=True, token_pattern=TOKEN_PATTERN, vocabulary=vocab, dtype=np.int64
        )
        known = np.asarray(vectorizer.transform(docs_list).sum(axis=1), dtype="float64").ravel()
    else:
        known = np.zeros(len(text))
    with np.errstate(divide="ignore", invalid="ignore"):
        oov = np.where(tokens > 0, 1.0 - known / tokens, np.nan)
    missing = ~present
    for view in (chars, words, oov):
        view[missing] = np.nan
    return {"chars": chars, "words": words, "oov_rate": oov}


def build_vocabulary(docs: Any, size: int = VOCABULARY_SIZE) -> list[str]:
    """The ``size`` lowercase tokens found in the most documents (ties by token)."""
    from sklearn.feature_extraction.text import CountVectorizer

    s = docs if isinstance(docs, pd.Series) else pd.Series(docs)
    vectorizer = CountVectorizer(lowercase=True, token_pattern=TOKEN_PATTERN, max_features=size, binary=True)
    try:
        vectorizer.fit(s.dropna().astype("str").tolist())
    except ValueError:  # no tokens at all
        return []
    return sorted(vectorizer.get_feature_names_out().tolist())


def column_reference(values: Any, kind: str) -> dict[str, Any]:
    """The reference of one column by declared type (``number``/``integer`` or a categorical type)."""
    ref = numeric_reference(values) if kind in NUMERIC_TYPES else categorical_reference(values)
    return {**ref, "type": kind}


def build_reference(frame: pd.DataFrame, types: Mapping[str, str]) -> dict[str, Any]:
    """The reference of a frame's typed columns (``number``, ``integer``, ``category``, ``boolean``,
    ``text``; other types are left out).

    Args:
        frame: the reference data, e.g. a model's training rows.
        types: column name to declared type.
    """
    columns: dict[str, Any] = {}
    text: dict[str, Any] = {}
    for name, kind in types.items():
        if name not in frame.columns:
            continue
        if kind in NUMERIC_TYPES or kind in CATEGORICAL_TYPES:
            columns[name] = column_reference(frame[name], kind)
        elif kind == "text":
            vocab = build_vocabulary(frame[name])
            text[name] = {"vocabulary": vocab, "token_pattern": TOKEN_PATTERN}
            for view, values in text_views(frame[name], vocab).items():
                columns[f"{name}.{view}"] = {
                    **numeric_reference(values),
                    "type": "number",
                    "source": name,
                    "feature": view,
                }
    return {"format": FORMAT, "n_rows": len(frame), "columns": columns, "text": text}


def _from_profile_column(stats: dict[str, Any]) -> dict[str, Any] | None:
    kind = stats.get("type")
    if kind in NUMERIC_TYPES:
        bins = stats.get("bins") or {}
        return {
            "kind": "numeric",
            "type": kind,
            "edges": bins.get("edges", []),
            "counts": bins.get("counts", []),
            "count": stats.get("count", 0),
            "nulls": stats.get("nulls", 0),
            "mean": stats.get("mean"),
            "std": stats.get("std"),
            "min": stats.get("min"),
            "max": stats.get("max"),
        }
    if kind in CATEGORICAL_TYPES:
        freq = dict(stats.get("frequencies", {}))
        other = int(freq.pop(OTHER, 0))
        return {
            "kind": "categorical",
            "type": kind,
            "frequencies": freq,
            "other": other,
            "count": stats.get("count", 0),
            "nulls": stats.get("nulls", 0),
        }
    return None


def _from_quantiles(summary: dict[str, Any], levels: list[float], n: int) -> dict[str, Any] | None:
    """Bins whose edges are stored quantiles, each holding the share between its levels."""
    qs = summary.get("quantiles") or []
    if not n or any(q is None for q in qs):
        return None
    edges = np.asarray(qs, dtype="float64")
    mass = np.diff(np.asarray(levels, dtype="float64")) * n
    edges_u = np.unique(edges)
    if len(edges_u) == 1:
        edges_u, counts = np.array([edges_u[0], edges_u[0]]), np.array([float(n)])
    else:
        idx = np.minimum(np.searchsorted(edges_u, edges[:-1], side="right") - 1, len(edges_u) - 2)
        counts = np.bincount(idx, weights=mass, minlength=len(edges_u) - 1)
    return {
        "kind": "numeric",
        "type": "number",
        "edges": edges_u.tolist(),
        "counts": np.round(counts).astype(int).tolist(),
        "count": n,
        "nulls": 0,
        "mean": summary.get("mean"),
        "std": summary.get("std"),
    }


def reference_from_profile(profile: dict[str, Any]) -> dict[str, Any]:
    """A reference from a version's data profile alone (versions trained before monitoring existed).

    Numeric columns get the profile's 10 bins; text columns get character and word lengths binned at the
    stored quantiles, and no out-of-vocabulary view (the profile keeps document frequencies of the top
    tokens, not the reference's out-of-vocabulary share), which the report says.
    """
    columns: dict[str, Any] = {}
    text: dict[str, Any] = {}
    for name, stats in profile.get("columns", {}).items():
        if stats.get("type") == "text":
            levels = stats.get("quantile_levels", [])
            text[name] = {
                "vocabulary": sorted(stats.get("vocabulary", {})),
                "token_pattern": TOKEN_PATTERN,
                "oov_reference": False,
            }
            for view in ("chars", "words"):
                ref = _from_quantiles(stats.get(view, {}), levels, stats.get("documents", 0))
                if ref is not None:
                    columns[f"{name}.{view}"] = {**ref, "source": name, "feature": view}
            continue
        ref = _from_profile_column(stats)
        if ref is not None:
            columns[name] = ref
    outputs = {
        k: r
        for k, s in profile.get("outputs", {}).get("columns", {}).items()
        if (r := _from_profile_column(s)) is not None
    }
    return {
        "format": 0,
        "n_rows": profile.get("n_rows", 0),
        "columns": columns,
        "text": text,
        "outputs": outputs,
        "label": None,
        "calibration": None,
    }


def version_reference(profile: dict[str, Any], label: str | None = None) -> dict[str, Any]:
    """The reference stored with a model version (``profile["monitoring"]``), or one derived from its data
    profile for versions that predate it."""
    stored = profile.get("monitoring")
    if stored:
        return dict(stored)
    ref = reference_from_profile(profile)
    if label is not None and label in ref["columns"]:
        ref["label"] = ref["columns"].pop(label)
    return ref
