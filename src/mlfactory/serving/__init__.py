"""Serving without web code: loading, routing (canary, A/B, shadow), micro-batching, feedback.

The prediction log it writes belongs to :mod:`mlfactory.stores.predictions`.
"""

from typing import TYPE_CHECKING

from mlfactory.lazy import lazy_names
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
    from mlfactory.serving.feedback import FeedbackResult, read_feedback_file, record_feedback
    from mlfactory.serving.result import PredictResult
    from mlfactory.serving.runtime import ServingRuntime
    from mlfactory.serving.served import ModelFailedError, ModelUnavailableError, ServedVersion

# these pull in numpy, pandas, pyarrow and duckdb: loaded on first use, so routing commands stay light
_LAZY = {
    "FeedbackResult": "mlfactory.serving.feedback",
    "read_feedback_file": "mlfactory.serving.feedback",
    "record_feedback": "mlfactory.serving.feedback",
    "ModelUnavailableError": "mlfactory.serving.served",
    "PredictResult": "mlfactory.serving.result",
    "ServingRuntime": "mlfactory.serving.runtime",
    "ModelFailedError": "mlfactory.serving.served",
    "ServedVersion": "mlfactory.serving.served",
}


__getattr__ = lazy_names(__name__, _LAZY)


__all__ = [
    "FeedbackResult",
    "ModelFailedError",
    "ModelUnavailableError",
    "PredictResult",
    "RoutingPolicy",
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
