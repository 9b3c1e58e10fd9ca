"""Feedback: true labels for earlier request ids, checked against the prediction log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from mlfactory.errors import NotFoundError, ValidationError
from mlfactory.registry.labels import BadLabel, LabelSpec
from mlfactory.stores.metadata import MetadataStore
from mlfactory.stores.predictions import PredictionReader

InvalidLabels = Literal["reject", "exclude"]


@dataclass(frozen=True)
class FeedbackResult:
    """What happened to a batch of labels: how many were stored for use, which ids the log does not know,
    and which labels did not fit their model (stored aside, never used, when the model excludes them)."""

    accepted: int
    unknown: list[str] = field(default_factory=list)
    invalid: list[BadLabel] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "unknown": self.unknown,
            "unknown_count": len(self.unknown),
            "invalid": [b.to_dict() for b in self.invalid],
            "invalid_count": len(self.invalid),
        }


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def _checked_pairs(labels: Sequence[tuple[str, Any]]) -> list[tuple[str, Any]]:
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
    return pairs


def label_spec(metadata: MetadataStore, model: str) -> LabelSpec | None:
    """The label type and classes of the model's newest version, which feedback must fit (None for a model
    with no version left to say)."""
    newest = metadata.latest_model_version(model)  # per feedback request: one row, not every profile
    return None if newest is None else LabelSpec.from_signature(newest.signature)


def record_feedback(
    metadata: MetadataStore,
    log: PredictionReader,
    labels: Sequence[tuple[str, Any]],
    *,
    actor: str,
    on_invalid: Mapping[str, InvalidLabels] | None = None,
) -> FeedbackResult:
    """Store labels whose request id is in the prediction log, in their model's label type; report the
    others as unknown.

    A label that does not fit its model (``"spammy"`` for a 0/1 label, a class the model never saw, text
    for a regression) is refused with every such row named, and nothing of the batch is stored, unless the
    model's ``on_invalid_labels`` is ``exclude``: then the fitting labels are stored and the others kept
    aside with the reason, never used for training or monitoring.

    Args:
        metadata: where labels are kept (table ``feedback``).
        log: the prediction log the request ids must come from.
        labels: (request id, true label) pairs; a label may be a number, text or boolean.
        actor: who sent them, for the audit log.
        on_invalid: model name -> ``reject`` (the default) or ``exclude``.
    """
    pairs = _checked_pairs(labels)
    known = log.known_request_ids([rid for rid, _ in pairs])
    by_model: dict[str, list[int]] = {}
    for i, (rid, _) in enumerate(pairs):
        if rid in known:
            by_model.setdefault(known[rid], []).append(i)
    fitted = {model: _fit_labels(metadata, model, pairs, rows) for model, rows in by_model.items()}
    modes = on_invalid or {}
    refused = sorted(
        (b for model, (_, bad) in fitted.items() if modes.get(model, "reject") == "reject" for b in bad),
        key=lambda b: b.row,
    )
    if refused:
        reasons = [f"labels row {b.row} (request {b.request_id}): {b.reason}" for b in refused]
        raise ValidationError(
            f"{len(refused)} label(s) do not fit their model, so none of the {len(pairs)} were stored: "
            f"{reasons[0]}{' …' if len(reasons) > 1 else ''}. Fix those labels and send the batch again, "
            "or set the model's on_invalid_labels: exclude to store the others and keep these aside",
            reasons,
        )
    accepted = sum(
        metadata.add_feedback(good, actor=actor, model=model, problems={b.request_id: b.reason for b in bad})
        for model, (good, bad) in fitted.items()
    )
    unknown = sorted({rid for rid, _ in pairs if rid not in known})
    excluded = sorted((b for _, bad in fitted.values() for b in bad), key=lambda b: b.row)
    return FeedbackResult(accepted, unknown, excluded)


def _fit_labels(
    metadata: MetadataStore, model: str, pairs: list[tuple[str, Any]], rows: list[int]
) -> tuple[list[tuple[str, Any]], list[BadLabel]]:
    """The model's labels among ``pairs`` (positions ``rows``) in its label type, and those that do not fit
    (named by their row in the whole batch; stored as sent)."""
    spec = label_spec(metadata, model)
    if spec is None:
        return [pairs[i] for i in rows], []
    converted, bad = spec.coerce([pairs[i][1] for i in rows], [pairs[i][0] for i in rows])
    good = [
        (pairs[i][0], pairs[i][1] if value is None else value)
        for i, value in zip(rows, converted, strict=True)
    ]
    return good, [BadLabel(rows[b.row], b.request_id, b.value, b.reason) for b in bad]


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
