"""Fitting scikit-learn-compatible estimators declared in the project file."""

from mlfactory.training.fit import build_estimator, fit_model
from mlfactory.training.split import split_frame

__all__ = ["build_estimator", "fit_model", "split_frame"]
