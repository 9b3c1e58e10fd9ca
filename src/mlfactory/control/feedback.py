"""Labelled production traffic as training rows, without letting the model grade its own homework.

A label that was produced from the model's own decision (mail the filter quarantined and nobody reviewed, a
loan it refused so no repayment was ever observed) says nothing new: training on it makes the model
confirm itself. Such labels are sent as feedback with a source starting with ``auto`` (for example
``auto:quarantine``), and the controller never trains on them.

Every label is brought to the model's label type (a 0/1 label stays an integer whatever path it came
through), labels that do not fit are left out and counted, and a request labelled twice is one row.
"""

from __future__ import annotations

import pandas as pd

from mlfactory.config import ModelConfig
from mlfactory.serving.feedback import label_spec
from mlfactory.stores.metadata import MetadataStore
from mlfactory.stores.predictions import INPUT_PREFIX, PredictionReader
from mlfactory.training import FeedbackRows
from mlfactory.training.feedback import REQUEST_ID

AUTOMATIC_PREFIX = "auto"


def feedback_training_rows(
    log: PredictionReader, metadata: MetadataStore, name: str, model: ModelConfig
) -> FeedbackRows:
    """Rows that real users labelled, shaped like the model's source: its inputs, label and timestamp."""
    frame = log.with_feedback(metadata, model=name)
    if frame.empty or any(INPUT_PREFIX + c not in frame for c in model.features.all()):
        return FeedbackRows(
            pd.DataFrame()
        )  # traffic before a feature existed cannot train a model needing it
    human = frame["label"].notna() & ~frame["label_source"].astype(str).str.startswith(AUTOMATIC_PREFIX)
    labelled = frame[human & (frame["route"] != "shadow")]
    rows = labelled.drop_duplicates(REQUEST_ID, keep="last")
    spec = label_spec(metadata, name)
    if spec is None:  # no version to train against: nothing to add
        return FeedbackRows(pd.DataFrame())
    labels, bad = spec.coerce(rows["label"].tolist(), rows[REQUEST_ID].tolist())
    keep = [i for i, v in enumerate(labels) if v is not None]
    rows = rows.iloc[keep]
    out = pd.DataFrame({c: rows[INPUT_PREFIX + c].to_numpy() for c in model.features.all()})
    out[model.label] = spec.array([labels[i] for i in keep])
    if model.timestamp:
        out[model.timestamp] = rows["time"].to_numpy()
    out[REQUEST_ID] = rows[REQUEST_ID].to_numpy()
    counts = {
        "labelled": len(labelled),
        "duplicate_request_ids": len(labelled) - len(rows) - len(bad),
        "unfit_labels": len(bad),
    }
    return FeedbackRows(out, counts)
