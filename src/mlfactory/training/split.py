"""Hold-out splits: random (stratified for classification) or by time."""

from __future__ import annotations

import pandas as pd
from sklearn.model_selection import train_test_split

from mlfactory.config import ModelConfig
from mlfactory.errors import ValidationError


def split_frame(df: pd.DataFrame, model: ModelConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split into (train, holdout). A time split holds out the newest ``test_size`` share of rows."""
    if len(df) < 10:
        raise ValidationError(f"only {len(df)} rows to train on; need at least 10")
    if model.split.strategy == "time":
        ts = model.timestamp
        assert ts is not None  # the config validator guarantees it
        if ts not in df.columns:
            raise ValidationError(
                f"timestamp column '{ts}' is not in the dataset (columns: {list(df.columns)})"
            )
        ordered = df.sort_values(ts, kind="stable")
        cut = round(len(ordered) * (1 - model.split.test_size))
        return ordered.iloc[:cut], ordered.iloc[cut:]
    stratify = None
    if model.task == "classification":
        counts = df[model.label].value_counts()
        stratify = df[model.label] if counts.min() >= 2 else None
    train, test = train_test_split(
        df, test_size=model.split.test_size, random_state=model.seed, stratify=stratify
    )
    return train, test
