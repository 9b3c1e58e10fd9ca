"""A model's label: its type and classes, and true labels brought to that type wherever they come from.

Labels reach the factory from the source (typed by its schema), from ``POST /v1/feedback`` (JSON), from a
feedback CSV (text) and from the prediction log joined with feedback (widened to floats by pandas). Every
path goes through :meth:`LabelSpec.coerce`, so ``1``, ``1.0``, ``"1"`` and ``True`` become the same class
the model was trained on, and ``"spammy"`` for a 0/1 label is refused with the row that carried it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlfactory.entities import Signature

TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0"})


@dataclass(frozen=True)
class BadLabel:
    """One label that does not fit the model: its position in the batch, its request id and why."""

    row: int
    request_id: str
    value: Any
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "request_id": self.request_id, "label": self.value, "reason": self.reason}


def _integral(value: float) -> int:
    if not math.isfinite(value) or value != int(value):
        raise ValueError("a whole number")
    return int(value)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("a number")
    try:
        out = float(value)
    except ValueError:
        raise ValueError("a number") from None
    if not math.isfinite(out):
        raise ValueError("a finite number")
    return out


def _to_integer(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    return _integral(_number(value))


def _to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    raise ValueError("true or false (or 1/0)")


def _to_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("text")
    if isinstance(value, float):
        return str(_integral(value)) if math.isfinite(value) and value == int(value) else str(value)
    return str(value)


_CONVERTERS = {
    "integer": _to_integer,
    "boolean": _to_boolean,
    "number": _number,
    "category": _to_text,
    "text": _to_text,
}


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True)
class LabelSpec:
    """What a model's true labels are: the task, the label column's type and, for classifiers, its classes.

    Args:
        task: ``classification`` or ``regression``.
        type: the label column's type in the source schema (integer, boolean, number, category, text).
        classes: the classes the model was trained on; a classifier's label must be one of them.
        name: the label column, for messages.
    """

    task: str
    type: str
    classes: tuple[Any, ...] | None = None
    name: str = "label"

    @classmethod
    def from_signature(cls, signature: Signature) -> LabelSpec:
        """The spec stored with a model version (versions registered before ``label_type`` infer it from
        their classes)."""
        classes, task = signature.classes, signature.task
        kind = signature.label_type or _type_of(classes, task)
        return cls(task, kind, tuple(classes) if classes else None, signature.label)

    def convert(self, value: Any) -> Any:
        """One label as the model's type; ValueError saying what was expected when it does not fit."""
        value = _plain(value)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            raise ValueError("the label is missing")
        kind = "number" if self.task == "regression" else self.type
        try:
            out = _CONVERTERS.get(kind, _to_text)(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not {exc} as the {kind} label '{self.name}' needs") from None
        if self.task == "classification" and self.classes is not None and out not in self.classes:
            shown = ", ".join(repr(c) for c in self.classes[:10]) + (" …" if len(self.classes) > 10 else "")
            raise ValueError(f"{value!r} is not one of the model's classes ({shown})")
        return out

    def coerce(self, values: Sequence[Any], request_ids: Sequence[str]) -> tuple[list[Any], list[BadLabel]]:
        """Every label as the model's type: (converted labels, in order, with None where a label is bad;
        the bad ones with their row and reason)."""
        out: list[Any] = []
        bad: list[BadLabel] = []
        for i, (value, rid) in enumerate(zip(values, request_ids, strict=True)):
            try:
                out.append(self.convert(value))
            except ValueError as exc:
                out.append(None)
                bad.append(BadLabel(i, rid, _plain(value), str(exc)))
        return out, bad

    def array(self, values: Sequence[Any]) -> np.ndarray:
        """Already converted labels as a NumPy array of the label's own dtype (int64 stays int64)."""
        kind = "number" if self.task == "regression" else self.type
        dtype = {"integer": np.int64, "boolean": np.bool_, "number": np.float64}.get(kind, object)
        return np.asarray(list(values), dtype=dtype)


def _type_of(classes: Sequence[Any] | None, task: str) -> str:
    if task == "regression":
        return "number"
    first = classes[0] if classes else None
    if isinstance(first, bool):
        return "boolean"
    if isinstance(first, int):
        return "integer"
    if isinstance(first, float):
        return "number"
    return "category"
