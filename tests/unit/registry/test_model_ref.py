import pytest

from mlfactory.errors import ConfigError
from mlfactory.registry import ModelRef


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("spam", ModelRef("spam", "production")),
        ("spam@canary", ModelRef("spam", "canary")),
        ("spam/3", ModelRef("spam", None, 3)),
        ("spam:12", ModelRef("spam", None, 12)),
        ("my.model-2@staging", ModelRef("my.model-2", "staging")),
    ],
)
def test_parse(text: str, expected: ModelRef) -> None:
    assert ModelRef.parse(text) == expected


@pytest.mark.parametrize("text", ["", "spam@", "spam/x", "sp am", "spam@Prod"])
def test_bad_refs(text: str) -> None:
    with pytest.raises(ConfigError, match="NAME@ALIAS"):
        ModelRef.parse(text)
