"""What training stores for monitoring: references of inputs, outputs and label, and the calibration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlfactory.data.profile import build_reference, column_reference
from mlfactory.monitoring.calibration import build_calibration


def training_reference(
    train: pd.DataFrame,
    types: Mapping[str, str],
    *,
    task: str,
    label: str,
    holdout_labels: Any,
    predictions: Any,
    probabilities: np.ndarray | None,
    classes: Sequence[Any] | None,
    max_ece: float = 0.05,
) -> dict[str, Any]:
    """The monitoring reference of a model version (stored as ``profile["monitoring"]``).

    Args:
        train: the training rows (inputs and label).
        types: input column → declared type.
        task: ``classification`` or ``regression``.
        label: the label column.
        holdout_labels: true labels of the holdout.
        predictions: the model's predictions on the holdout (the reference for prediction drift).
        probabilities: the model's class probabilities on the holdout, or None.
        classes: the model's classes (classifiers).
        max_ece: the calibration error above which the calibration check warns.
    """
    ref = build_reference(train, types)
    kind = "category" if task == "classification" else "number"
    ref["outputs"] = {"prediction": column_reference(pd.Series(predictions), kind)}
    if probabilities is not None:
        ref["outputs"]["score"] = column_reference(pd.Series(np.asarray(probabilities).max(axis=1)), "number")
    ref["label"] = column_reference(train[label], kind) if label in train.columns else None
    ref["calibration"] = None
    if task == "classification" and probabilities is not None and classes:
        calibration = build_calibration(holdout_labels, probabilities, classes, max_ece)
        ref["calibration"] = calibration.to_json() if calibration is not None else None
    return ref
