"""Shared pieces of the project-file models: strictness, durations, sizes, metric names."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

PROJECT_FILE = "mlfactory.yaml"
ENV_PREFIX = "MLFACTORY_"

ColumnType = Literal["number", "integer", "boolean", "category", "text", "datetime"]
CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS = ("mae", "rmse", "r2")
LOWER_IS_BETTER = frozenset({"log_loss", "mae", "rmse"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | float) -> float:
    """Seconds in a duration like ``90s``, ``15m``, ``1h``, ``30d`` or ``2w`` (a bare number is seconds)."""
    if isinstance(text, int | float):
        return float(text)
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"'{text}' is not a duration; write a number and a unit: 90s, 15m, 1h, 30d or 2w")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


Duration = Annotated[float, BeforeValidator(parse_duration)]


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?I?B)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes in a size like ``2GB``, ``512MB`` or ``1GiB`` (the units DuckDB's memory limit takes)."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"'{text}' is not a size; write a number and a unit: 512MB, 2GB or 1GiB")
    unit = (match.group(2) or "B").upper()
    power = 0 if unit == "B" else " KMGT".index(unit[0])
    return int(float(match.group(1)) * (1024 if "I" in unit else 1000) ** power)


def _size(text: str) -> str:
    parse_size(text)
    return text


MemorySize = Annotated[str, AfterValidator(_size)]
