"""One input column's values turned into a typed NumPy array, or the reason they cannot be.

Numbers become float64 (null is NaN, a missing value), categories and text become objects, date-times
become UTC timestamps. Every reason names the column, its type, the row (counted from 0) and what was sent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

NUMERIC = ("number", "integer", "boolean")
NUMBER_KINDS = "iufb"  # NumPy dtype kinds a number column takes as they are


def kind_name(value: Any) -> str:
    """What a value is, as a message names it (``text``, ``an object``, ``a list``, ``int``)."""
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def show(value: Any) -> str:
    """A value as a message quotes it, cut to 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _label_kind(v: Any) -> str:
    """How a value that is no text is named in a text column's error."""
    if isinstance(v, int | float | np.number) and not isinstance(v, bool):
        return f"{show(v)} (a number)"
    return show(v) if isinstance(v, bool) else kind_name(v)


@dataclass(frozen=True)
class ColumnType:
    """One input column: its name, its signature type, and whether the model takes missing numbers."""

    name: str
    kind: str
    allow_nan: bool = True

    def missing_reason(self, i: int) -> str:
        return (
            f"column '{self.name}' ({self.kind}) row {i}: missing value (null or NaN), which this "
            "model cannot take; send a number"
        )

    def nan_reason(self, i: int) -> str:
        fix = "send a number, or null for a missing value" if self.allow_nan else "send a number"
        return f"column '{self.name}' ({self.kind}) row {i}: NaN is not a number; {fix}"

    def inf_reason(self, i: int) -> str:
        return f"column '{self.name}' row {i}: infinity is not allowed; send a finite number"

    def numbers(
        self, values: Sequence[Any], strings: bool, table: bool
    ) -> tuple[np.ndarray | None, str | None]:
        """The column as float64 (missing: NaN), or why not.

        Args:
            values: the column as sent (Python values, or a NumPy array).
            strings: numbers may arrive as text (CSV, V2 BYTES) and are parsed.
            table: read from a table, where NaN is the missing value rather than a value sent.
        """
        arr = values if isinstance(values, np.ndarray) else None
        # NaN in a typed array is its missing value; among Python values (JSON) null is, and NaN was sent
        explicit = not table and (arr is None or arr.dtype == object)
        if arr is None:
            try:
                arr = np.array(values)
            except (ValueError, TypeError):
                arr = None
        if arr is not None and arr.ndim == 1 and arr.dtype.kind in NUMBER_KINDS:
            out: np.ndarray = arr.astype(np.float64, copy=False)
        else:
            each, why = self._each_number(values, strings, explicit)
            if each is None:
                return None, why
            out = each
        if not np.isfinite(out).all():
            inf_rows = np.flatnonzero(np.isinf(out))
            if len(inf_rows):
                return None, self.inf_reason(int(inf_rows[0]))
            if explicit and arr is not None and arr.dtype.kind in NUMBER_KINDS:
                return None, self.nan_reason(int(np.flatnonzero(np.isnan(out))[0]))
            if not self.allow_nan:
                return None, self.missing_reason(int(np.flatnonzero(np.isnan(out))[0]))
        return out, None

    def _each_number(
        self, values: Sequence[Any], strings: bool, explicit: bool
    ) -> tuple[np.ndarray | None, str | None]:
        """Mixed Python values one by one, naming the first that is no number."""
        out = np.empty(len(values), dtype=np.float64)
        for i, v in enumerate(values):
            if v is None:
                out[i] = math.nan
                continue
            if isinstance(v, bool | int | float | np.number):
                out[i] = float(v)
            elif strings and isinstance(v, str | bytes):
                try:
                    out[i] = float(v)
                except ValueError:
                    return None, f"column '{self.name}' ({self.kind}) row {i}: {show(v)} is not a number"
            else:
                what = f"{show(v)} ({kind_name(v)})" if isinstance(v, str) else kind_name(v)
                return None, f"column '{self.name}' ({self.kind}) row {i}: got {what}; send a number"
            if explicit and out[i] != out[i]:  # a NaN sent as a value ('nan' as text is one too)
                return None, self.nan_reason(i)
        return out, None

    def labels(
        self, values: Sequence[Any], table: bool
    ) -> tuple[np.ndarray | None, str | None, np.ndarray | None]:
        """The column as text (None for a missing category, empty for missing text), why not, and which rows
        were missing (None: none)."""
        items = values.tolist() if isinstance(values, np.ndarray) else values
        out = np.empty(len(items), dtype=object)
        if all(type(v) is str for v in items):
            out[:] = list(items)
            return out, None, None
        nulls = None
        for i, v in enumerate(items):
            if v is None or (table and isinstance(v, float) and math.isnan(v)):
                out[i] = "" if self.kind == "text" else None
                if nulls is None:
                    nulls = np.zeros(len(items), dtype=bool)
                nulls[i] = True
            elif isinstance(v, str):
                out[i] = v
            elif isinstance(v, bytes):
                out[i] = v.decode("utf-8", errors="replace")
            elif table and isinstance(v, bool | int | float | np.number):
                out[i] = str(v)  # a table reader made numbers of this column's text
            else:
                why = f"column '{self.name}' ({self.kind}) row {i}: got {_label_kind(v)}; send text"
                return None, why, None
        return out, None, nulls

    def dates(self, values: Sequence[Any]) -> tuple[np.ndarray | None, str | None]:
        """The column as UTC timestamps, or why not."""
        import pandas as pd  # only date-time columns need it

        series = pd.Series(list(values), dtype=object)
        # a number is no date-time here (an epoch's unit is a guess); anything else is read as ISO 8601 value
        # by value, so rows spelled differently (an offset, "Z", none) all parse: without a format, pandas
        # takes the first value's spelling for the whole column and refuses valid rows written another way
        numbers = series.map(lambda v: isinstance(v, bool | int | float | np.number)).to_numpy(dtype=bool)
        parsed = pd.to_datetime(series.mask(numbers), utc=True, errors="coerce", format="ISO8601")
        bad = parsed.isna().to_numpy() & pd.notna(series).to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            return None, f"column '{self.name}' (datetime) row {i}: {show(values[i])} is not a date-time"
        return parsed.to_numpy(), None
