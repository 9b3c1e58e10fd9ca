"""Rows written to a prediction log as the server writes them, for tests that read the log back."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from mlfactory.stores.predictions import PredictionLog


def log_request(
    log: PredictionLog,
    batch: Any,
    predictions: np.ndarray,
    probabilities: np.ndarray | None = None,
    *,
    model: str = "m",
    version: int = 1,
    route: str = "production",
) -> list[str]:
    """Append one request's rows (a checked batch with its answers), stamped now; their request ids."""
    ids = log.ids.make(len(predictions))
    log.append(
        model=model,
        version=version,
        route=route,
        time=time.time(),
        latency_ms=1.0,
        request_ids=ids,
        batch=batch,
        predictions=predictions,
        probabilities=probabilities,
    )
    return ids
