"""The rules a project file declares for a model's input columns, recorded in its signature and enforced when
serving.

A version's signature lists, per input, the checks the source's declared schema sets for that column:
``min`` and ``max`` (numbers and integers, inclusive), ``categories`` (the allowed values, compared as text)
and ``nullable: false``. Only declared rules are recorded: a schema inferred from the data has category lists
too, and enforcing those would refuse the new categories that drift monitoring exists to see. The meaning of
each rule is the one ingestion gives it (:mod:`mlfactory.data.schema`): bounds are inclusive, categories are
compared as text, and a missing value never breaks a bound or a category list, only ``nullable: false``.

Signatures made before rules existed carry none, and their inputs are checked for type only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from mlfactory.entities import DatasetVersion, InputColumn
from mlfactory.errors import ValidationError
from mlfactory.inputs.batch import Batch
from mlfactory.inputs.values import NUMERIC

OnInvalid = Literal["reject", "flag"]
ON_INVALID: tuple[str, ...] = ("reject", "flag")
RANGED = ("number", "integer")
LABELLED = ("category", "text")
_SHOWN_ROWS = 5
_NOT_NULLABLE = "missing, but the column is declared not nullable"


def signature_inputs(types: Mapping[str, str], dataset: DatasetVersion) -> list[dict[str, Any]]:
    """A signature's ``inputs``: each column's name and type, plus the rules its source declares for it.

    Args:
        types: the model's input columns and their types, in feature order.
        dataset: the dataset version the model was trained on; its schema holds the declared rules when it
            came from the project file (``validation["schema_origin"] == "declared"``).

    Returns:
        ``[{"name", "type", ("min", "max", "categories", "nullable")}, ...]``, rules only where declared and
        meaningful for the column's type (bounds for numbers, categories for categories and text).
    """
    declared = dataset.validation.get("schema_origin") == "declared"
    columns: dict[str, Any] = dataset.schema.get("columns", {}) if declared else {}
    out: list[dict[str, Any]] = []
    for name, kind in types.items():
        entry: dict[str, Any] = {"name": name, "type": kind}
        spec = columns.get(name) or {}
        if kind in RANGED and spec.get("type") in RANGED:
            for key in ("min", "max"):
                if spec.get(key) is not None:
                    entry[key] = float(spec[key])
        if kind in LABELLED and spec.get("type") == "category" and spec.get("categories") is not None:
            entry["categories"] = [str(c) for c in spec["categories"]]
        if spec and spec.get("nullable", True) is False:
            entry["nullable"] = False
        out.append(entry)
    return out


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def show_value(value: Any) -> str:
    """A value as a message quotes it: whole floats without ``.0``, long text cut to 40 characters."""
    value = value.item() if isinstance(value, np.generic) else value
    if isinstance(value, float):
        return _number(value)
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def rows_text(rows: np.ndarray) -> str:
    """``row 3`` or ``rows 3, 8 and 12 more`` for row indices (counted from 0)."""
    shown = ", ".join(str(int(i)) for i in rows[:_SHOWN_ROWS])
    if len(rows) == 1:
        return f"row {shown}"
    more = f" and {len(rows) - _SHOWN_ROWS} more" if len(rows) > _SHOWN_ROWS else ""
    return f"rows {shown}{more}"


@dataclass(frozen=True)
class ColumnRules:
    """The declared rules of one input column (None: not declared)."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    categories: tuple[str, ...] | None = None
    nullable: bool = True

    @staticmethod
    def from_input(column: InputColumn) -> ColumnRules | None:
        """The rules of one signature input, or None when it declares none (rules that do not apply to its
        type are dropped: bounds are for numbers, categories for categories and text)."""
        low, high, cats = column.min, column.max, column.categories
        if low is None and high is None and cats is None and column.nullable:
            return None
        ranged = column.type in RANGED
        return ColumnRules(
            name=column.name,
            kind=column.type,
            low=low if ranged else None,
            high=high if ranged else None,
            categories=cats if column.type in LABELLED else None,
            nullable=column.nullable,
        )

    def broken(self, values: np.ndarray, missing: np.ndarray | None) -> list[tuple[np.ndarray, str, str]]:
        """Each rule some values break: (mask of rows, why per row, why for the column), vectorized.

        Args:
            values: the column after type checks (float64 for numbers, objects for labels).
            missing: which rows are missing values (None: none are).
        """
        out: list[tuple[np.ndarray, str, str]] = []
        if not self.nullable and missing is not None and missing.any():
            out.append((missing, _NOT_NULLABLE, _NOT_NULLABLE))
        if self.low is not None:
            below = values < self.low  # NaN (missing) compares False
            if below.any():
                bound = _number(self.low)
                out.append(
                    (below, f"below the declared minimum {bound}", f"is below the declared minimum {bound}")
                )
        if self.high is not None:
            above = values > self.high
            if above.any():
                bound = _number(self.high)
                out.append(
                    (above, f"above the declared maximum {bound}", f"is above the declared maximum {bound}")
                )
        if self.categories is not None:
            import pandas as pd  # only category lists need it

            series = pd.Series(values, dtype=object, copy=False)
            unseen = ~series.isin(self.categories).to_numpy() & series.notna().to_numpy()
            if self.kind == "text":
                unseen &= values != ""  # a missing text arrives as empty; only nullable speaks about it
            if unseen.any():
                allowed = ", ".join(self.categories[:10]) + (" …" if len(self.categories) > 10 else "")
                out.append(
                    (
                        unseen,
                        "not among the declared categories",
                        f"is not among the declared categories ({allowed})",
                    )
                )
        return out


def column_reasons(
    rules: ColumnRules, values: np.ndarray, broken: list[tuple[np.ndarray, str, str]]
) -> list[str]:
    """One error per broken rule, naming the column, the rows and the first value."""
    reasons = []
    for mask, _, why in broken:
        rows = np.flatnonzero(mask)
        if why == _NOT_NULLABLE:
            reasons.append(f"column '{rules.name}' {rows_text(rows)}: {why}")
        else:
            reasons.append(
                f"column '{rules.name}' {rows_text(rows)}: {show_value(values[int(rows[0])])} {why}"
            )
    return reasons


def row_notes(
    rules: ColumnRules, values: np.ndarray, broken: list[tuple[np.ndarray, str, str]]
) -> dict[int, list[str]]:
    """Per flagged row, what it broke in this column (``n_links: 600 above the declared maximum 500``)."""
    notes: dict[int, list[str]] = {}
    for mask, why, _ in broken:
        for i in np.flatnonzero(mask).tolist():
            text = (
                f"{rules.name}: {why}"
                if why == _NOT_NULLABLE
                else f"{rules.name}: {show_value(values[i])} {why}"
            )
            notes.setdefault(i, []).append(text)
    return notes


class CompiledRules:
    """A model's declared rules, compiled once at load to check batches quickly.

    Args:
        names: the model's inputs, in feature order.
        kinds: their signature types.
        rules: (input index, rules) for every input that declares some.
    """

    def __init__(
        self, names: list[str], kinds: list[str], rules: tuple[tuple[int, ColumnRules], ...]
    ) -> None:
        self.names = names
        self.kinds = kinds
        self.rules = rules
        # a numeric model whose rules are all bounds checks valid rows in one pass over its matrix
        self._bounds_only = all(k in NUMERIC for k in kinds) and all(
            r.categories is None and r.nullable for _, r in rules
        )
        bounded = dict(rules)
        self._ranged: np.ndarray | None = np.array(sorted(bounded), dtype=np.intp)
        if 2 * len(bounded) >= len(names):  # comparing every column beats gathering the bounded ones
            self._ranged = None
        picked = range(len(names)) if self._ranged is None else self._ranged.tolist()
        lows = [bounded[j].low if j in bounded else None for j in picked]
        highs = [bounded[j].high if j in bounded else None for j in picked]
        self._lows = np.array([-np.inf if v is None else v for v in lows], dtype=np.float64)
        self._highs = np.array([np.inf if v is None else v for v in highs], dtype=np.float64)

    def _all_within_bounds(self, batch: Batch) -> bool:
        m = batch.matrix
        if m is None or not self._bounds_only:
            return False
        sub = m if self._ranged is None else m[:, self._ranged]
        bad = sub < self._lows
        bad |= sub > self._highs
        return not bool(bad.any())

    def _missing(self, batch: Batch, j: int) -> np.ndarray | None:
        """Which rows miss input ``j`` (None: none can, as far as its rules care)."""
        kind = self.kinds[j]
        values = batch.columns[self.names[j]]
        if kind in NUMERIC:
            nan: np.ndarray = np.isnan(values)
            return nan
        if kind == "text":
            return (batch.nulls or {}).get(self.names[j])
        import pandas as pd  # category and date-time columns

        return pd.isna(values)  # type: ignore[no-any-return]

    def apply(self, batch: Batch, on_invalid: OnInvalid) -> None:
        """Check the declared rules: refuse rows breaking one (``reject``: ValidationError naming column,
        rows and value), or note per row which they broke on ``batch.violations`` (``flag``)."""
        if self._all_within_bounds(batch):  # numbers with bounds only: one pass over the matrix
            return
        reasons: list[str] = []
        notes: dict[int, list[str]] = {}
        for j, rules in self.rules:
            values = batch.columns[self.names[j]]
            broken = rules.broken(values, None if rules.nullable else self._missing(batch, j))
            if not broken:
                continue
            if on_invalid == "reject":
                reasons.extend(column_reasons(rules, values, broken))
            else:
                for i, texts in row_notes(rules, values, broken).items():
                    notes.setdefault(i, []).extend(texts)
        if reasons:
            message = (
                "; ".join(reasons) + ". These rules are declared for the source's columns in the project "
                "file; send values within them, or set the model's on_invalid_input: flag to answer such "
                "rows and name the rules they broke"
            )
            raise ValidationError(message, reasons)
        if notes:
            flagged = np.full(batch.n, None, dtype=object)
            for i, texts in notes.items():
                flagged[i] = texts
            batch.violations = flagged
