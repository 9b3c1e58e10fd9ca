"""Turning payloads and results into the shapes each protocol speaks (no routing, no I/O)."""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import Request

from mlfactory.inputs import OnInvalid
from mlfactory.server import deps
from mlfactory.serving import PredictResult


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


def native_answer(result: PredictResult) -> dict[str, Any]:
    """A native predict answer: predictions (and probabilities), versions, routes, request ids, and per row
    the feature status and the rules broken when there are any."""
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
