"""Metrics, slices, quality gates and model cards."""

from mlfactory.evaluation.card import model_card
from mlfactory.evaluation.gates import evaluate_gates
from mlfactory.evaluation.metrics import SliceMetrics, aligned_proba, compute_metrics, metrics_by_slice

__all__ = [
    "SliceMetrics",
    "aligned_proba",
    "compute_metrics",
    "evaluate_gates",
    "metrics_by_slice",
    "model_card",
]
