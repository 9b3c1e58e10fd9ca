"""Labelled production traffic as training rows, without letting the model grade its own homework.

A label that was produced from the model's own decision (mail the filter quarantined and nobody reviewed, a
loan it refused so no repayment was ever observed) says nothing new: training on it makes the model
confirm itself. Such labels are sent as feedback with a source starting with ``auto`` (for example
``auto:quarantine``), and the controller never trains on them.
"""

from __future__ import annotations

import pandas as pd

from mlfactory.config import ModelConfig
from mlfactory.serving import PredictionLog
from mlfactory.serving.predlog import INPUT_PREFIX
from mlfactory.stores.metadata import MetadataStore

AUTOMATIC_PREFIX = "auto"


def feedback_training_rows(
    log: PredictionLog, metadata: MetadataStore, name: str, model: ModelConfig
) -> pd.DataFrame:
    """Rows that real users labelled, shaped like the model's source: its inputs, label and timestamp."""
    frame = log.with_feedback(metadata, model=name)
    if frame.empty or any(INPUT_PREFIX + c not in frame for c in model.features.all()):
        return pd.DataFrame()  # traffic served before a feature existed cannot train a model that needs it
    human = frame["label"].notna() & ~frame["label_source"].astype(str).str.startswith(AUTOMATIC_PREFIX)
    rows = frame[human & (frame["route"] != "shadow")].drop_duplicates("request_id", keep="last")
    out = pd.DataFrame({c: rows[INPUT_PREFIX + c].to_numpy() for c in model.features.all()})
    out[model.label] = rows["label"].to_numpy()
    if model.timestamp:
        out[model.timestamp] = rows["time"].to_numpy()
    return out
