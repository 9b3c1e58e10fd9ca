"""Feedback: true labels for earlier request ids, checked against the prediction log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlfactory.errors import NotFoundError, ValidationError
from mlfactory.serving.predlog import PredictionLog
from mlfactory.stores.metadata import MetadataStore


@dataclass(frozen=True)
class FeedbackResult:
    """What happened to a batch of labels: how many were stored, and which ids the log does not know."""

    accepted: int
    unknown: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "unknown": self.unknown, "unknown_count": len(self.unknown)}


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def record_feedback(
    metadata: MetadataStore, log: PredictionLog, labels: Sequence[tuple[str, Any]], *, actor: str
) -> FeedbackResult:
    """Store labels whose request id is in the prediction log; report the others as unknown.

    Args:
        metadata: where labels are kept (table ``feedback``).
        log: the prediction log the request ids must come from.
        labels: (request id, true label) pairs; a label may be a number, text or boolean.
        actor: who sent them, for the audit log.
    """
    if not labels:
        raise ValidationError("no labels given; send rows of request_id and label")
    pairs = []
    for i, (rid, label) in enumerate(labels):
        if not isinstance(rid, str) or not rid:
            raise ValidationError(f"row {i}: request_id must be non-empty text, got {rid!r}")
        label = _plain(label)
        if label is None or (isinstance(label, float) and np.isnan(label)):
            raise ValidationError(f"row {i} (request {rid}): the label is missing")
        if not isinstance(label, str | int | float | bool):
            raise ValidationError(f"row {i} (request {rid}): a label must be a number, text or boolean")
        pairs.append((rid, label))
    known = log.known_request_ids([rid for rid, _ in pairs])
    by_model: dict[str, list[tuple[str, Any]]] = {}
    for rid, label in pairs:
        if rid in known:
            by_model.setdefault(known[rid], []).append((rid, label))
    accepted = sum(
        metadata.add_feedback(group, actor=actor, model=model) for model, group in by_model.items()
    )
    unknown = sorted({rid for rid, _ in pairs if rid not in known})
    return FeedbackResult(accepted, unknown)


def read_feedback_file(path: Path) -> list[tuple[str, Any]]:
    """(request_id, label) pairs from a CSV or Parquet file with those two columns."""
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"feedback file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif suffix == ".csv":
            frame = pd.read_csv(path, dtype={"request_id": str})
        else:
            raise ValidationError(f"feedback file {path} must end in .csv or .parquet")
    except (ValueError, OSError) as exc:
        if isinstance(exc, ValidationError):
            raise
        raise ValidationError(f"cannot read {path}: {exc}") from None
    missing = [c for c in ("request_id", "label") if c not in frame.columns]
    if missing:
        raise ValidationError(
            f"{path} lacks column(s) {missing}; it needs request_id and label (it has {list(frame.columns)})"
        )
    return list(zip(frame["request_id"].astype(str).tolist(), frame["label"].tolist(), strict=True))
