"""Labelled production traffic as training rows, without letting the model grade its own homework.

A label that was produced from the model's own decision (mail the filter quarantined and nobody reviewed, a
loan it refused so no repayment was ever observed) says nothing new: training on it makes the model
confirm itself. Such labels are sent as feedback with an actor starting with ``auto`` (for example
``auto:quarantine``), and the controller never trains on them.
"""

from __future__ import annotations

import pandas as pd

from mlfactory.config import ModelConfig
from mlfactory.serving import PredictionLog
from mlfactory.stores.metadata import MetadataStore

AUTOMATIC_PREFIX = "auto"
INPUT_PREFIX = "input."


def feedback_training_rows(
    log: PredictionLog, metadata: MetadataStore, name: str, model: ModelConfig
) -> pd.DataFrame:
    """Rows that real users labelled, shaped like the model's source: its inputs, label and timestamp."""
    frame = log.query(model=name)
    if frame.empty:
        return pd.DataFrame()
    frame = frame[frame["route"] != "shadow"].drop_duplicates("request_id", keep="last")
    labels = pd.DataFrame(metadata.get_feedback(frame["request_id"].tolist()))
    if labels.empty:
        return pd.DataFrame()
    human = labels[~labels["actor"].astype(str).str.startswith(AUTOMATIC_PREFIX)]
    rows = frame.merge(human[["request_id", "label"]], on="request_id", how="inner")
    if any(INPUT_PREFIX + c not in rows for c in model.features.all()):
        return pd.DataFrame()  # traffic served before a feature existed cannot train a model that needs it
    out = pd.DataFrame({c: rows[INPUT_PREFIX + c] for c in model.features.all()})
    out[model.label] = rows["label"].to_numpy()
    if model.timestamp:
        out[model.timestamp] = rows["time"].to_numpy()
    return out
