"""Schemas of tabular data: inferred from a frame or declared in the project file, in one dict shape.

A schema is ``{"columns": {name: spec}}`` where each spec holds ``type`` (one of number, integer, boolean,
category, text, datetime) and ``nullable``, and may hold ``categories``, ``min``, ``max`` and
``max_null_rate``. Declared schemas are checked strictly; inferred ones leniently (see
:func:`mlfactory.data.validate`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlfactory.config import ColumnSpec

#: A string column is a category when it has at most this many distinct values ...
MAX_CATEGORIES = 50
#: ... and its values are short: a mean length under this many characters ...
MAX_CATEGORY_CHARS = 30
#: ... or a mean word count of at most this many words.
MAX_CATEGORY_WORDS = 3

_ISO_DATE = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$"


def is_stringish(s: pd.Series) -> bool:
    """Whether a column holds Python objects or strings rather than a numeric, boolean or datetime type."""
    return s.dtype == object or isinstance(s.dtype, pd.StringDtype)


def is_numeric(s: pd.Series) -> bool:
    """Whether a column has a numeric dtype (booleans excluded)."""
    return pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)


def looks_iso_datetime(values: pd.Series) -> bool:
    """Whether every value of a (small, non-null) sample of strings is an ISO-8601 date or timestamp."""
    if values.empty or pd.api.types.infer_dtype(values, skipna=True) != "string":
        return False
    return bool(values.astype("str").str.fullmatch(_ISO_DATE).all())


def to_utc_datetime(s: pd.Series) -> pd.Series:
    """Parse a column to UTC timestamps; values that do not parse become NaT (callers compare null masks)."""
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(s.dtype):
        return s.dt.tz_localize("UTC")
    if not is_stringish(s):
        return pd.Series(pd.NaT, index=s.index, dtype="datetime64[us, UTC]")
    if s.dtype == object and pd.api.types.infer_dtype(s, skipna=True) != "string":
        s = as_strings(s)  # so numbers are never read as epoch offsets
    return pd.to_datetime(s, utc=True, format="ISO8601", errors="coerce")


def as_strings(s: pd.Series) -> pd.Series:
    """A column as strings with nulls kept as nulls (for category and text checks and profiles)."""
    if isinstance(s.dtype, pd.StringDtype):
        return s
    return s.astype("str").where(s.notna())


def _bool_like(s: pd.Series) -> bool:
    values = s.dropna()
    return s.dtype == object and not values.empty and pd.api.types.infer_dtype(values) == "boolean"


def _string_type(s: pd.Series) -> tuple[str, list[str] | None]:
    counts = as_strings(s).dropna().value_counts()
    if counts.empty:
        return "text", None
    if len(counts) > MAX_CATEGORIES:
        return "text", None
    values = pd.Series(counts.index.astype("str"))
    weights = counts.to_numpy(dtype=float)
    mean_chars = float(np.average(values.str.len().to_numpy(dtype=float), weights=weights))
    mean_words = float(np.average(values.str.count(r"\S+").to_numpy(dtype=float), weights=weights))
    if mean_chars < MAX_CATEGORY_CHARS or mean_words <= MAX_CATEGORY_WORDS:
        return "category", sorted(values.tolist())
    return "text", None


def infer_column(s: pd.Series) -> dict[str, Any]:
    """The inferred spec of one column: type, nullable (whether it holds nulls here) and categories."""
    spec: dict[str, Any]
    dtype = s.dtype
    if pd.api.types.is_bool_dtype(dtype) or _bool_like(s):
        spec = {"type": "boolean"}
    elif pd.api.types.is_integer_dtype(dtype):
        spec = {"type": "integer"}
    elif pd.api.types.is_float_dtype(dtype):
        spec = {"type": "number"}
    elif isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype):
        spec = {"type": "datetime"}
    else:
        kind, categories = _string_type(s)
        spec = {"type": kind}
        if categories is not None:
            spec["categories"] = categories
    spec["nullable"] = bool(s.isna().any())
    return spec


def infer_schema(df: pd.DataFrame) -> dict[str, Any]:
    """Infer a lenient schema from a frame.

    Floats become ``number``, integers ``integer``, booleans ``boolean``, timestamps ``datetime``; strings
    become ``category`` (with their sorted distinct values) when there are at most 50 distinct short values,
    else ``text``. ``nullable`` records whether the column holds nulls in this frame. No numeric ranges are
    recorded: they would reject the next batch for merely being different.

    Args:
        df: the data to describe.

    Returns:
        ``{"columns": {name: {"type": ..., "nullable": ..., "categories": [...]}}}``.
    """
    return {"columns": {str(name): infer_column(df[name]) for name in df.columns}}


def schema_from_declared(columns: dict[str, ColumnSpec]) -> dict[str, Any]:
    """Turn the columns declared in the project file into a schema dict (unset checks are left out).

    Args:
        columns: the source's ``columns`` mapping from the project file.

    Returns:
        ``{"columns": {name: {"type": ..., "nullable": ..., ...}}}``, the shape :func:`infer_schema` returns.
    """
    out: dict[str, Any] = {}
    for name, spec in columns.items():
        out[name] = {k: v for k, v in spec.model_dump().items() if v is not None}
    return {"columns": out}


def column_types(schema: dict[str, Any], df: pd.DataFrame | None = None) -> dict[str, str]:
    """Column name to type from a schema, plus inferred types for columns of ``df`` the schema lacks."""
    types = {name: str(spec["type"]) for name, spec in schema.get("columns", {}).items()}
    if df is not None:
        for name in df.columns:
            if name not in types:
                types[str(name)] = infer_column(df[name])["type"]
    return types


# -- validation --------------------------------------------------------------------------------------------

_TRUE = frozenset({"true", "1", "yes", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "f", "n"})


class _Report:
    """Collects reasons and warnings about one frame; rows are reported counting from 1 (first data row)."""

    def __init__(self) -> None:
        self.reasons: list[str] = []
        self.warnings: list[str] = []

    def add(self, error: bool, name: str, text: str) -> None:
        (self.reasons if error else self.warnings).append(f"column '{name}': {text}")

    def check(
        self, error: bool, name: str, mask: pd.Series | np.ndarray, values: pd.Series, what: str
    ) -> None:
        """Report ``what`` when ``mask`` is true anywhere, with the count and the first offending value."""
        flags = np.asarray(mask, dtype=bool)
        count = int(flags.sum())
        if count:
            first = int(flags.argmax())
            example = values.iloc[first]
            example = example.item() if isinstance(example, np.generic) else example
            self.add(error, name, f"{count} {what}, e.g. {example!r} at row {first + 1}")


def _as_float(s: pd.Series, name: str, report: _Report) -> pd.Series | None:
    """The column as floats for numeric checks, reporting values that are not numbers."""
    if (
        pd.api.types.is_bool_dtype(s.dtype)
        or isinstance(s.dtype, pd.DatetimeTZDtype)
        or (pd.api.types.is_datetime64_dtype(s.dtype))
    ):
        report.add(True, name, f"should hold numbers but has dtype {s.dtype}; fix the data or its type")
        return None
    if is_numeric(s):
        return s.astype("float64")
    numbers = pd.to_numeric(s, errors="coerce")
    report.check(True, name, s.notna() & numbers.isna(), s, "values are not numbers")
    return numbers.astype("float64")


def _check_numeric(s: pd.Series, name: str, spec: dict[str, Any], report: _Report) -> None:
    values = _as_float(s, name, report)
    if values is None:
        return
    arr = values.to_numpy()
    finite = np.isfinite(arr)
    report.check(True, name, np.isinf(arr), values, "values are infinite")
    if spec["type"] == "integer":
        report.check(
            True,
            name,
            finite & (arr != np.floor(np.where(finite, arr, 0))),
            values,
            "values are not whole numbers in an integer column",
        )
    low, high = spec.get("min"), spec.get("max")
    if low is not None:
        report.check(True, name, finite & (arr < low), values, f"values are below the minimum {low}")
    if high is not None:
        report.check(True, name, finite & (arr > high), values, f"values are above the maximum {high}")


def _check_boolean(s: pd.Series, name: str, report: _Report) -> None:
    if pd.api.types.is_bool_dtype(s.dtype):
        return
    if is_numeric(s):
        report.check(True, name, s.notna() & ~s.isin([0, 1]), s, "values are not booleans (0 or 1)")
        return
    if not is_stringish(s):
        report.add(True, name, f"should hold booleans but has dtype {s.dtype}")
        return
    is_bool = s.isin([True, False]) if s.dtype == object else pd.Series(False, index=s.index)
    words = as_strings(s.where(~is_bool)).str.strip().str.lower()
    ok = is_bool | words.isin(_TRUE | _FALSE)
    report.check(True, name, s.notna() & ~ok, s, "values are not booleans (true/false, yes/no, 1/0)")


def _check_datetime(s: pd.Series, name: str, report: _Report) -> None:
    if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(s.dtype):
        return
    if not is_stringish(s):
        report.add(True, name, f"should hold ISO-8601 timestamps but has dtype {s.dtype}")
        return
    report.check(True, name, s.notna() & to_utc_datetime(s).isna(), s, "values are not ISO-8601 timestamps")


def _check_categories(s: pd.Series, name: str, spec: dict[str, Any], strict: bool, report: _Report) -> None:
    allowed = spec.get("categories")
    if allowed is None:
        return
    strings = as_strings(s)
    unseen = strings.notna() & ~strings.isin([str(c) for c in allowed])
    count = int(unseen.sum())
    if not count:
        return
    values = sorted(strings[unseen].unique().tolist())
    shown = ", ".join(repr(v) for v in values[:5])
    if len(values) > 5:
        shown += f" and {len(values) - 5} more"
    if strict:
        report.add(
            True,
            name,
            f"{count} values are not among the declared categories: {shown}; "
            "add them to 'categories' in the project file or fix the data",
        )
    else:
        report.add(False, name, f"{count / len(s):.1%} of rows hold categories not seen before: {shown}")


def validate(
    df: pd.DataFrame, schema: dict[str, Any], *, max_null_rate: float, strict: bool
) -> dict[str, Any]:
    """Check a frame against a schema and list every problem, not just the first.

    Errors (``reasons``): missing columns; new columns when ``strict``; values of the wrong type (with the
    count, an example and its row, counting from 1); non-whole numbers in integer columns; infinities;
    numbers outside ``min``/``max``; a null rate over the column's ``max_null_rate`` (else the source's);
    nulls in a non-nullable column and unseen categories when ``strict``. When not ``strict`` (an inferred
    schema), new columns, nulls in a column that had none and unseen categories are ``warnings``.

    Args:
        df: the data to check.
        schema: ``{"columns": {name: spec}}`` as made by :func:`infer_schema` or :func:`schema_from_declared`.
        max_null_rate: the source's limit on the share of nulls per column, used where a column sets none.
        strict: whether the schema was declared (deviations are errors) or inferred (some are warnings).

    Returns:
        ``{"reasons": [...], "warnings": [...], "checked_rows": len(df)}``.
    """
    report = _Report()
    columns: dict[str, dict[str, Any]] = schema.get("columns", {})
    n = len(df)
    for name, spec in columns.items():
        if name not in df.columns:
            report.add(True, name, f"is missing (the data has: {', '.join(map(str, df.columns))})")
            continue
        s = df[name]
        kind = spec["type"]
        if kind in ("number", "integer"):
            _check_numeric(s, name, spec, report)
        elif kind == "boolean":
            _check_boolean(s, name, report)
        elif kind == "datetime":
            _check_datetime(s, name, report)
        elif kind == "category":
            _check_categories(s, name, spec, strict, report)
        nulls = s.isna()
        if not spec.get("nullable", True):
            report.check(strict, name, nulls, s, "values are null in a column that is not nullable")
        limit = spec.get("max_null_rate")
        limit = max_null_rate if limit is None else float(limit)
        rate = float(nulls.mean()) if n else 0.0
        if rate > limit:
            report.add(True, name, f"{rate:.1%} of values are null, over the limit of {limit:.1%}")
    extra = [str(c) for c in df.columns if c not in columns]
    if extra:
        text = f"new columns not in the schema: {', '.join(extra)}"
        if strict:
            report.reasons.append(text + "; declare them under the source's 'columns' or drop them")
        else:
            report.warnings.append(text)
    return {"reasons": report.reasons, "warnings": report.warnings, "checked_rows": n}
