"""Arrow columns read from their buffers give the numbers pyarrow's ``to_numpy`` gives: every numeric type,
nulls, and slices (whose buffers start before the column does)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from mlfactory import arrays

TYPES = [pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint32(), pa.uint64()]
TYPES += [pa.float32(), pa.float64()]


def _column(rng: np.random.Generator, kind: pa.DataType, nulls: bool) -> pa.Array:
    values = rng.integers(0, 100, 300).tolist()
    mask = rng.random(300) < 0.3 if nulls else None
    return pa.array(values, type=kind, mask=mask)


@pytest.mark.parametrize("kind", TYPES, ids=str)
@pytest.mark.parametrize("nulls", [False, True])
def test_numbers_read_as_to_numpy_reads_them(kind: pa.DataType, nulls: bool) -> None:
    rng = np.random.default_rng(len(str(kind)))
    column = _column(rng, kind, nulls)
    for piece in (column, column.slice(13), column.slice(5, 101), column.slice(300)):
        expected = piece.to_numpy(zero_copy_only=False).astype("float64")
        np.testing.assert_array_equal(arrays.floats(piece), expected)
        np.testing.assert_array_equal(arrays.valid(piece), piece.is_valid().to_numpy(zero_copy_only=False))
        whole = np.where(np.isnan(expected), -1, expected).astype(np.int64)
        if not pa.types.is_floating(kind):
            np.testing.assert_array_equal(arrays.integers(piece, -1), whole)


def test_booleans_are_ones_and_zeros_with_nulls_as_nan() -> None:
    column = pa.array([True, None, False, True, None, True, False, False, True, True] * 7)
    for piece in (column, column.slice(3), column.slice(9, 30)):
        expected = [np.nan if v is None else float(v) for v in piece.to_pylist()]
        np.testing.assert_array_equal(arrays.floats(piece), expected)
    flags = pa.array([True, False, False, True, True, False, True, True, False] * 5)
    for piece in (flags, flags.slice(7), flags.slice(2, 17)):
        np.testing.assert_array_equal(arrays.booleans(piece), piece.to_pylist())


def test_texts_are_the_strings_given() -> None:
    texts = ["", "a", "héllo", "two words", ""]
    assert arrays.texts(texts).to_pylist() == texts
    assert arrays.texts(texts).equals(pa.array(texts, pa.large_string()))
    assert len(arrays.texts([])) == 0


def test_float_columns_hold_the_numbers_given_nan_included() -> None:
    values = np.array([0.5, np.nan, -np.inf, 5e-324, 1.7976931348623157e308, -0.0])
    column = arrays.float_column(values)
    assert column.type == pa.float64() and column.null_count == 0
    np.testing.assert_array_equal(column.to_numpy(), values)
    strided = np.arange(12, dtype=np.float64).reshape(3, 4)[:, 1]  # a column of a matrix: not contiguous
    assert arrays.float_column(strided).to_pylist() == [1.0, 5.0, 9.0]
    assert arrays.float_column(np.array([1, 2], dtype=np.int32)).to_pylist() == [1.0, 2.0]
