"""A numeric model's records bodies decoded straight into a float matrix: the same matrix the general path
checks out of the same body, whatever the numbers, names and sizes, and every other body left to it."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from mlfactory.inputs import InputSpec, Records
from mlfactory.inputs.requests import PACKED_FROM, NumericRecords

# names whose UTF-8 takes each MessagePack string header: fixstr (< 32 bytes), str8, str16
NAMES = ["x", "größe", "温度 °C", "a b.c-d", "🚀" * 8, "n" * 32, "é" * 127, "k" * 255, "long" * 64, "z" * 300]


def _spec(names: list[str]) -> InputSpec:
    return InputSpec({"inputs": [{"name": n, "type": "number"} for n in names]})


def _value(rng: np.random.Generator, missing: bool) -> Any:
    pick = int(rng.integers(9 if missing else 7))
    if pick == 0:
        return int(rng.integers(-(2**62), 2**62))
    if pick == 1:
        return float(rng.normal() * 10.0 ** float(rng.integers(-300, 300)))
    if pick == 2:
        return float(rng.choice([0.0, -0.0, 5e-324, -2.2250738585072014e-308, 1.7976931348623157e308]))
    if pick == 3:
        return int(rng.choice([0, -1, 2**53 + 1, -(2**63), 2**63 - 1]))
    if pick in (4, 5, 6):
        return float(rng.normal())
    return bool(rng.integers(2)) if pick == 7 else None


def _body(rng: np.random.Generator, names: list[str], n: int, missing: bool) -> bytes:
    rows = []
    for _ in range(n):
        row: dict[str, Any] = {name: _value(rng, missing) for name in rng.permutation(names).tolist()}
        if rng.random() < 0.2:
            row["note"] = {"free": ["text", 1]}  # a field that is no input: ignored, as by the general path
        rows.append(row)
    return orjson.dumps({"records": rows, "key": "user-1"})


def _same(body: bytes, names: list[str]) -> None:
    spec = _spec(names)
    decoded = spec.decode_records(body)
    assert decoded is not None
    payload, key = decoded
    assert key == "user-1"
    got = spec.check(payload).matrix
    expected = spec.check(Records(orjson.loads(body)["records"])).matrix
    assert got is not None and expected is not None
    np.testing.assert_array_equal(got, expected)  # NaN where NaN
    assert np.array_equal(np.signbit(got), np.signbit(expected))  # -0.0 stays -0.0


@pytest.mark.parametrize("width", [1, 3, 15, 16, 40])  # MessagePack maps of 15 entries or fewer, and more
@pytest.mark.parametrize("rows", [1, 16, PACKED_FROM, 300])  # one float at a time, then MessagePack
def test_numbers_decode_to_the_matrix_the_general_path_checks(width: int, rows: int) -> None:
    rng = np.random.default_rng(width * 1000 + rows)
    names = [NAMES[j % len(NAMES)] + ("" if j < len(NAMES) else f"_{j}") for j in range(width)]
    for missing in (False, True):  # only numbers, then true/false and null too
        _same(_body(rng, names, rows, missing), names)


def test_numbers_are_read_without_a_python_float_each(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: NumericRecords, records: list[Any]) -> np.ndarray:
        raise AssertionError("numbers only: read from MessagePack, not one float at a time")

    monkeypatch.setattr(NumericRecords, "_through_python", refuse)
    rng = np.random.default_rng(7)
    for names, rows in ((NAMES, PACKED_FROM), (["x"], 2**16)):  # the widest names; an array over 65,535 rows
        _same(_body(rng, names, rows, missing=False), names)


def test_a_few_rows_are_made_one_float_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under PACKED_FROM rows, writing MessagePack costs more than it saves (a one-row body took 31 µs
    instead of 7 µs): such bodies never write it."""

    def refuse(records: list[Any]) -> np.ndarray:
        raise AssertionError(f"{len(records)} rows: made one float at a time, not through MessagePack")

    decoder = NumericRecords(NAMES)  # its probe row is packed here, before the refusal
    monkeypatch.setattr(decoder, "_unpacked", refuse)
    rng = np.random.default_rng(8)
    spec = _spec(NAMES)
    for rows in (1, 15, 16, PACKED_FROM - 1):
        body = _body(rng, NAMES, rows, missing=False)
        decoded = decoder.decode(body)
        assert decoded is not None
        expected = spec.check(Records(orjson.loads(body)["records"])).matrix
        np.testing.assert_array_equal(decoded[0], expected)


def test_a_null_or_a_boolean_anywhere_still_decodes_through_python() -> None:
    names = ["a", "b", "c"]
    for odd in (None, True, False):
        rows: list[dict[str, Any]] = [{"a": 1.5, "b": 2, "c": 3.25} for _ in range(20)]
        rows[13]["b"] = odd
        _same(orjson.dumps({"records": rows, "key": "user-1"}), names)


@pytest.mark.parametrize(
    "body",
    [
        b'{"records": [{"x": 1, "y": "2"}]}',  # text in a number
        b'{"records": [{"x": 1, "y": [2]}]}',  # a list in a number
        b'{"records": [{"x": 1, "y": {"v": 2}}]}',  # an object in a number
        b'{"records": [{"x": 1, "y": 2}, {"x": 1}]}',  # a missing input
        b'{"records": [{"x": 1, "y": 2}, 3]}',  # a row that is no object
        b'{"records": {"x": 1, "y": 2}}',  # one row, not a list
        b'{"records": [{"x": 1, "y": 2}], "columns": {"x": [1], "y": [2]}}',  # two shapes at once
        b'{"records": [{"x": 1, "y": 2}], "rows": []}',  # a field the native body does not have
        b'{"records": [{"x": Infinity, "y": 2}]}',  # not JSON
        b'{"records": [{"x": 1, "y": 2}]} trailing',
        b'{"records": [{"x": 1, "y": 2}',
        b"",
    ],
)
def test_every_other_body_is_left_to_the_general_path(body: bytes) -> None:
    assert _spec(["x", "y"]).decode_records(body) is None
