"""A request body as JSON, and the native body's shape: ``{"records": [...]}`` or ``{"columns": {...}}``.

No web code: the server reads the bytes (and bounds them); what the bytes may hold is decided here, so the
SDK and any other client refuse the same bodies with the same messages.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from mlfactory.errors import ValidationError
from mlfactory.inputs.payloads import Columns, Payload, Records


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
