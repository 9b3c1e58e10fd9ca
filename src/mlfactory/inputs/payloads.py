"""The shapes a request's rows arrive in, before any check: records, columns or positional rows.

A payload is what a protocol decoded (native JSON, MLflow's formats, V2 tensors, a DataFrame); only
:meth:`mlfactory.inputs.InputSpec.check` decides whether its values fit a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlfactory.inputs.values import NUMERIC

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.inputs.spec import InputSpec


@dataclass(frozen=True)
class Records:
    """Rows as a list of ``{column: value}`` objects."""

    rows: list[Any]


@dataclass(frozen=True)
class Columns:
    """Rows as ``{column: [values]}``."""

    data: dict[str, Any]
    strings_are_numbers: bool = False  # values arrived as text (V2 BYTES) and may be parsed
    table: bool = (
        False  # read from a table (CSV, a DataFrame): NaN is missing, numbers in text columns are text
    )


@dataclass(frozen=True)
class Rows:
    """Rows as lists of values, in the model's feature order (``names`` None) or under ``names``."""

    rows: Any  # list of lists, or a 2-D NumPy array
    names: list[str] | None = None
    strings_are_numbers: bool = False  # values arrived as text (CSV, V2 BYTES) and may be parsed
    table: bool = (
        False  # read from a table (CSV, a DataFrame): NaN is missing, numbers in text columns are text
    )


Payload = Records | Columns | Rows


def payload_rows(payload: Payload) -> int:
    """How many rows a payload holds (before checking it)."""
    if isinstance(payload, Records):
        return len(payload.rows)
    if isinstance(payload, Rows):
        return len(payload.rows)
    first: Any = next(iter(payload.data.values()), [])
    return len(first) if isinstance(first, list | np.ndarray) else 1


def payload_field(payload: Payload, name: str) -> list[Any] | None:
    """The values of a (possibly non-input) field per row, e.g. a routing key; None when absent."""
    if isinstance(payload, Records):
        if not payload.rows or not isinstance(payload.rows[0], dict) or name not in payload.rows[0]:
            return None
        return [r.get(name) if isinstance(r, dict) else None for r in payload.rows]
    if isinstance(payload, Columns):
        values = payload.data.get(name)
        return list(values) if isinstance(values, list | np.ndarray) else None
    if payload.names and name in payload.names:
        j = payload.names.index(name)
        return [r[j] for r in payload.rows]
    return None


def take_payload(payload: Payload, index: np.ndarray) -> Payload:
    """The rows at ``index`` of a payload, in the same shape."""
    picks = index.tolist()
    if isinstance(payload, Records):
        return Records([payload.rows[i] for i in picks])
    if isinstance(payload, Columns):
        return Columns(
            {
                k: v[index]
                if isinstance(v, np.ndarray)
                else [v[i] for i in picks]
                if isinstance(v, list)
                else v
                for k, v in payload.data.items()
            },
            payload.strings_are_numbers,
            payload.table,
        )
    rows = payload.rows[index] if isinstance(payload.rows, np.ndarray) else [payload.rows[i] for i in picks]
    return Rows(rows, payload.names, payload.strings_are_numbers, payload.table)


def frame_payload(frame: pd.DataFrame, spec: InputSpec) -> Columns:
    """A DataFrame's input columns as a payload: numeric dtypes as float64 (missing = NaN), anything else as
    objects (missing = None), and text that holds numbers allowed in number columns."""
    import pandas as pd  # a frame was given, so pandas is loaded already

    data: dict[str, Any] = {}
    for name, kind in zip(spec.names, spec.kinds, strict=True):
        if name not in frame.columns:
            continue
        column = frame[name]
        if kind in NUMERIC and (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)):
            data[name] = column.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            data[name] = column.astype(object).where(column.notna(), None).to_numpy()
    return Columns(data, strings_are_numbers=True, table=True)
