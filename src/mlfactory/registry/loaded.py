"""A loaded model version: checks input against its signature and predicts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlfactory.entities import ModelVersion
from mlfactory.errors import ValidationError

NUMERIC = ("number", "integer", "boolean")


def check_input(frame: pd.DataFrame, signature: dict[str, Any]) -> pd.DataFrame:
    """The frame reduced to the signature's inputs, in order, with types coerced.

    Raises ValidationError listing every problem: missing columns, text in number columns, infinities,
    and values the model cannot take (with the row number of the first offender per column).
    """
    inputs = signature["inputs"]
    missing = [c["name"] for c in inputs if c["name"] not in frame.columns]
    if missing:
        raise ValidationError(
            f"missing input column(s) {missing}; the model takes {[c['name'] for c in inputs]}",
            [f"missing column '{m}'" for m in missing],
        )
    if frame.empty:
        raise ValidationError("no rows to predict; send at least one row")
    reasons: list[str] = []
    out: dict[str, Any] = {}
    numeric = [c["name"] for c in inputs if c["type"] in NUMERIC]
    ready = [n for n in numeric if frame[n].dtype.kind in "biuf"]  # already numbers: one vectorized check
    if ready:
        block = frame[ready].to_numpy(dtype="float64", na_value=np.nan)
        inf = np.isinf(block)
        for j in np.flatnonzero(inf.any(axis=0)):
            reasons.append(
                f"column '{ready[j]}' row {int(np.flatnonzero(inf[:, j])[0])}: infinity is not allowed"
            )
        out.update({n: block[:, j] for j, n in enumerate(ready)})
    for col in inputs:
        name, kind = col["name"], col["type"]
        if name in out:
            continue
        values = frame[name]
        if kind in NUMERIC:
            numbers = pd.to_numeric(values, errors="coerce")
            bad = numbers.isna() & values.notna()
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                reasons.append(f"column '{name}' ({kind}) row {row}: {values.iloc[row]!r} is not a number")
                continue
            finite = numbers.to_numpy(dtype="float64", na_value=np.nan)
            if np.isinf(finite).any():
                reasons.append(
                    f"column '{name}' row {int(np.flatnonzero(np.isinf(finite))[0])}: infinity is not allowed"
                )
                continue
            out[name] = finite
        elif kind == "datetime":
            out[name] = pd.to_datetime(values, utc=True, errors="coerce")
        elif kind == "text":
            out[name] = values.fillna("").astype(str)
        else:
            out[name] = values.astype(object).where(values.notna(), None)
    if reasons:
        raise ValidationError("; ".join(reasons), reasons)
    return pd.DataFrame({c["name"]: out[c["name"]] for c in inputs}, index=frame.index)


@dataclass
class LoadedModel:
    """A model version ready to predict."""

    version: ModelVersion
    estimator: Any

    @property
    def classes(self) -> list[Any] | None:
        classes = getattr(self.estimator, "classes_", None)
        return None if classes is None else [c.item() if isinstance(c, np.generic) else c for c in classes]

    def predict(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        """Predictions and, for classifiers that have them, class probabilities (rows × classes)."""
        x = check_input(frame, self.version.signature)
        pred = self.estimator.predict(x)
        proba = self.estimator.predict_proba(x) if hasattr(self.estimator, "predict_proba") else None
        return pred, proba

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A frame with ``prediction``, ``proba_<class>`` columns and the model version that answered."""
        pred, proba = self.predict(frame)
        out = pd.DataFrame({"prediction": pred}, index=frame.index)
        if proba is not None and self.classes is not None:
            for i, cls in enumerate(self.classes):
                out[f"proba_{cls}"] = proba[:, i]
        out["model_version"] = self.version.ref
        return out
