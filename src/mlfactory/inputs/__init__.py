"""What a request or a frame may contain, checked once for the server, the SDK and batch scoring.

A request carries rows as records (``[{col: value}, …]``), columns (``{col: [values]}``) or positional rows
(``[[v1, v2, …]]`` in feature order or under given column names). :class:`InputSpec` turns any of them into a
:class:`Batch` of typed NumPy columns, or raises :class:`~mlfactory.errors.ValidationError` naming the column,
the row (counted from 0) and what was received. Extra columns are ignored, as in batch scoring.

Types are always enforced: a number column takes numbers (NaN and infinity are refused; null is a missing
value), an integer column whole numbers, a boolean column true/false or 1/0, a category or text column text.
Values read from a table (CSV, a DataFrame: ``table=True``) are looser where tables are: NaN is their missing
value, and numbers in a text column are text. The rules the project file declares for a column (bounds,
categories, not nullable; see :mod:`mlfactory.inputs.rules`) are then either enforced (``reject``) or
reported per row on the :class:`Batch` (``flag``).

Modules: :mod:`~mlfactory.inputs.payloads` (the shapes rows arrive in), :mod:`~mlfactory.inputs.requests`
(JSON bodies and the native body's shape), :mod:`~mlfactory.inputs.values` (one column's values to a typed
array), :mod:`~mlfactory.inputs.rules` (declared rules), :mod:`~mlfactory.inputs.spec` (a model's inputs),
:mod:`~mlfactory.inputs.batch` (checked rows), :mod:`~mlfactory.inputs.arrow` (rows sent as an Arrow
stream). This package sits on the bottom floor: it imports only ``entities``, ``errors`` and third-party
libraries (pandas only when a frame or a category list needs it).
"""

from mlfactory.inputs.arrow import ARROW_STREAM, arrow_payload
from mlfactory.inputs.batch import Batch
from mlfactory.inputs.payloads import (
    Columns,
    Payload,
    Records,
    Rows,
    frame_payload,
    payload_field,
    payload_rows,
    take_payload,
)
from mlfactory.inputs.requests import native_payload, parse_json
from mlfactory.inputs.rules import ON_INVALID, OnInvalid, signature_inputs
from mlfactory.inputs.spec import InputSpec
from mlfactory.inputs.values import NUMERIC

__all__ = [
    "ARROW_STREAM",
    "NUMERIC",
    "ON_INVALID",
    "Batch",
    "Columns",
    "InputSpec",
    "OnInvalid",
    "Payload",
    "Records",
    "Rows",
    "arrow_payload",
    "frame_payload",
    "native_payload",
    "parse_json",
    "payload_field",
    "payload_rows",
    "signature_inputs",
    "take_payload",
]
