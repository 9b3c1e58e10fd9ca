"""A loaded model version: checks input against its signature (the same checks as the server) and predicts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlfactory.entities import ModelVersion
from mlfactory.estimators.predicting import predict_rows
from mlfactory.inputs import Batch, InputSpec, OnInvalid, frame_payload


@dataclass
class LoadedModel:
    """A model version ready to predict."""

    version: ModelVersion
    estimator: Any
    spec: InputSpec = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.spec = InputSpec(self.version.signature)  # missing numbers pass: the model decides on them

    def rows(self, frame: pd.DataFrame, *, on_invalid: OnInvalid = "reject") -> Batch:
        """The frame's inputs checked against the signature; ValidationError naming every bad column and row.

        Numbers held as text are read as numbers (files often hold them so); extra columns are ignored.
        ``on_invalid="flag"`` keeps rows that break a declared rule (see :meth:`InputSpec.check`).
        """
        return self.spec.check(frame_payload(frame, self.spec), on_invalid=on_invalid)

    @property
    def classes(self) -> list[Any] | None:
        classes = getattr(self.estimator, "classes_", None)
        return None if classes is None else [c.item() if isinstance(c, np.generic) else c for c in classes]

    def predict(
        self, frame: pd.DataFrame, *, on_invalid: OnInvalid = "reject"
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Predictions and, for classifiers that have them, class probabilities (one column per class), the
        rows transformed once for both (see :mod:`mlfactory.estimators.predicting`)."""
        return predict_rows(self.estimator, self.rows(frame, on_invalid=on_invalid).frame())

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A frame with ``prediction``, ``proba_<class>`` columns and the model version that answered."""
        pred, proba = self.predict(frame)
        out = pd.DataFrame({"prediction": pred}, index=frame.index)
        if proba is not None and self.classes is not None:
            for i, cls in enumerate(self.classes):
                out[f"proba_{cls}"] = proba[:, i]
        out["model_version"] = self.version.ref
        return out
