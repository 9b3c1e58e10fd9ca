"""Rows sent as an Arrow IPC stream (``application/vnd.apache.arrow.stream``): typed columns, no JSON.

A 1,000- or 10,000-row JSON body costs the server more to read (one object per row, then per-row values)
than the model costs to answer. An Arrow stream already holds each column as one typed buffer, so it
becomes a :class:`~mlfactory.inputs.payloads.Columns` payload of NumPy arrays and goes through the same
:meth:`~mlfactory.inputs.InputSpec.check` as every other shape: the same types enforced, the same declared
rules, the same errors naming column and row.

The conversion keeps what the check needs to tell apart: numbers stay typed arrays (a null becomes NaN, a
table's missing value, so ``table=True``), except an integer column with nulls, whose values go through as
Python integers and None so that a category column of codes stays ``"3"`` rather than ``"3.0"``; text and
categories are object arrays with None for null (dictionary-encoded columns are decoded); dates and
timestamps are pandas timestamps (a zone-less one is read as UTC, as everywhere). Nested types (lists,
structs, maps) are refused, naming the column.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mlfactory.errors import ValidationError
from mlfactory.inputs.payloads import Columns

if TYPE_CHECKING:
    import pyarrow as pa

ARROW_STREAM = "application/vnd.apache.arrow.stream"


def _table(body: bytes) -> pa.Table:
    import pyarrow as pa

    if not body:
        raise ValidationError("the request body is empty; send an Arrow IPC stream of the rows")
    try:
        with pa.ipc.open_stream(pa.py_buffer(body)) as reader:
            return reader.read_all()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise ValidationError(
            f"the body is not an Arrow IPC stream ({exc}); write the rows with pyarrow.ipc.new_stream "
            f"(the stream format, not the file format) and send them as {ARROW_STREAM}"
        ) from None


def _column(name: str, column: pa.ChunkedArray) -> np.ndarray:
    """One column as the array :meth:`InputSpec.check` reads."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    if pa.types.is_integer(kind) and column.null_count:
        return np.asarray(column.to_pylist(), dtype=object)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        typed = column if not column.null_count else pc.cast(column, pa.float64())
        return np.asarray(typed.to_numpy())
    if pa.types.is_decimal(kind):
        return np.asarray(pc.cast(column, pa.float64()).to_numpy())
    if pa.types.is_date(kind) or pa.types.is_timestamp(kind):
        stamps = column.to_pandas()
        return np.asarray(stamps.astype(object).where(stamps.notna(), None).to_numpy())
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return np.asarray(column.to_numpy(zero_copy_only=False))
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_null(kind):
        return np.asarray(column.to_pylist(), dtype=object)
    raise ValidationError(
        f"column '{name}' is an Arrow {kind} column; send numbers, booleans, text, dates or timestamps "
        "(one value per row)"
    )


def arrow_payload(body: bytes) -> Columns:
    """The rows of an Arrow IPC stream body as columns, or ValidationError saying what is wrong."""
    table = _table(body)
    names = table.column_names
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValidationError(f"the Arrow stream has columns named twice: {dupes}; send each column once")
    data: dict[str, Any] = {n: _column(n, c) for n, c in zip(names, table.columns, strict=True)}
    return Columns(data, table=True)
