"""A request body as JSON, and the native body's shape: ``{"records": [...]}`` or ``{"columns": {...}}``.

No web code: the server reads the bytes (and bounds them); what the bytes may hold is decided here, so the
SDK and any other client refuse the same bodies with the same messages.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import chain
from typing import Any

import msgspec
import numpy as np
import orjson

from mlfactory.errors import ValidationError
from mlfactory.inputs.payloads import Columns, Payload, Records

FLOAT64 = 0xCB  # MessagePack's marker of a float64 (its eight bytes follow, big-endian)
PACKED_FROM = 48  # rows from which writing and reading MessagePack beats making the floats one by one


def parse_json(body: bytes) -> Any:
    """orjson parse with a 400-class error that says where the JSON broke."""
    if not body.strip():
        raise ValidationError("the request body is empty; send a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:  # NaN and Infinity are not JSON, but many encoders write them: let the input checks name them
            parsed = json.loads(body)
        except (ValueError, RecursionError):
            raise ValidationError(f"malformed JSON: {exc}") from None
    # orjson refuses what json accepts besides NaN: escaped lone surrogates ("\ud800"), which are no text at
    # all and would fail later in the online store, the frame builder or the log
    where = unpaired_surrogate(parsed)
    if where is not None:
        raise ValidationError(
            f"malformed JSON: {where} holds an unpaired UTF-16 surrogate (an escape such as \\ud800 without "
            "its pair), which is not text; send valid Unicode"
        )
    return parsed


def unpaired_surrogate(value: Any, path: str = "body") -> str | None:
    """Where in parsed JSON a string (a value or a key) holds a lone surrogate, or None."""
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if not is_text(item):
                return where
        elif isinstance(item, dict):
            for k, v in item.items():
                if isinstance(k, str) and not is_text(k):
                    return f"{where} (a key)"
                stack.append((v, f"{where}.{k}"))
        elif isinstance(item, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item))
    return None


def is_text(text: str) -> bool:
    """Whether a string is text UTF-8 can hold (no unpaired surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def native_payload(body: Any) -> tuple[Payload, Any]:
    """The rows of a native body (``{"records": [...]}`` or ``{"columns": {...}}``) and its routing key."""
    if isinstance(body, list):
        return Records(body), None
    if not isinstance(body, dict):
        raise ValidationError(
            "the body must be a JSON object with 'records' (a list of rows) or 'columns' "
            "(a mapping of column → list of values)"
        )
    given = [k for k in ("records", "columns") if k in body]
    if len(given) != 1:
        raise ValidationError(
            "send exactly one of 'records' (a list of rows) or 'columns' (a mapping of "
            f"column → list of values); got keys {sorted(body)}"
        )
    if given[0] == "records":
        rows = body["records"]
        if isinstance(rows, dict):
            rows = [rows]
        if not isinstance(rows, list):
            raise ValidationError("'records' must be a list of objects (one per row)")
        return Records(rows), body.get("key")
    cols = body["columns"]
    if not isinstance(cols, dict):
        raise ValidationError("'columns' must be an object mapping each column to a list of values")
    return Columns(cols), body.get("key")


class NumericRecords:
    """Native ``{"records": [...], "key": ...}`` bodies of a numeric model decoded into a float64 matrix.

    msgspec parses the body into typed rows (a struct per row holding a number, true/false or null per
    input): no dict per row and no type pass. Turning those 30,000 Python floats (1,000 rows of 30 inputs)
    into a matrix one by one took half as long as the parse itself (1.1 ms of 2.1 ms); instead msgspec
    writes the rows out as MessagePack, where every float is a marker and its eight bytes at a place the
    column names fix, and NumPy copies them all at once (0.4 ms). A body holding true/false or null is laid
    out otherwise and goes through Python, after that 0.3 ms spent writing it. Under ``PACKED_FROM`` rows
    the write costs more than it saves (31 µs instead of 7 µs for one row of 30), so the floats are made one
    by one.

    Args:
        names: the inputs, in feature order.
    """

    def __init__(self, names: Sequence[str]) -> None:
        fields = [f"f{j}" for j in range(len(names))]  # any column name, under a safe field name
        self._row = msgspec.defstruct(
            "Row",
            [(f, float | bool | None) for f in fields],
            rename=dict(zip(fields, names, strict=True)),
            gc=False,  # numbers only: no cycles, and the collector need not track a struct per row
        )
        body = msgspec.defstruct(
            "Body",
            [("records", list[self._row]), ("key", Any, None)],  # type: ignore[name-defined]
            gc=False,
            forbid_unknown_fields=True,  # e.g. "columns" beside "records": the general path refuses it
        )
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(body)
        self._encoder = msgspec.msgpack.Encoder()
        self._width = k = len(names)
        keys = np.array([len(self._encoder.encode(name)) for name in names], dtype=np.intp)
        self._row_bytes = len(self._encoder.encode(self._row(*[0.0] * k)))
        head = self._row_bytes - int(keys.sum()) - 9 * k  # the row's map header
        self._markers = head + np.cumsum(keys + 9) - 9  # where each value starts: after its key
        self._floats = np.dtype(
            {
                "names": fields,
                "formats": [">f8"] * k,
                "offsets": (self._markers + 1).tolist(),
                "itemsize": self._row_bytes,
            }
        )
        self._native = np.dtype([(f, np.float64) for f in fields])
        # the layout is read off msgspec's own output; a probe row of distinct values proves it
        probe = np.arange(1.0, k + 1.0) / 7
        got = self._unpacked([self._row(*probe.tolist())])
        self._packed = got is not None and np.array_equal(got, probe[None, :])

    def decode(self, body: bytes) -> tuple[np.ndarray, Any] | None:
        """The rows as an ``(n, k)`` float matrix in feature order (null as NaN) and the body's key; None
        for any other body (not JSON, no rows, a row missing an input or holding text, other top-level
        fields), which the general path then parses and names."""
        try:
            parsed = self._decoder.decode(body)
        except msgspec.MsgspecError:
            return None
        if not parsed.records:
            return None
        packed = self._packed and len(parsed.records) >= PACKED_FROM
        matrix = self._unpacked(parsed.records) if packed else None
        if matrix is None:
            matrix = self._through_python(parsed.records)
        return matrix, parsed.key

    def _unpacked(self, records: list[Any]) -> np.ndarray | None:
        """The matrix read from the rows' MessagePack, or None unless every value is a float64 (a true,
        false or null is one byte, so the rows are not where floats would put them)."""
        packed = self._encoder.encode(records)
        n = len(records)
        header = 1 if n < 16 else 3 if n < 2**16 else 5  # a MessagePack array's header
        if len(packed) != header + n * self._row_bytes:
            return None
        rows = np.frombuffer(packed, dtype=np.uint8, offset=header).reshape(n, self._row_bytes)
        if not (rows[:, self._markers] == FLOAT64).all():
            return None
        values = np.frombuffer(packed, dtype=self._floats, count=n, offset=header)
        return values.astype(self._native).view(np.float64).reshape(n, self._width)

    def _through_python(self, records: list[Any]) -> np.ndarray:
        """The matrix made value by value, straight into the array until a null (missing) stops it; then
        NumPy takes true/false as 1/0 and null as NaN."""
        values = chain.from_iterable(map(msgspec.structs.astuple, records))
        try:
            flat = np.fromiter(values, dtype=np.float64, count=len(records) * self._width)
        except TypeError:
            flat = np.array(
                list(chain.from_iterable(map(msgspec.structs.astuple, records))), dtype=np.float64
            )
        return flat.reshape(len(records), self._width)
