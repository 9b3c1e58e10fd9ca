"""One segment's rows: answered chunks turned into an Arrow table with the columns of :mod:`.layout`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Protocol

import numpy as np
import pyarrow as pa

from mlfactory.stores.predictions.layout import FIXED_TYPES, INPUT_PREFIX, VIOLATIONS


class LoggedInputs(Protocol):
    """The checked inputs of answered rows, as the serving tier holds them (``registry.inputs.Batch``).

    Declared here so the log does not depend on the package that checks requests.
    """

    @property
    def names(self) -> tuple[str, ...]:
        """The input columns, in the model's order."""

    @property
    def matrix(self) -> np.ndarray | None:
        """All inputs as one ``(rows, columns)`` float matrix when every input is numeric, else None."""

    @property
    def columns(self) -> Mapping[str, np.ndarray]:
        """Each input column by name."""

    @property
    def violations(self) -> np.ndarray | None:
        """Per row, None or the declared rules it broke (only when rules were flagged, not enforced)."""


@dataclass
class Chunk:
    """Rows answered together by one model version on one route."""

    model: str
    version: int
    route: str
    time: float
    latency_ms: float
    request_ids: list[str]
    batch: LoggedInputs
    predictions: np.ndarray
    probabilities: np.ndarray | None


def _predictions(chunks: Sequence[Chunk]) -> pa.Array:
    arrays = [np.asarray(c.predictions) for c in chunks]
    merged = np.concatenate(arrays) if len(arrays) > 1 else arrays[0]
    if merged.dtype != object:
        return pa.array(merged)
    try:
        return pa.array(merged.tolist())
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed label types across versions
        return pa.array([None if v is None else str(v) for v in merged.tolist()], pa.string())


def _probabilities(chunks: Sequence[Chunk]) -> pa.Array:
    widths = {None if c.probabilities is None else c.probabilities.shape[1] for c in chunks}
    if len(widths) == 1 and None not in widths:  # the usual case: one version, one set of classes
        k = int(widths.pop())  # type: ignore[arg-type]
        flat = np.concatenate([c.probabilities for c in chunks], dtype=np.float64).ravel()  # type: ignore[misc]
        steps = np.arange(0, len(flat) + 1, k, dtype=np.int32)
        return pa.ListArray.from_arrays(pa.array(steps), pa.array(flat))
    offsets: list[np.ndarray] = [np.zeros(1, dtype=np.int32)]
    values: list[np.ndarray] = []
    nulls: list[np.ndarray] = []
    end = 0
    for c in chunks:
        n = len(c.request_ids)
        if c.probabilities is None:
            offsets.append(np.full(n, end, dtype=np.int32))
            nulls.append(np.ones(n, dtype=bool))
            continue
        p = np.asarray(c.probabilities, dtype=np.float64)
        k = p.shape[1]
        offsets.append((end + k * np.arange(1, n + 1)).astype(np.int32))
        values.append(p.ravel())
        nulls.append(np.zeros(n, dtype=bool))
        end += n * k
    flat = np.concatenate(values) if values else np.zeros(0)
    mask = np.concatenate(nulls)
    return pa.ListArray.from_arrays(
        pa.array(np.concatenate(offsets)), pa.array(flat), mask=pa.array(mask) if mask.any() else None
    )


def _input_column(columns: list[Mapping[str, np.ndarray]], sizes: list[int], name: str) -> pa.Array:
    """One input over every chunk's rows (null where a chunk's version did not take it)."""
    pairs = zip(columns, sizes, strict=True)
    parts = [cols[name] if name in cols else np.full(n, None, dtype=object) for cols, n in pairs]
    kinds = {p.dtype.kind for p in parts}
    if kinds <= {"f"}:
        return pa.array(np.concatenate(parts), from_pandas=True)
    if kinds <= {"M"}:
        return pa.array(np.concatenate(parts))
    merged = np.concatenate(parts if kinds == {"O"} else [p.astype(object) for p in parts])
    try:
        return pa.array(merged, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in merged], pa.string())


def _violations(chunks: Sequence[Chunk]) -> pa.Array:
    texts: list[str | None] = []
    for c in chunks:
        flagged = c.batch.violations
        if flagged is None:
            texts.extend([None] * len(c.request_ids))
        else:
            texts.extend("; ".join(v) if v else None for v in flagged.tolist())
    return pa.array(texts, FIXED_TYPES[VIOLATIONS])


def _repeat(values: Sequence[object], sizes: list[int], dtype: type) -> np.ndarray:
    return np.repeat(np.array(values, dtype=dtype), sizes)


def _repeat_text(values: Sequence[str], sizes: list[int]) -> pa.Array:
    """One text per chunk over its rows: each distinct text converted once, then taken for every row."""
    distinct = {v: i for i, v in enumerate(dict.fromkeys(values))}
    return pa.array(list(distinct), pa.string()).take(_repeat([distinct[v] for v in values], sizes, np.int32))


def _float_column(values: np.ndarray) -> pa.Array:
    """A contiguous float64 array as an Arrow column: handed over without a copy, unless it holds NaN (a
    missing value, logged as null)."""
    if np.isnan(values).any():
        return pa.array(values, from_pandas=True)
    return pa.Array.from_buffers(pa.float64(), len(values), [None, pa.py_buffer(values)])


def _numeric_inputs(names: tuple[str, ...], matrices: list[np.ndarray]) -> dict[str, pa.Array]:
    """The input columns of numeric models: the rows copied once, column by column, then each column handed
    to Arrow as it is."""
    by_column = np.empty((len(names), sum(len(m) for m in matrices)))  # C order: each column contiguous
    np.concatenate([m.T for m in matrices], axis=1, out=by_column)
    return {INPUT_PREFIX + name: _float_column(by_column[j]) for j, name in enumerate(names)}


def segment_table(chunks: Sequence[Chunk]) -> pa.Table:
    """The rows of ``chunks`` (at least one) as one segment's table, in the order given."""
    sizes = [len(c.request_ids) for c in chunks]
    times = _repeat([int(c.time * 1_000_000) for c in chunks], sizes, np.int64)
    columns: dict[str, pa.Array] = {
        "request_id": pa.array(list(chain.from_iterable(c.request_ids for c in chunks)), pa.string()),
        "time": pa.array(times, FIXED_TYPES["time"]),
        "model": _repeat_text([c.model for c in chunks], sizes),
        "version": pa.array(_repeat([c.version for c in chunks], sizes, np.int32)),
        "route": _repeat_text([c.route for c in chunks], sizes),
        "latency_ms": pa.array(_repeat([c.latency_ms for c in chunks], sizes, np.float32)),
        "prediction": _predictions(chunks),
        "probabilities": _probabilities(chunks),
    }
    if any(c.batch.violations is not None for c in chunks):
        columns[VIOLATIONS] = _violations(chunks)
    first = chunks[0].batch.names
    if all(c.batch.matrix is not None and c.batch.names == first for c in chunks):  # numeric models
        columns.update(_numeric_inputs(first, [c.batch.matrix for c in chunks]))  # type: ignore[misc]
        return pa.table(columns)
    inputs = [c.batch.columns for c in chunks]
    names: dict[str, None] = {}
    for each in dict.fromkeys(c.batch.names for c in chunks):  # chunks of one version share one tuple
        names.update(dict.fromkeys(each))
    for name in names:
        columns[INPUT_PREFIX + name] = _input_column(inputs, sizes, name)
    return pa.table(columns)
