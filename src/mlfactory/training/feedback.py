"""Labelled production traffic joined to a dataset version for training, each example once.

Traffic that was labelled (feedback) is appended to the source's rows, with three rules so that no example
counts twice and the holdout never meets a row it was trained on:

- a request labelled twice is one row (done where the rows are read, by request id);
- a source that declares a ``key`` identifies its rows by it: the dataset keeps the last row per key, and a
  labelled request whose key is already in the dataset is left out (the source's row wins);
- without a key, a labelled request whose model inputs equal a dataset row's, or an earlier request's, is
  the same example sent again and is left out.

The labels keep the dataset's label type, and every count is returned for the run's lineage.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from mlfactory.config import ModelConfig
from mlfactory.errors import ValidationError

REQUEST_ID = "request_id"


@dataclass(frozen=True)
class FeedbackRows:
    """Labelled traffic shaped like the model's source (its inputs, label, timestamp and ``request_id``),
    with what was left out while reading it (``labelled``, ``duplicate_request_ids``, ``unfit_labels``)."""

    frame: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingRows:
    """The rows a model trains and is evaluated on, the request ids of the labelled traffic among them, and
    how they were put together."""

    frame: pd.DataFrame
    request_ids: list[str]
    counts: dict[str, int]


def _identity(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """One 64-bit hash per row over ``columns`` (nulls compare equal, as duplicates should)."""
    return pd.util.hash_pandas_object(frame[columns].astype(object), index=False)


def _as_time(values: pd.Series, column: str) -> pd.Series:
    try:
        return pd.to_datetime(values, utc=True, format="mixed")
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"timestamp column '{column}' holds values that are not times: {exc}") from None


def merge_feedback(
    dataset: pd.DataFrame, feedback: FeedbackRows | None, model: ModelConfig, key: list[str] | None
) -> TrainingRows:
    """The dataset's rows plus the labelled traffic that is new to it, each example once.

    Args:
        dataset: the dataset version's rows.
        feedback: labelled traffic from the prediction log, or None.
        model: the model being trained (its inputs, label and timestamp).
        key: the source's declared key columns, if any.

    Returns:
        The rows, the request ids of the traffic used, and the counts for lineage.
    """
    rows = len(dataset)
    if key:
        dataset = dataset.drop_duplicates(key, keep="last")
    counts = {"dataset_rows": rows, "dataset_duplicate_keys": rows - len(dataset)}
    extra = feedback.frame if feedback is not None else pd.DataFrame()
    counts.update((feedback.counts if feedback is not None else {}) | {"feedback_rows": 0})
    if extra.empty:
        return TrainingRows(dataset, [], counts)
    identity = key if key and all(k in extra.columns for k in key) else model.features.all()
    repeated = _identity(extra, identity).duplicated(keep="last").to_numpy()
    in_dataset = _identity(extra, identity).isin(set(_identity(dataset, identity))).to_numpy()
    extra = extra[~repeated & ~in_dataset]
    counts |= {
        "feedback_repeated": int(repeated.sum()),
        "feedback_in_dataset": int((in_dataset & ~repeated).sum()),
        "feedback_rows": len(extra),
    }
    label = model.label
    try:
        extra = extra.astype({label: dataset[label].dtype})
    except (ValueError, TypeError) as exc:
        raise ValidationError(
            f"labels of the labelled traffic do not have the dataset's type for '{label}' "
            f"({dataset[label].dtype}): {exc}"
        ) from None
    if model.timestamp and model.timestamp in dataset:
        dataset = dataset.assign(**{model.timestamp: _as_time(dataset[model.timestamp], model.timestamp)})
        extra = extra.assign(**{model.timestamp: _as_time(extra[model.timestamp], model.timestamp)})
    merged = pd.concat(
        [dataset, extra[[c for c in dataset.columns if c in extra.columns]]], ignore_index=True
    )
    return TrainingRows(merged, extra[REQUEST_ID].astype(str).tolist(), counts)
