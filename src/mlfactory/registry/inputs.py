"""Request rows checked against a model's signature, without a pandas DataFrame per request.

A request carries rows as records (``[{col: value}, …]``), columns (``{col: [values]}``) or positional rows
(``[[v1, v2, …]]`` in feature order or under given column names). :class:`InputSpec` turns any of them into a
:class:`Batch` of typed NumPy columns, or raises :class:`~mlfactory.errors.ValidationError` naming the column,
the row (counted from 0) and what was received. Extra columns are ignored, as in batch scoring.

Types are always enforced: a number column takes numbers (NaN and infinity are refused; null is a missing
value), an integer column whole numbers, a boolean column true/false or 1/0, a category or text column text.
Values read from a table (CSV, a DataFrame: ``table=True``) are looser where tables are: NaN is their missing
value, and numbers in a text column are text. The rules the project file declares for a column (bounds,
categories, not nullable; see :mod:`mlfactory.registry.rules`) are then either enforced (``reject``) or
reported per row on the :class:`Batch` (``flag``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from operator import itemgetter
from typing import Any

import msgspec
import numpy as np
import pandas as pd

from mlfactory.errors import PayloadTooLargeError, ValidationError
from mlfactory.registry.rules import ON_INVALID, ColumnRules, OnInvalid, column_reasons, row_notes, show_value

NUMERIC = ("number", "integer", "boolean")
_NUMBER_KINDS = "iufb"


def _kind_name(value: Any) -> str:
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class Records:
    """Rows as a list of ``{column: value}`` objects."""

    rows: list[Any]


@dataclass(frozen=True)
class Columns:
    """Rows as ``{column: [values]}``."""

    data: dict[str, Any]
    strings_are_numbers: bool = False  # values arrived as text (V2 BYTES) and may be parsed
    table: bool = (
        False  # read from a table (CSV, a DataFrame): NaN is missing, numbers in text columns are text
    )


@dataclass(frozen=True)
class Rows:
    """Rows as lists of values, in the model's feature order (``names`` None) or under ``names``."""

    rows: Any  # list of lists, or a 2-D NumPy array
    names: list[str] | None = None
    strings_are_numbers: bool = False  # values arrived as text (CSV, V2 BYTES) and may be parsed
    table: bool = (
        False  # read from a table (CSV, a DataFrame): NaN is missing, numbers in text columns are text
    )


Payload = Records | Columns | Rows


def payload_rows(payload: Payload) -> int:
    """How many rows a payload holds (before checking it)."""
    if isinstance(payload, Records):
        return len(payload.rows)
    if isinstance(payload, Rows):
        return len(payload.rows)
    first: Any = next(iter(payload.data.values()), [])
    return len(first) if isinstance(first, list | np.ndarray) else 1


def payload_field(payload: Payload, name: str) -> list[Any] | None:
    """The values of a (possibly non-input) field per row, e.g. a routing key; None when absent."""
    if isinstance(payload, Records):
        if not payload.rows or not isinstance(payload.rows[0], dict) or name not in payload.rows[0]:
            return None
        return [r.get(name) if isinstance(r, dict) else None for r in payload.rows]
    if isinstance(payload, Columns):
        values = payload.data.get(name)
        return list(values) if isinstance(values, list | np.ndarray) else None
    if payload.names and name in payload.names:
        j = payload.names.index(name)
        return [r[j] for r in payload.rows]
    return None


class Batch:
    """Checked rows as typed columns: float64 for numbers, object for categories and text.

    When every input is numeric the rows are kept as one ``(n, k)`` float64 matrix. ``violations`` is set
    when rules were flagged rather than enforced: per row, None or the rules it broke.
    """

    __slots__ = ("_columns", "matrix", "n", "names", "nulls", "violations")

    def __init__(
        self,
        names: Sequence[str],
        *,
        matrix: np.ndarray | None = None,
        columns: dict[str, np.ndarray] | None = None,
        violations: np.ndarray | None = None,
    ) -> None:
        self.names = tuple(names)
        self.matrix = matrix
        self._columns = columns
        self.n = int(matrix.shape[0]) if matrix is not None else len(next(iter(columns.values())))  # type: ignore[union-attr]
        self.violations = violations
        self.nulls: dict[str, np.ndarray] | None = None  # missing text values (made empty), while checking

    @property
    def columns(self) -> dict[str, np.ndarray]:
        if self._columns is None:
            assert self.matrix is not None
            self._columns = {name: self.matrix[:, j] for j, name in enumerate(self.names)}
        return self._columns

    def frame(self) -> pd.DataFrame:
        """The rows as the DataFrame the model was trained on."""
        if self.matrix is not None:
            return pd.DataFrame(self.matrix, columns=list(self.names), copy=False)
        return pd.DataFrame(self.columns, copy=False)

    def take(self, index: np.ndarray) -> Batch:
        flagged = None if self.violations is None else self.violations[index]
        if self.matrix is not None:
            return Batch(self.names, matrix=self.matrix[index], violations=flagged)
        return Batch(self.names, columns={k: v[index] for k, v in self.columns.items()}, violations=flagged)

    def flagged(self) -> list[list[str]] | None:
        """Per row, the declared rules it broke (empty for a row that broke none); None when nothing was
        flagged."""
        if self.violations is None:
            return None
        return [v or [] for v in self.violations.tolist()]

    @staticmethod
    def concat(batches: Sequence[Batch]) -> Batch:
        if len(batches) == 1:
            return batches[0]
        first = batches[0]
        flagged = None
        if any(b.violations is not None for b in batches):
            flagged = np.concatenate(
                [np.full(b.n, None, dtype=object) if b.violations is None else b.violations for b in batches]
            )
        if all(b.matrix is not None for b in batches):
            return Batch(first.names, matrix=np.concatenate([b.matrix for b in batches]), violations=flagged)  # type: ignore[misc]
        return Batch(
            first.names,
            columns={k: np.concatenate([b.columns[k] for b in batches]) for k in first.names},
            violations=flagged,
        )


class InputSpec:
    """A model version's inputs, compiled once at load for fast checking.

    Args:
        signature: the version's signature (``inputs`` = list of ``{"name", "type"}``, each with the rules
            its source declares, if any: ``min``, ``max``, ``categories``, ``nullable``).
        allow_nan: whether the model takes missing numbers (found by probing it at load).
    """

    def __init__(self, signature: dict[str, Any], *, allow_nan: bool = True) -> None:
        inputs = signature["inputs"]
        self.names: list[str] = [c["name"] for c in inputs]
        self.kinds: list[str] = [c["type"] for c in inputs]
        self.allow_nan = allow_nan
        self.numeric_only = all(k in NUMERIC for k in self.kinds)
        found = [(j, ColumnRules.from_input(c)) for j, c in enumerate(inputs)]
        self.rules: tuple[tuple[int, ColumnRules], ...] = tuple((j, r) for j, r in found if r is not None)
        self._ints = np.array([j for j, k in enumerate(self.kinds) if k == "integer"], dtype=np.intp)
        self._bools = np.array([j for j, k in enumerate(self.kinds) if k == "boolean"], dtype=np.intp)
        # a numeric model whose rules are all bounds checks valid rows in one pass over its matrix
        self._bounds_only = self.numeric_only and all(
            r.categories is None and r.nullable for _, r in self.rules
        )
        bounded = dict(self.rules)
        self._ranged: np.ndarray | None = np.array(sorted(bounded), dtype=np.intp)
        if 2 * len(bounded) >= len(self.names):  # comparing every column beats gathering the bounded ones
            self._ranged = None
        picked = range(len(self.names)) if self._ranged is None else self._ranged.tolist()
        lows = [bounded[j].low if j in bounded else None for j in picked]
        highs = [bounded[j].high if j in bounded else None for j in picked]
        self._lows = np.array([-math.inf if v is None else v for v in lows], dtype=np.float64)
        self._highs = np.array([math.inf if v is None else v for v in highs], dtype=np.float64)
        if len(self.names) == 1:
            only = self.names[0]
            self._get: Callable[[Any], tuple[Any, ...]] = lambda r: (r[only],)
        else:
            self._get = itemgetter(*self.names)

    @cached_property
    def _records_decoder(self) -> msgspec.json.Decoder[Any] | None:
        if not self.numeric_only:
            return None
        fields = [f"f{j}" for j in range(len(self.names))]  # any column name, under a safe field name
        row = msgspec.defstruct(
            "Row",
            [(f, float | bool | None) for f in fields],
            rename=dict(zip(fields, self.names, strict=True)),
        )
        body = msgspec.defstruct("Body", [("records", list[row]), ("key", Any, None)])  # type: ignore[valid-type]
        return msgspec.json.Decoder(body)

    def decode_records(self, body: bytes) -> tuple[Rows, Any] | None:
        """A native ``{"records": [...], "key": ...}`` body parsed straight into a float matrix, and its key.

        Only for numeric models, and only for bodies of the right types: every row an object with every
        input a number, true/false or null (other fields are ignored). Anything else gives None, and the
        caller parses the body as usual, whose checks name what is wrong. The matrix still goes through
        :meth:`check` (limits, missing values, infinities). Decoding into typed rows skips a dict per row and
        a type pass: 1.9 ms instead of 3.0 ms for 1,000 rows of 30 numbers.
        """
        decoder = self._records_decoder
        if decoder is None:
            return None
        try:
            parsed = decoder.decode(body)
        except msgspec.MsgspecError:
            return None
        if not parsed.records:
            return None
        matrix = np.array(list(map(msgspec.structs.astuple, parsed.records)), dtype=np.float64)
        return Rows(matrix), parsed.key  # in feature order

    def describe(self) -> str:
        return ", ".join(f"{n} ({k})" for n, k in zip(self.names, self.kinds, strict=True))

    def check(
        self, payload: Payload, *, max_rows: int | None = None, on_invalid: OnInvalid = "reject"
    ) -> Batch:
        """Validate and convert a payload; ValidationError (or PayloadTooLargeError) naming field and row.

        Args:
            payload: the rows.
            max_rows: refuse more rows than this.
            on_invalid: rows breaking a declared rule (bound, category, not nullable) are refused
                (``reject``) or kept, with the rules each broke in the batch's ``violations`` (``flag``).
                Wrong types, NaN and infinity are refused either way: the model cannot take them.
        """
        if on_invalid not in ON_INVALID:
            raise ValueError(f"on_invalid must be one of {ON_INVALID}, got {on_invalid!r}")
        batch = self._convert(payload, max_rows)
        if len(self._ints) or len(self._bools) or self.rules:
            self._typed(batch)
            if self.rules:
                self._apply_rules(batch, on_invalid)
        batch.nulls = None
        return batch

    def _convert(self, payload: Payload, max_rows: int | None) -> Batch:
        if isinstance(payload, Columns):
            self._require(payload.data)
        n = payload_rows(payload)
        if n == 0:
            raise ValidationError("no rows to predict; send at least one row")
        if max_rows is not None and n > max_rows:
            raise PayloadTooLargeError(
                f"{n} rows is over this server's limit of {max_rows} rows per request; split the request"
            )
        if isinstance(payload, Records):
            return self._records(payload.rows)
        if isinstance(payload, Columns):
            return self._columns(payload.data, payload.strings_are_numbers, payload.table)
        return self._rows(payload)

    # -- shapes ---------------------------------------------------------------------------------------

    def _records(self, rows: list[Any]) -> Batch:
        try:
            tuples = list(map(self._get, rows))
        except (KeyError, TypeError, IndexError):
            self._explain_records(rows)
            raise AssertionError("unreachable") from None
        if self.numeric_only:
            fast = self._fast_matrix(tuples, table=False)
            if fast is not None:
                return fast
        return self._from_columns(list(zip(*tuples, strict=True)), strings=False, table=False)

    def _explain_records(self, rows: list[Any]) -> None:
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise ValidationError(
                    f"row {i}: expected an object of column → value, got {_kind_name(row)}",
                    [f"row {i}: not an object"],
                )
            missing = [c for c in self.names if c not in row]
            if missing:
                raise ValidationError(
                    f"row {i}: missing input column(s) {missing}; the model takes {self.names}",
                    [f"row {i}: missing column '{m}'" for m in missing],
                )

    def _require(self, data: dict[str, Any]) -> None:
        missing = [c for c in self.names if c not in data]
        if missing:
            raise ValidationError(
                f"missing input column(s) {missing}; the model takes {self.names}",
                [f"missing column '{m}'" for m in missing],
            )

    def _columns(self, data: dict[str, Any], strings: bool = False, table: bool = False) -> Batch:
        values = [data[c] for c in self.names]
        lengths = {}
        for name, v in zip(self.names, values, strict=True):
            if not isinstance(v, list | np.ndarray):
                raise ValidationError(f"column '{name}' must be a list of values, got {_kind_name(v)}")
            lengths[name] = len(v)
        if len(set(lengths.values())) > 1:
            raise ValidationError(
                f"columns have different lengths: {lengths}; send one value per row in each"
            )
        return self._from_columns(values, strings=strings, table=table)

    def _rows(self, payload: Rows) -> Batch:
        rows = payload.rows
        k = len(payload.names) if payload.names is not None else len(self.names)
        if isinstance(rows, np.ndarray):
            if rows.ndim != 2 or rows.shape[1] != k:
                raise ValidationError(
                    f"expected rows of {k} values, got an array of shape {list(rows.shape)}"
                )
            matrix = rows
        else:
            for i, row in enumerate(rows):
                if not isinstance(row, list | tuple):
                    raise ValidationError(f"row {i}: expected a list of {k} values, got {_kind_name(row)}")
                if len(row) != k:
                    order = payload.names if payload.names is not None else self.names
                    raise ValidationError(
                        f"row {i} has {len(row)} values; expected {k}, in this order: {order}"
                    )
            matrix = None
        if payload.names is None:
            index = list(range(len(self.names)))
        else:
            missing = [c for c in self.names if c not in payload.names]
            if missing:
                raise ValidationError(
                    f"missing input column(s) {missing}; the model takes {self.names}",
                    [f"missing column '{m}'" for m in missing],
                )
            index = [payload.names.index(c) for c in self.names]
        strings, table = payload.strings_are_numbers, payload.table
        if matrix is not None:
            if self.numeric_only and matrix.dtype.kind in _NUMBER_KINDS:
                ordered = matrix if payload.names is None else matrix[:, index]  # no copy in feature order
                return self._checked_matrix(
                    np.ascontiguousarray(ordered, dtype=np.float64), explicit_nan=False
                )
            if matrix.dtype == object:
                cols = [matrix[:, j].tolist() for j in index]
            else:  # a typed array: NaN is its missing value, whichever column it lands in
                cols = [matrix[:, j] for j in index]
            return self._from_columns(cols, strings=strings, table=table)
        if self.numeric_only and not strings:
            picked = rows if payload.names is None else [[r[j] for j in index] for r in rows]
            fast = self._fast_matrix(picked, table=table)
            if fast is not None:
                return fast
        cols_all = list(zip(*rows, strict=True))
        return self._from_columns([cols_all[j] for j in index], strings=strings, table=table)

    # -- numbers --------------------------------------------------------------------------------------

    def _fast_matrix(self, rows: Sequence[Sequence[Any]], *, table: bool) -> Batch | None:
        try:
            m = np.array(rows)
        except (ValueError, TypeError):
            return None
        if m.ndim != 2 or m.dtype.kind not in _NUMBER_KINDS:
            return None
        # Python values: a null would have made the array one of objects, so a NaN here was sent as NaN
        return self._checked_matrix(m.astype(np.float64, copy=False), explicit_nan=not table)

    def _checked_matrix(self, m: np.ndarray, *, explicit_nan: bool) -> Batch:
        bad = ~np.isfinite(m)
        if bad.any():
            reasons = []
            for j in np.flatnonzero(bad.any(axis=0)):
                i = int(np.flatnonzero(bad[:, j])[0])
                if np.isnan(m[i, j]):
                    if explicit_nan:
                        reasons.append(self._nan_reason(int(j), i))
                    elif not self.allow_nan:
                        reasons.append(self._missing_reason(int(j), i))
                else:
                    reasons.append(self._inf_reason(int(j), i))
            if reasons:
                raise ValidationError("; ".join(reasons), reasons)
        return Batch(self.names, matrix=m)

    def _missing_reason(self, j: int, i: int) -> str:
        return (
            f"column '{self.names[j]}' ({self.kinds[j]}) row {i}: missing value (null or NaN), which this "
            "model cannot take; send a number"
        )

    def _nan_reason(self, j: int, i: int) -> str:
        fix = "send a number, or null for a missing value" if self.allow_nan else "send a number"
        return f"column '{self.names[j]}' ({self.kinds[j]}) row {i}: NaN is not a number; {fix}"

    def _inf_reason(self, j: int, i: int) -> str:
        return f"column '{self.names[j]}' row {i}: infinity is not allowed; send a finite number"

    def _numbers(
        self, j: int, values: Sequence[Any], strings: bool, table: bool
    ) -> tuple[np.ndarray | None, str | None]:
        arr = values if isinstance(values, np.ndarray) else None
        # NaN in a typed array is its missing value; among Python values (JSON) null is, and NaN was sent
        explicit = not table and (arr is None or arr.dtype == object)
        if arr is None:
            try:
                arr = np.array(values)
            except (ValueError, TypeError):
                arr = None
        if arr is not None and arr.ndim == 1 and arr.dtype.kind in _NUMBER_KINDS:
            out = arr.astype(np.float64, copy=False)
        else:
            out = np.empty(len(values), dtype=np.float64)
            for i, v in enumerate(values):
                if v is None:
                    out[i] = math.nan
                elif isinstance(v, bool | int | float | np.number):
                    out[i] = float(v)
                    if explicit and out[i] != out[i]:
                        return None, self._nan_reason(j, i)
                elif strings and isinstance(v, str | bytes):
                    try:
                        out[i] = float(v)
                    except ValueError:
                        return None, (
                            f"column '{self.names[j]}' ({self.kinds[j]}) row {i}: {_show(v)} is not a number"
                        )
                    if explicit and out[i] != out[i]:  # 'nan' as text is a NaN too
                        return None, self._nan_reason(j, i)
                else:
                    what = f"{_show(v)} ({_kind_name(v)})" if isinstance(v, str) else _kind_name(v)
                    return None, (
                        f"column '{self.names[j]}' ({self.kinds[j]}) row {i}: got {what}; send a number"
                    )
        if not np.isfinite(out).all():
            inf_rows = np.flatnonzero(np.isinf(out))
            if len(inf_rows):
                return None, self._inf_reason(j, int(inf_rows[0]))
            if explicit and arr is not None and arr.dtype.kind in _NUMBER_KINDS:
                return None, self._nan_reason(j, int(np.flatnonzero(np.isnan(out))[0]))
            if not self.allow_nan:
                return None, self._missing_reason(j, int(np.flatnonzero(np.isnan(out))[0]))
        return out, None

    def _typed(self, batch: Batch) -> None:
        """Whole numbers in integer columns, 0 and 1 in boolean ones (vectorized; missing values pass)."""
        reasons: list[str] = []
        for idx, kind in ((self._ints, "integer"), (self._bools, "boolean")):
            if not len(idx):
                continue
            if batch.matrix is not None:
                sub = batch.matrix[:, idx]
            else:
                sub = np.column_stack([batch.columns[self.names[j]] for j in idx])
            bad = np.floor(sub) < sub if kind == "integer" else (sub != 0) & (sub != 1) & ~np.isnan(sub)
            if not bad.any():
                continue
            for c in np.flatnonzero(bad.any(axis=0)).tolist():
                j = int(idx[c])
                i = int(np.flatnonzero(bad[:, c])[0])
                got = show_value(float(sub[i, c]))
                if kind == "integer":
                    reasons.append(
                        f"column '{self.names[j]}' (integer) row {i}: {got} is not a whole number; "
                        "send an integer"
                    )
                else:
                    reasons.append(
                        f"column '{self.names[j]}' (boolean) row {i}: {got} is not a boolean; send true or "
                        "false (or 1 or 0)"
                    )
        if reasons:
            raise ValidationError("; ".join(reasons), reasons)

    def _apply_rules(self, batch: Batch, on_invalid: OnInvalid) -> None:
        """Check the declared rules: refuse rows breaking one, or note per row which they broke."""
        m = batch.matrix
        if m is not None and self._bounds_only:  # numbers with bounds only: one pass over the matrix
            sub = m if self._ranged is None else m[:, self._ranged]
            bad = sub < self._lows
            bad |= sub > self._highs
            if not bad.any():
                return
        reasons: list[str] = []
        notes: dict[int, list[str]] = {}
        for j, rules in self.rules:
            values = batch.columns[self.names[j]]
            missing = None
            if not rules.nullable:
                kind = self.kinds[j]
                if kind in NUMERIC:
                    missing = np.isnan(values)
                elif kind == "text":
                    missing = (batch.nulls or {}).get(self.names[j])
                else:
                    missing = pd.isna(values)
            broken = rules.broken(values, missing)
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

    # -- everything else ------------------------------------------------------------------------------

    def _labels(
        self, j: int, values: Sequence[Any], table: bool
    ) -> tuple[np.ndarray | None, str | None, np.ndarray | None]:
        """The column as text (None for a missing category, empty for missing text), why not, and which rows
        were missing (None: none)."""
        kind = self.kinds[j]
        items = values.tolist() if isinstance(values, np.ndarray) else values
        out = np.empty(len(items), dtype=object)
        if all(type(v) is str for v in items):
            out[:] = list(items)
            return out, None, None
        nulls = None
        for i, v in enumerate(items):
            if v is None or (table and isinstance(v, float) and math.isnan(v)):
                out[i] = "" if kind == "text" else None
                if nulls is None:
                    nulls = np.zeros(len(items), dtype=bool)
                nulls[i] = True
            elif isinstance(v, str):
                out[i] = v
            elif isinstance(v, bytes):
                out[i] = v.decode("utf-8", errors="replace")
            elif table and isinstance(v, bool | int | float | np.number):
                out[i] = str(v)  # a table reader made numbers of this column's text
            else:
                what = (
                    f"{_show(v)} (a number)"
                    if isinstance(v, int | float | np.number) and not isinstance(v, bool)
                    else _show(v)
                    if isinstance(v, bool)
                    else _kind_name(v)
                )
                return None, f"column '{self.names[j]}' ({kind}) row {i}: got {what}; send text", None
        return out, None, nulls

    def _dates(self, j: int, values: Sequence[Any]) -> tuple[np.ndarray | None, str | None]:
        parsed = pd.to_datetime(pd.Series(list(values), dtype=object), utc=True, errors="coerce")
        bad = parsed.isna().to_numpy() & pd.notna(pd.Series(list(values), dtype=object)).to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            return None, f"column '{self.names[j]}' (datetime) row {i}: {_show(values[i])} is not a date-time"
        return parsed.to_numpy(), None

    def _from_columns(self, values: Sequence[Sequence[Any]], *, strings: bool, table: bool) -> Batch:
        columns: dict[str, np.ndarray] = {}
        reasons: list[str] = []
        nulls: dict[str, np.ndarray] = {}
        for j, (name, kind) in enumerate(zip(self.names, self.kinds, strict=True)):
            if kind in NUMERIC:
                arr, why = self._numbers(j, values[j], strings, table)
            elif kind == "datetime":
                arr, why = self._dates(j, values[j])
            else:
                arr, why, missing = self._labels(j, values[j], table)
                if missing is not None:
                    nulls[name] = missing
            if why:
                reasons.append(why)
            else:
                columns[name] = arr  # type: ignore[assignment]
        if reasons:
            raise ValidationError("; ".join(reasons), reasons)
        if self.numeric_only:
            return Batch(self.names, matrix=np.column_stack([columns[n] for n in self.names]))
        batch = Batch(self.names, columns=columns)
        batch.nulls = nulls or None
        return batch


def frame_payload(frame: pd.DataFrame, spec: InputSpec) -> Columns:
    """A DataFrame's input columns as a payload: numeric dtypes as float64 (missing = NaN), anything else as
    objects (missing = None), and text that holds numbers allowed in number columns."""
    data: dict[str, Any] = {}
    for name, kind in zip(spec.names, spec.kinds, strict=True):
        if name not in frame.columns:
            continue
        column = frame[name]
        if kind in NUMERIC and (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)):
            data[name] = column.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            data[name] = column.astype(object).where(column.notna(), None).to_numpy()
    return Columns(data, strings_are_numbers=True, table=True)


def take_payload(payload: Payload, index: np.ndarray) -> Payload:
    """The rows at ``index`` of a payload, in the same shape."""
    picks = index.tolist()
    if isinstance(payload, Records):
        return Records([payload.rows[i] for i in picks])
    if isinstance(payload, Columns):
        return Columns(
            {
                k: v[index]
                if isinstance(v, np.ndarray)
                else [v[i] for i in picks]
                if isinstance(v, list)
                else v
                for k, v in payload.data.items()
            },
            payload.strings_are_numbers,
            payload.table,
        )
    rows = payload.rows[index] if isinstance(payload.rows, np.ndarray) else [payload.rows[i] for i in picks]
    return Rows(rows, payload.names, payload.strings_are_numbers, payload.table)
