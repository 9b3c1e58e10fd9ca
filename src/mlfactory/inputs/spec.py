"""A model version's inputs, compiled once: any payload to a checked :class:`~mlfactory.inputs.Batch`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from operator import itemgetter
from typing import Any

import numpy as np

from mlfactory.entities import Signature
from mlfactory.errors import PayloadTooLargeError, ValidationError
from mlfactory.inputs.batch import Batch
from mlfactory.inputs.payloads import Columns, Payload, Records, Rows, payload_rows
from mlfactory.inputs.requests import NumericRecords
from mlfactory.inputs.rules import ON_INVALID, ColumnRules, CompiledRules, OnInvalid, show_value
from mlfactory.inputs.values import NUMBER_KINDS, NUMERIC, ColumnType, kind_name


class InputSpec:
    """A model version's inputs, compiled once at load for fast checking.

    Args:
        signature: the version's signature, or its stored JSON (``inputs`` = list of ``{"name", "type"}``,
            each with the rules its source declares, if any: ``min``, ``max``, ``categories``, ``nullable``).
        allow_nan: whether the model takes missing numbers (found by probing it at load).
    """

    def __init__(self, signature: Signature | Mapping[str, Any], *, allow_nan: bool = True) -> None:
        sig = signature if isinstance(signature, Signature) else Signature.from_json(signature)
        inputs = sig.inputs
        self.names: list[str] = [c.name for c in inputs]
        self.kinds: list[str] = [c.type for c in inputs]
        self.allow_nan = allow_nan
        self.numeric_only = all(k in NUMERIC for k in self.kinds)
        self._types = [ColumnType(n, k, allow_nan) for n, k in zip(self.names, self.kinds, strict=True)]
        found = [(j, ColumnRules.from_input(c)) for j, c in enumerate(inputs)]
        self.rules: tuple[tuple[int, ColumnRules], ...] = tuple((j, r) for j, r in found if r is not None)
        self._compiled = CompiledRules(self.names, self.kinds, self.rules)
        self._ints = np.array([j for j, k in enumerate(self.kinds) if k == "integer"], dtype=np.intp)
        self._bools = np.array([j for j, k in enumerate(self.kinds) if k == "boolean"], dtype=np.intp)
        if len(self.names) == 1:
            only = self.names[0]
            self._get: Callable[[Any], tuple[Any, ...]] = lambda r: (r[only],)
        else:
            self._get = itemgetter(*self.names)

    @cached_property
    def _records_decoder(self) -> NumericRecords | None:
        return NumericRecords(self.names) if self.numeric_only and self.names else None

    def decode_records(self, body: bytes) -> tuple[Rows, Any] | None:
        """A native ``{"records": [...], "key": ...}`` body parsed straight into a float matrix, and its key.

        Only for numeric models, and only for bodies of the right types: every row an object with every
        input a number, true/false or null (other fields of a row are ignored), and nothing beside ``records``
        and ``key``. Anything else gives None, and the caller parses the body as usual, whose checks name what
        is wrong. The matrix still goes through :meth:`check` (limits, missing values, infinities). See
        :class:`NumericRecords` for how.
        """
        decoder = self._records_decoder
        decoded = decoder.decode(body) if decoder is not None else None
        if decoded is None:
            return None
        matrix, key = decoded
        return Rows(matrix), key  # in feature order

    def describe(self) -> str:
        """``name (type), ...`` of every input, for messages."""
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
                self._compiled.apply(batch, on_invalid)
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
                    f"row {i}: expected an object of column → value, got {kind_name(row)}",
                    [f"row {i}: not an object"],
                )
            missing = [c for c in self.names if c not in row]
            if missing:
                raise ValidationError(
                    f"row {i}: missing input column(s) {missing}; the model takes {self.names}",
                    [f"row {i}: missing column '{m}'" for m in missing],
                )

    def _require(self, data: dict[str, Any] | list[str]) -> None:
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
                raise ValidationError(f"column '{name}' must be a list of values, got {kind_name(v)}")
            lengths[name] = len(v)
        if len(set(lengths.values())) > 1:
            raise ValidationError(
                f"columns have different lengths: {lengths}; send one value per row in each"
            )
        return self._from_columns(values, strings=strings, table=table)

    def _row_matrix(self, payload: Rows) -> np.ndarray | None:
        """The rows as an array when they came as one (refusing a wrong shape), else None after checking
        every row is a list of the right length."""
        rows = payload.rows
        k = len(payload.names) if payload.names is not None else len(self.names)
        if isinstance(rows, np.ndarray):
            if rows.ndim != 2 or rows.shape[1] != k:
                raise ValidationError(
                    f"expected rows of {k} values, got an array of shape {list(rows.shape)}"
                )
            return rows
        for i, row in enumerate(rows):
            if not isinstance(row, list | tuple):
                raise ValidationError(f"row {i}: expected a list of {k} values, got {kind_name(row)}")
            if len(row) != k:
                order = payload.names if payload.names is not None else self.names
                raise ValidationError(f"row {i} has {len(row)} values; expected {k}, in this order: {order}")
        return None

    def _rows(self, payload: Rows) -> Batch:
        rows = payload.rows
        matrix = self._row_matrix(payload)
        if payload.names is None:
            index = list(range(len(self.names)))
        else:
            self._require(payload.names)
            index = [payload.names.index(c) for c in self.names]
        strings, table = payload.strings_are_numbers, payload.table
        if matrix is not None:
            if self.numeric_only and matrix.dtype.kind in NUMBER_KINDS:
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

    # -- values ---------------------------------------------------------------------------------------

    def _fast_matrix(self, rows: Sequence[Sequence[Any]], *, table: bool) -> Batch | None:
        try:
            m = np.array(rows)
        except (ValueError, TypeError):
            return None
        if m.ndim != 2 or m.dtype.kind not in NUMBER_KINDS:
            return None
        # Python values: a null would have made the array one of objects, so a NaN here was sent as NaN
        return self._checked_matrix(m.astype(np.float64, copy=False), explicit_nan=not table)

    def _checked_matrix(self, m: np.ndarray, *, explicit_nan: bool) -> Batch:
        bad = ~np.isfinite(m)
        if bad.any():
            reasons = []
            for j in np.flatnonzero(bad.any(axis=0)):
                i = int(np.flatnonzero(bad[:, j])[0])
                column = self._types[int(j)]
                if not np.isnan(m[i, j]):
                    reasons.append(column.inf_reason(i))
                elif explicit_nan:
                    reasons.append(column.nan_reason(i))
                elif not self.allow_nan:
                    reasons.append(column.missing_reason(i))
            if reasons:
                raise ValidationError("; ".join(reasons), reasons)
        return Batch(self.names, matrix=m)

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
            for c in np.flatnonzero(bad.any(axis=0)).tolist():
                i = int(np.flatnonzero(bad[:, c])[0])
                reasons.append(self._type_reason(int(idx[c]), i, show_value(float(sub[i, c]))))
        if reasons:
            raise ValidationError("; ".join(reasons), reasons)

    def _type_reason(self, j: int, i: int, got: str) -> str:
        if self.kinds[j] == "integer":
            return f"column '{self.names[j]}' (integer) row {i}: {got} is not a whole number; send an integer"
        return (
            f"column '{self.names[j]}' (boolean) row {i}: {got} is not a boolean; send true or "
            "false (or 1 or 0)"
        )

    def _from_columns(self, values: Sequence[Sequence[Any]], *, strings: bool, table: bool) -> Batch:
        columns: dict[str, np.ndarray] = {}
        reasons: list[str] = []
        nulls: dict[str, np.ndarray] = {}
        for column, given in zip(self._types, values, strict=True):
            if column.kind in NUMERIC:
                arr, why = column.numbers(given, strings, table)
            elif column.kind == "datetime":
                arr, why = column.dates(given)
            else:
                arr, why, missing = column.labels(given, table)
                if missing is not None:
                    nulls[column.name] = missing
            if why:
                reasons.append(why)
            else:
                columns[column.name] = arr  # type: ignore[assignment]
        if reasons:
            raise ValidationError("; ".join(reasons), reasons)
        if self.numeric_only:
            return Batch(self.names, matrix=np.column_stack([columns[n] for n in self.names]))
        batch = Batch(self.names, columns=columns)
        batch.nulls = nulls or None
        return batch
