"""Fitting scikit-learn-compatible estimators declared in the project file."""

from mlfactory.training.feedback import FeedbackRows, TrainingRows, merge_feedback
from mlfactory.training.fit import build_estimator, fit_model
from mlfactory.training.split import split_frame

__all__ = [
    "FeedbackRows",
    "TrainingRows",
    "build_estimator",
    "fit_model",
    "merge_feedback",
    "split_frame",
]
