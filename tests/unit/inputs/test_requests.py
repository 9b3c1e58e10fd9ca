"""Request bodies: JSON parsing with messages that say what broke, and the native body's shapes."""

from __future__ import annotations

import math

import pytest

from mlfactory.errors import ValidationError
from mlfactory.inputs import Columns, Records, native_payload, parse_json
from mlfactory.inputs.requests import unpaired_surrogate


def test_json_errors_name_what_broke() -> None:
    with pytest.raises(ValidationError, match="body is empty"):
        parse_json(b"  ")
    with pytest.raises(ValidationError, match="malformed JSON"):
        parse_json(b'{"records": [')
    with pytest.raises(ValidationError, match=r"body\.records\[0\]\.s holds an unpaired UTF-16 surrogate"):
        parse_json(b'{"records": [{"s": "\\ud800"}]}')


def test_nan_passes_parsing_so_the_input_checks_can_name_its_row() -> None:
    body = parse_json(b'{"records": [{"x": NaN}]}')
    assert math.isnan(body["records"][0]["x"])


def test_a_lone_surrogate_in_a_key_is_found() -> None:
    assert unpaired_surrogate({"ok": [{"\ud800": 1}]}) == "body.ok[0] (a key)"
    assert unpaired_surrogate({"ok": ["fine", {"x": "é"}]}) is None


def test_native_shapes_and_routing_key() -> None:
    assert native_payload([{"x": 1}]) == (Records([{"x": 1}]), None)
    assert native_payload({"records": {"x": 1}, "key": "u1"}) == (Records([{"x": 1}]), "u1")
    assert native_payload({"columns": {"x": [1, 2]}}) == (Columns({"x": [1, 2]}), None)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("text", "must be a JSON object"),
        ({"records": [], "columns": {}}, "exactly one of 'records'"),
        ({"rows": []}, "got keys ['rows']"),
        ({"records": "x"}, "'records' must be a list"),
        ({"columns": [1]}, "'columns' must be an object"),
    ],
)
def test_native_shape_errors(body: object, needle: str) -> None:
    with pytest.raises(ValidationError) as err:
        native_payload(body)
    assert needle in str(err.value)
