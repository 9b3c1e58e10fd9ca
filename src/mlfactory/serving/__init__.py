"""Serving without web code: loading, routing (canary, A/B, shadow), micro-batching, the prediction log."""

from mlfactory.registry.inputs import Batch, Columns, InputSpec, Records, Rows
from mlfactory.serving.feedback import FeedbackResult, read_feedback_file, record_feedback
from mlfactory.serving.policy import (
    RoutingPolicy,
    deploy_ab,
    deploy_canary,
    deploy_clear,
    deploy_shadow,
    deploy_status,
    parse_variants,
)
from mlfactory.serving.predlog import PredictionLog, RequestIds
from mlfactory.serving.runtime import ModelUnavailableError, PredictResult, ServingRuntime
from mlfactory.serving.served import ModelFailedError, ServedVersion

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
