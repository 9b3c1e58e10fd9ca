"""Turning payloads and results into the shapes each protocol speaks (no routing, no I/O)."""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import Request

from mlfactory.errors import ValidationError
from mlfactory.registry.inputs import Payload
from mlfactory.registry.rules import OnInvalid
from mlfactory.server import deps
from mlfactory.serving import Columns, PredictResult, Records


def jsonable(arr: np.ndarray | None) -> Any:
    """An array orjson can write directly (NumPy numbers), or a list (text and mixed labels)."""
    if arr is None:
        return None
    if arr.dtype.kind in "OUS" or arr.dtype.kind == "M":
        return arr.tolist()
    return np.ascontiguousarray(arr)


def input_policy(request: Request, name: str) -> OnInvalid:
    """The model's ``on_invalid_input`` in the served project file (``reject`` for a model it does not
    declare)."""
    model = deps.project(request).config.models.get(name)
    return model.on_invalid_input if model is not None else "reject"


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


def native_answer(result: PredictResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model": result.model,
        "version": result.version,
        "predictions": jsonable(result.predictions),
    }
    if result.probabilities is not None:
        out["probabilities"] = jsonable(result.probabilities)
        out["classes"] = result.classes
    out["versions"] = jsonable(result.versions)
    out["routes"] = result.routes
    out["request_ids"] = result.request_ids
    if result.feature_status is not None:
        out["feature_status"] = result.feature_status
    if result.input_violations is not None:
        out["input_violations"] = result.input_violations
    return out
