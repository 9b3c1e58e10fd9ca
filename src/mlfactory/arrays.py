"""Arrow columns as NumPy arrays and back, through their buffers.

pyarrow's own ``to_numpy``, ``pyarrow.array`` and ``pyarrow.scalar`` import pandas (a third of a second
that monitoring a log of typed columns has no other use for); these read a primitive column's data and
validity buffers directly, giving the numbers ``to_numpy`` gives, and build text columns from bytes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa


def _data(values: pa.Array) -> np.ndarray:
    """A fixed-width numeric column's values as they are stored (nulls' slots hold any value)."""
    kind = values.type
    code = "f" if pa.types.is_floating(kind) else "i" if pa.types.is_signed_integer(kind) else "u"
    buffer = values.buffers()[1]
    data = np.frombuffer(buffer, dtype=f"{code}{kind.bit_width // 8}") if buffer is not None else np.empty(0)
    return data[values.offset : values.offset + len(values)]


def _bits(buffer: pa.Buffer | None, offset: int, size: int) -> np.ndarray:
    """``size`` bits of a bitmap from bit ``offset``, least significant bit first, as booleans."""
    if buffer is None:
        return np.ones(size, dtype=bool)
    bits = np.unpackbits(np.frombuffer(buffer, dtype=np.uint8), count=offset + size, bitorder="little")
    return bits[offset:].astype(bool)


def valid(values: pa.Array) -> np.ndarray:
    """Which items of a column are not null."""
    if not values.null_count:
        return np.ones(len(values), dtype=bool)
    return _bits(values.buffers()[0], values.offset, len(values))


def booleans(values: pa.Array) -> np.ndarray:
    """A boolean column without nulls (as Arrow's comparisons give) as NumPy booleans."""
    return _bits(values.buffers()[1], values.offset, len(values))


def floats(values: pa.Array) -> np.ndarray:
    """A column of numbers or booleans (1 and 0) as float64, nulls as NaN."""
    if pa.types.is_boolean(values.type):
        out = _bits(values.buffers()[1], values.offset, len(values)).astype("float64")
    else:
        out = np.array(_data(values), dtype="float64")
    if values.null_count:
        out[~valid(values)] = np.nan
    return out


def integers(values: pa.Array, missing: int) -> np.ndarray:
    """A column of integers as int64, nulls as ``missing``."""
    out = np.array(_data(values), dtype=np.int64)
    if values.null_count:
        out[~valid(values)] = missing
    return out


def float_column(values: np.ndarray) -> pa.Array:
    """A float64 NumPy array as an Arrow column, sharing its memory (NaN stays a number, not a null)."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    return pa.Array.from_buffers(pa.float64(), len(values), [None, pa.py_buffer(values)])


def texts(texts: Sequence[str]) -> pa.LargeStringArray:
    """Python strings as an Arrow array, built from their bytes."""
    encoded = [t.encode() for t in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    return pa.Array.from_buffers(pa.large_string(), len(encoded), buffers)
