"""XGBoost's classifier for any class labels, as scikit-learn's classifiers take them.

``xgboost.XGBClassifier`` learns only the classes ``0..n-1``: it refuses ``"spam"``/``"ham"`` or
``{1, 2, 5}``, and its ``classes_`` and ``predict`` are always positions. mlfactory's training swaps it for
:class:`LabelledXGBClassifier` when a model's labels are anything else (see
:func:`mlfactory.training.fit.fit_model`), so the model answers, is evaluated, served and logged in the
labels it was trained on. Its booster is XGBoost's own, trained on the labels' positions in ``classes_``;
the labels are kept beside it (the native artifact's manifest holds them, and loading gives them back).

Imported only where XGBoost is in use: it imports ``xgboost``, an optional extra.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from xgboost import XGBClassifier


class LabelledXGBClassifier(XGBClassifier):
    """An ``XGBClassifier`` whose ``classes_`` are the sorted labels it was fitted on (as ``np.unique``
    gives them, the order scikit-learn's classifiers use) and whose ``predict`` answers in those labels;
    ``predict_proba`` has one column per class in that order."""

    labels_: np.ndarray | None = None  # None until fitted: XGBoost's own fit reads classes_ as positions

    def fit(self, X: Any, y: Any, **kwargs: Any) -> LabelledXGBClassifier:
        labels, positions = np.unique(np.asarray(y), return_inverse=True)
        self.labels_ = None
        super().fit(X, positions, **kwargs)
        self.labels_ = labels
        return self

    @property
    def classes_(self) -> np.ndarray:
        return np.arange(self.n_classes_) if self.labels_ is None else self.labels_

    def with_labels(self, labels: np.ndarray) -> LabelledXGBClassifier:
        """This model, answering in ``labels`` (a loaded booster's classes, one per position)."""
        if len(labels) != self.n_classes_:
            raise ValueError(f"{len(labels)} labels for a booster of {self.n_classes_} classes")
        self.labels_ = labels
        return self

    def predict(self, X: Any, **kwargs: Any) -> Any:
        answer = super().predict(X, **kwargs)
        if kwargs.get("output_margin") or self.labels_ is None:  # raw scores are not positions
            return answer
        return self.labels_[answer]


def needs_labels(y: np.ndarray) -> bool:
    """Whether ``XGBClassifier`` would refuse these labels: they are not exactly the classes ``0..n-1``."""
    classes = np.unique(y)
    return not np.array_equal(classes, np.arange(len(classes)))


def labelled(booster: XGBClassifier) -> LabelledXGBClassifier:
    """An unfitted :class:`LabelledXGBClassifier` with the same parameters as ``booster``."""
    return LabelledXGBClassifier(**booster.get_params())
