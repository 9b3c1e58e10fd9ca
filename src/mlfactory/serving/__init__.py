"""Serving without web code: loading, routing (canary, A/B, shadow), micro-batching, the prediction log."""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from mlfactory.serving.policy import (
    RoutingPolicy,
    deploy_ab,
    deploy_canary,
    deploy_clear,
    deploy_shadow,
    deploy_status,
    parse_variants,
)

if TYPE_CHECKING:
    from mlfactory.registry.inputs import Batch, Columns, InputSpec, Records, Rows
    from mlfactory.serving.feedback import FeedbackResult, read_feedback_file, record_feedback
    from mlfactory.serving.predlog import PredictionLog, RequestIds
    from mlfactory.serving.runtime import ModelUnavailableError, PredictResult, ServingRuntime
    from mlfactory.serving.served import ModelFailedError, ServedVersion

# these pull in numpy, pandas, pyarrow and duckdb: loaded on first use, so routing commands stay light
_LAZY = {
    "Batch": "mlfactory.registry.inputs",
    "Columns": "mlfactory.registry.inputs",
    "InputSpec": "mlfactory.registry.inputs",
    "Records": "mlfactory.registry.inputs",
    "Rows": "mlfactory.registry.inputs",
    "FeedbackResult": "mlfactory.serving.feedback",
    "read_feedback_file": "mlfactory.serving.feedback",
    "record_feedback": "mlfactory.serving.feedback",
    "PredictionLog": "mlfactory.serving.predlog",
    "RequestIds": "mlfactory.serving.predlog",
    "ModelUnavailableError": "mlfactory.serving.runtime",
    "PredictResult": "mlfactory.serving.runtime",
    "ServingRuntime": "mlfactory.serving.runtime",
    "ModelFailedError": "mlfactory.serving.served",
    "ServedVersion": "mlfactory.serving.served",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_LAZY[name]), name)


__all__ = [
    "Batch",
    "Columns",
    "FeedbackResult",
    "InputSpec",
    "ModelFailedError",
    "ModelUnavailableError",
    "PredictResult",
    "PredictionLog",
    "Records",
    "RequestIds",
    "RoutingPolicy",
    "Rows",
    "ServedVersion",
    "ServingRuntime",
    "deploy_ab",
    "deploy_canary",
    "deploy_clear",
    "deploy_shadow",
    "deploy_status",
    "parse_variants",
    "read_feedback_file",
    "record_feedback",
]
