"""How a model turns checked rows into predictions and class probabilities: the one way batch scoring, the
loaded model and the server (for a model whose predicted class it cannot read off the probabilities, see
:mod:`mlfactory.serving.served`) ask a model for both answers.

Asking a scikit-learn ``Pipeline`` for ``predict`` and then ``predict_proba`` runs every step before the last
twice, and those steps (TF-IDF, one-hot encoding, scaling) are nearly all of the cost of scoring. So the rows
go through the steps once, as ``Pipeline.predict`` takes them (in order, ``None`` and ``"passthrough"`` steps
skipped; ``transform_input`` only routes fit parameters, so prediction never meets it), and the last step
answers both from the one transformed matrix. Both answers still come from the last step's own ``predict``
and ``predict_proba``, never one derived from the other: for some estimators (an SVC's Platt scaling, exact
ties) the predicted class is not the most probable one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline


def _transformed(estimator: Any, x: Any) -> tuple[Any, Any]:
    """The estimator that answers and the rows as it takes them: a pipeline's (nested ones too) last step and
    ``x`` through every step before it; any other estimator and ``x`` unchanged."""
    while isinstance(estimator, Pipeline):
        for _, step in estimator.steps[:-1]:
            if step is not None and step != "passthrough":
                x = step.transform(x)
        estimator = estimator.steps[-1][1]
    return estimator, x


def final_estimator(estimator: Any) -> Any:
    """The estimator that answers: a pipeline's (nested ones too) last step; any other estimator itself."""
    while isinstance(estimator, Pipeline):
        estimator = estimator.steps[-1][1]
    return estimator


def predict_rows(estimator: Any, x: Any, *, proba: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Predictions and, when ``proba`` and the model has them, class probabilities (one column per class, in
    ``classes_`` order), the rows transformed once; the same answers as ``estimator.predict(x)`` and
    ``estimator.predict_proba(x)``."""
    final, xt = _transformed(estimator, x)
    pred = np.asarray(final.predict(xt))
    return pred, (final.predict_proba(xt) if proba and hasattr(final, "predict_proba") else None)
