"""Statistical profiles of a frame: the one builder of a dataset version's summary and of the reference a
model version's monitoring compares against.

Both are made of the same column statistics at a different :class:`Resolution`: a dataset version keeps a
summary a person reads (:data:`DATASET_RESOLUTION`, 10 bins and 100 categories, :func:`profile_frame`); a
model version keeps what drift tests need (:data:`MONITORING_RESOLUTION`, 100 bins and 200 categories,
:func:`build_reference`). Each keeps the stored JSON layout it always had, so profiles stored by earlier
versions of mlfactory read unchanged.

Everything is plain JSON (floats, ints, strings, lists, dicts; ``None`` for undefined values such as the
standard deviation of one value), and exact: bin counts and frequencies are counted, never sampled.

Conventions drift monitoring must follow to compare new data with a profile:

* numeric bins: ``edges`` ascending; ``counts[i]`` counts finite values in ``[edges[i], edges[i+1])``, the
  last bin also holding ``edges[-1]`` (``numpy.histogram``). A constant column has edges ``[v, v]``.
* category frequencies: the most frequent values as strings (:data:`DATASET_RESOLUTION`: 100), the rest
  summed under ``"__other__"``.
* text vocabulary: lowercase tokens matched by :data:`TOKEN_PATTERN`, with the number of documents
  (non-null values) holding each.

The monitoring reference's layout (``build_reference``, format 2)::

    {"format": 2, "n_rows": int,
     "columns": {name: {"kind": "numeric", "edges": [...], "counts": [...], "sums": [...],
                        "values": [...] | None, "value_counts": [...] | None, "count", "nulls", "mean", "std"}
                       | {"kind": "categorical", "frequencies": {value: count}, "other": int,
                          "count", "nulls"}},
     "text": {column: {"vocabulary": [...], "token_pattern": str}}}

Per numeric column it keeps bins at ``bins`` quantiles and at ``bins`` equal widths (the equal widths split
the wide tail bins of skewed columns) with the sum of each bin's offsets from its left edge (so the
Wasserstein distance is exact, not interpolated), and every value with its count when there are at most
:data:`DISCRETE_VALUES` distinct values (tested as the discrete variable it is; quantile bins would lump a
0/1 column into one bin). A text column ``body`` appears in ``columns`` as ``body.chars``, ``body.words`` and
``body.oov_rate`` (:func:`text_views`). Training adds ``outputs``, ``label`` and ``calibration``
(:func:`mlfactory.monitoring.baseline.training_reference`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# the text views live in mlfactory.data.text; monitoring reaches them (and its windows' prepared
# vocabularies) through this module
from mlfactory import arrays
from mlfactory.data.text import TOKEN_PATTERN as TOKEN_PATTERN
from mlfactory.data.text import Vocabulary as Vocabulary
from mlfactory.data.text import text_views as text_views
from mlfactory.entities import NUMERIC_TYPES

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Resolution:
    """How finely a profile describes a column.

    Attributes:
        bins: quantile bins per numeric column (the monitoring reference adds as many equal-width bins).
        max_categories: most frequent values kept per categorical column; the rest are summed.
    """

    bins: int
    max_categories: int


DATASET_RESOLUTION = Resolution(bins=10, max_categories=100)  # a summary to read
# fine enough for Anderson-Darling and an exact Wasserstein distance
MONITORING_RESOLUTION = Resolution(bins=100, max_categories=200)
QUANTILES = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
OTHER = "__other__"
VOCABULARY_SIZE = 1000
DISCRETE_VALUES = 20  # a numeric column with at most this many distinct values is tested as discrete
REFERENCE_FORMAT = 2  # the monitoring reference's layout; 0 marks one derived from a data profile
# Binned as numbers: the numeric types except ``boolean``, which frames hold as numbers but a profile counts
# as the two categories it is (frequencies compare two values better than bins do).
BINNED_TYPES = tuple(t for t in NUMERIC_TYPES if t != "boolean")
CATEGORICAL_TYPES = ("category", "boolean")


# -- shared helpers -------------------------------------------------------------------------------------


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


def _moments(ordered: np.ndarray) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (None for fewer than two values) of non-empty finite floats."""
    return _num(ordered.mean()), _num(ordered.std(ddof=1)) if len(ordered) > 1 else None


def _bin_starts(ordered: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Deduplicated edges (a constant column gets ``[v, v]``) and where each bin starts in the sorted values,
    counted like ``numpy.histogram``: every value is <= the last edge, which closes the last bin."""
    if len(edges) == 1:
        edges = np.array([edges[0], edges[0]])
    starts = np.searchsorted(ordered, edges, side="left")
    starts[-1] = len(ordered)
    return edges, starts


def category_key(value: Any) -> str:
    """The text a category value is compared as: ``1``, ``1.0`` and ``np.int64(1)`` are all ``"1"``."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def as_floats(values: Any) -> np.ndarray:
    """Any column as float64; text that is not a number becomes NaN (counted as null).

    Arrow columns of numbers, booleans (1 and 0) and nulls, and NumPy arrays of numbers, convert directly;
    any other column goes through pandas' ``to_numeric``, whose coercion rules define its numbers (pandas is
    imported only then: monitoring a log of typed numbers never loads it)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        if pa.types.is_null(values.type):
            return np.full(len(values), np.nan)
        if _arrow_number(values.type):
            return arrays.floats(values)
        values = values.to_pandas()
    elif isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        return values.astype("float64")
    import pandas as pd  # text, dates and Python objects: pandas' coercion rules

    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if not pd.api.types.is_numeric_dtype(s.dtype):
        s = pd.to_numeric(s, errors="coerce")
    return np.asarray(s.to_numpy(dtype="float64", na_value=np.nan))


def _arrow_number(kind: pa.DataType) -> bool:
    """Whether an Arrow column of this type converts to floats directly (as pandas would convert it)."""
    return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind))


def category_counts(values: Any) -> tuple[list[Any], np.ndarray, int]:
    """A column's distinct values with their counts, most frequent first (ties in the order the values
    first appear, as pandas' ``value_counts`` orders them), and its missing values (null or NaN).

    An Arrow column is counted by Arrow; any other column by pandas (imported only then)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return _arrow_category_counts(values)
    import pandas as pd  # a frame's column: counted by pandas, as it always was

    s = values if isinstance(values, pd.Series) else pd.Series(values)
    counts = s.value_counts(dropna=True)
    return list(counts.index), counts.to_numpy(dtype=np.int64), int(s.isna().sum())


def _arrow_category_counts(values: pa.Array) -> tuple[list[Any], np.ndarray, int]:
    """:func:`category_counts` of an Arrow column: a float NaN is missing, as pandas has it."""
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    missing = values.null_count
    if pa.types.is_floating(values.type):
        nans = int(np.isnan(arrays.floats(values)).sum()) - missing
        if nans:  # a null's slot is left out of the filter, as a NaN is
            values, missing = values.filter(pc.invert(pc.is_nan(values))), missing + nans
    tally = pc.value_counts(values)
    if values.null_count:
        tally = tally.filter(tally.field("values").is_valid())
    counts = arrays.integers(tally.field("counts"), 0)
    order = np.argsort(-counts, kind="stable")
    keys = tally.field("values").to_pylist()
    return [keys[i] for i in order], counts[order], missing


def document_frequencies(docs: list[str], size: int = VOCABULARY_SIZE) -> dict[str, int]:
    """The ``size`` lowercase tokens found in the most documents, each with that number of documents, most
    frequent first (ties by token)."""
    from sklearn.feature_extraction.text import CountVectorizer

    vectorizer = CountVectorizer(
        lowercase=True, token_pattern=TOKEN_PATTERN, max_features=size, binary=True, dtype=np.int64
    )
    try:
        matrix = vectorizer.fit_transform(docs)
    except ValueError:  # no tokens at all
        return {}
    df = np.asarray(matrix.sum(axis=0)).ravel()
    terms = vectorizer.get_feature_names_out()
    order = np.lexsort((terms, -df))
    return {str(terms[i]): int(df[i]) for i in order}


# -- the dataset profile (profile_frame) ---------------------------------------------------------------


def _summary(ordered: np.ndarray) -> dict[str, Any]:
    """Mean, sample standard deviation and quantiles of sorted finite floats."""
    if not len(ordered):
        return {"mean": None, "std": None, "quantiles": [None] * len(QUANTILES)}
    mean, std = _moments(ordered)
    return {"mean": mean, "std": std, "quantiles": [_num(q) for q in _quantiles(ordered, QUANTILES)]}


def _bins(ordered: np.ndarray, bins: int) -> dict[str, list[Any]]:
    """Quantile-bin edges and exact counts."""
    if not len(ordered):
        return {"edges": [], "counts": []}
    edges, starts = _bin_starts(ordered, np.unique(_quantiles(ordered, np.linspace(0.0, 1.0, bins + 1))))
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in np.diff(starts)]}


def _whole(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


def _numeric(s: pd.Series, integer: bool, resolution: Resolution) -> dict[str, Any]:
    import pandas as pd  # a dataset's frame: pandas is loaded already

    from mlfactory.data.schema import is_stringish

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
        "bins": _bins(ordered, resolution.bins),
    }
    if len(ordered):
        low, high = ordered[0], ordered[-1]
        out["min"], out["max"] = (_whole(low), _whole(high)) if integer else (float(low), float(high))
    return out


def _categorical(s: pd.Series, resolution: Resolution) -> dict[str, Any]:
    from mlfactory.data.schema import as_strings

    strings = as_strings(s)
    counts = strings.value_counts(dropna=True)
    top = counts.iloc[: resolution.max_categories]
    frequencies = {str(k): int(v) for k, v in zip(top.index, top.to_numpy(), strict=True)}
    frequencies[OTHER] = frequencies.get(OTHER, 0) + int(counts.iloc[resolution.max_categories :].sum())
    return {
        "count": int(strings.notna().sum()),
        "nulls": int(strings.isna().sum()),
        "distinct": len(counts),
        "frequencies": frequencies,
    }


def _text(s: pd.Series) -> dict[str, Any]:
    import pandas as pd  # a dataset's frame: pandas is loaded already

    from mlfactory.data.schema import as_strings

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
        "vocabulary": document_frequencies(docs.tolist()),
    }


def _datetime(s: pd.Series) -> dict[str, Any]:
    from mlfactory.data.schema import to_utc_datetime

    values = to_utc_datetime(s)
    valid = values.dropna()
    return {
        "count": len(valid),
        "nulls": int(s.isna().sum()),
        "min": valid.min().isoformat() if len(valid) else None,
        "max": valid.max().isoformat() if len(valid) else None,
    }


def _profile_column(s: pd.Series, kind: str, resolution: Resolution) -> dict[str, Any] | None:
    if kind in BINNED_TYPES:
        return _numeric(s, integer=kind == "integer", resolution=resolution)
    if kind in CATEGORICAL_TYPES:
        return _categorical(s, resolution)
    if kind == "text":
        return _text(s)
    if kind == "datetime":
        return _datetime(s)
    return None


def profile_frame(
    df: pd.DataFrame, types: Mapping[str, str], resolution: Resolution = DATASET_RESOLUTION
) -> dict[str, Any]:
    """Profile each typed column of a frame (a dataset version's profile).

    Per ``number``/``integer`` column: count (finite values), nulls, infinite, mean, std (sample), min, max,
    quantiles at :data:`QUANTILES`, and ``resolution.bins`` quantile bins (deduplicated edges and exact
    counts). Per ``category``/``boolean`` column: count, nulls, distinct count and frequencies (the
    ``resolution.max_categories`` most frequent plus ``"__other__"``). Per ``text`` column: character and
    word length statistics and the document frequencies of the 1000 most common lowercase tokens. Per
    ``datetime`` column: count, nulls, min, max.

    Args:
        df: the data.
        types: column name to type; columns missing from ``df`` or of unknown type are left out.
        resolution: bins and categories kept (default: :data:`DATASET_RESOLUTION`).

    Returns:
        ``{"n_rows": int, "columns": {name: {"type": ..., ...}}}``, JSON-serializable.
    """
    columns: dict[str, Any] = {}
    for name, kind in types.items():
        if name not in df.columns:
            continue
        stats = _profile_column(df[name], kind, resolution)
        if stats is not None:
            columns[name] = {"type": kind, **stats}
    return {"n_rows": len(df), "columns": columns}


# -- the monitoring reference (build_reference) -------------------------------------------------------


def _discrete(finite: np.ndarray) -> dict[str, Any]:
    """Every value with its count, when there are at most :data:`DISCRETE_VALUES` of them."""
    if np.count_nonzero(finite[1:] != finite[:-1]) >= DISCRETE_VALUES:
        return {}
    first = np.concatenate([[0], np.flatnonzero(finite[1:] != finite[:-1]) + 1])
    return {
        "values": [float(v) for v in finite[first]],
        "value_counts": [int(c) for c in np.diff(np.concatenate([first, [len(finite)]]))],
    }


def numeric_reference(values: Any, bins: int = MONITORING_RESOLUTION.bins) -> dict[str, Any]:
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
    quantiles = _quantiles(finite, np.linspace(0.0, 1.0, bins + 1))
    # equal-width edges too: quantile bins of a skewed column leave a wide top bin, where the two
    # distribution functions may cross unseen and the Wasserstein distance would come out short
    even = np.linspace(finite[0], finite[-1], bins + 1)
    edges, starts = _bin_starts(finite, np.unique(np.concatenate([quantiles, even])))
    counts = np.diff(starts)
    # Σ (x − left edge) per bin; reduceat gives a lone value for an empty bin, which the mask drops
    totals = np.add.reduceat(finite, np.minimum(starts[:-1], len(finite) - 1))
    sums = np.where(counts > 0, totals - counts * edges[:-1], 0.0)
    mean, std = _moments(finite)
    out.update(
        edges=[float(e) for e in edges],
        counts=[int(c) for c in counts],
        sums=[float(v) for v in sums],
        mean=mean,
        std=std,
        min=float(finite[0]),
        max=float(finite[-1]),
        **_discrete(finite),
    )
    return out


def categorical_reference(values: Any, top: int = MONITORING_RESOLUTION.max_categories) -> dict[str, Any]:
    """Counts of the ``top`` most frequent values (as :func:`category_key` text), the rest as ``other``."""
    keys, counts, nulls = category_counts(values)
    merged: dict[str, int] = {}
    for key, n in zip(keys, counts.tolist(), strict=True):
        k = category_key(key)
        merged[k] = merged.get(k, 0) + int(n)
    ordered = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))
    return {
        "kind": "categorical",
        "count": int(sum(merged.values())),
        "nulls": nulls,
        "frequencies": dict(ordered[:top]),
        "other": int(sum(n for _, n in ordered[top:])),
    }


def build_vocabulary(docs: Any, size: int = VOCABULARY_SIZE) -> list[str]:
    """The ``size`` lowercase tokens found in the most documents, sorted."""
    import pandas as pd  # a reference's frame: pandas is loaded already

    s = docs if isinstance(docs, pd.Series) else pd.Series(docs)
    return sorted(document_frequencies(s.dropna().astype("str").tolist(), size))


def column_reference(
    values: Any, kind: str, resolution: Resolution = MONITORING_RESOLUTION
) -> dict[str, Any]:
    """The reference of one column by declared type (one of :data:`BINNED_TYPES` is binned, any other
    type counted as categories)."""
    if kind in BINNED_TYPES:
        ref = numeric_reference(values, resolution.bins)
    else:
        ref = categorical_reference(values, resolution.max_categories)
    return {**ref, "type": kind}


def build_reference(
    frame: pd.DataFrame, types: Mapping[str, str], resolution: Resolution = MONITORING_RESOLUTION
) -> dict[str, Any]:
    """The monitoring reference of a frame's typed columns (``number``, ``integer``, ``category``,
    ``boolean``, ``text``; other types are left out), in the layout the module describes.

    Args:
        frame: the reference data, e.g. a model's training rows.
        types: column name to declared type.
        resolution: bins and categories kept (default: :data:`MONITORING_RESOLUTION`).
    """
    columns: dict[str, Any] = {}
    text: dict[str, Any] = {}
    for name, kind in types.items():
        if name not in frame.columns:
            continue
        if kind in BINNED_TYPES or kind in CATEGORICAL_TYPES:
            columns[name] = column_reference(frame[name], kind, resolution)
        elif kind == "text":
            vocab = build_vocabulary(frame[name])
            text[name] = {"vocabulary": vocab, "token_pattern": TOKEN_PATTERN}
            for view, values in text_views(frame[name], vocab).items():
                columns[f"{name}.{view}"] = {
                    **numeric_reference(values, resolution.bins),
                    "type": "number",
                    "source": name,
                    "feature": view,
                }
    return {"format": REFERENCE_FORMAT, "n_rows": len(frame), "columns": columns, "text": text}
