"""What a run filter means on every metadata backend: a param compared as it is stored (a number, a flag,
text, a list, null), a NaN metric, a missing key. The database's answer must be the one filtering the
loaded runs in Python gives, and a filter reused with other values (the SQL stores cache its statement)
must not keep the first values."""

import math
from typing import Any

import pytest

from mlfactory.entities import Metric
from mlfactory.stores import MetadataStore
from mlfactory.tracking import filter_runs, search_runs

# name -> (params, latest acc); "acc" None: the run has no such metric
RUNS: dict[str, tuple[dict[str, Any], float | None]] = {
    "int1": ({"C": 1, "flag": True, "lst": [1], "n": None}, 0.9),
    "real10": ({"C": 10.0, "flag": False, "lst": {"a": 1}}, math.nan),
    "text1": ({"C": "1", "flag": "yes", "lst": "x"}, 0.2),
    "text10": ({"C": "10", "flag": "true"}, None),
    "textabc": ({"C": "abc"}, 0.5),
    "nothing": ({}, 0.5),
}

# expression -> names of the runs it keeps, as Python compares the stored values
EXPECTED: dict[str, set[str]] = {
    "params.C = 1": {"int1", "text1"},  # the number 1 and the text "1"
    "params.C != 1": {"real10", "text10", "textabc"},
    "params.C > 5": {"real10", "textabc"},  # numbers by value, text by code point: "10" < "5" < "abc"
    "params.C < 5": {"int1", "text1", "text10"},
    "params.C = abc": {"textabc"},  # a number against text: never equal
    "params.C != abc": {"int1", "real10", "text1", "text10"},
    "params.C > abc": set(),  # numbers have no order against text; no text sorts after "abc"
    "params.C = nan": set(),  # NaN equals nothing
    "params.C != nan": {"int1", "real10", "text1", "text10", "textabc"},
    "params.flag = yes": {"int1", "text1"},  # a flag by what the text spells; text by its letters
    "params.flag != true": {"real10", "text1"},
    "params.flag > false": {"int1", "text1", "text10"},
    "params.flag <= 0": {"real10"},
    "params.lst = x": {"text1"},
    "params.lst != x": {"int1", "real10"},  # a list or an object differs from any value
    "params.lst > a": {"text1"},  # and has no order
    "params.n != 1": set(),  # a null param, like a missing one, matches nothing
    "params.missing != 1": set(),
    "metrics.acc > 0.3": {"int1", "textabc", "nothing"},
    "metrics.acc != 0.5": {"int1", "real10", "text1"},  # NaN differs from every number
    "metrics.acc = nan": set(),
    "metrics.acc != nan": {"int1", "real10", "text1", "textabc", "nothing"},
    "metrics.acc != abc": {"int1", "real10", "text1", "textabc", "nothing"},
    "metrics.acc <= abc": set(),
    "metrics.missing != 1": set(),
    "params.C = 1 and metrics.acc > 0.5": {"int1"},
}


@pytest.fixture
def named(metadata: MetadataStore) -> dict[str, str]:
    """The runs of RUNS in ``metadata``: run id -> name."""
    ids: dict[str, str] = {}
    for name, (params, acc) in RUNS.items():
        run_id = metadata.create_run(name, params=params)
        if acc is not None:
            metadata.log_metrics(run_id, [Metric("acc", 0.0, 0, 0.0), Metric("acc", acc, 1, 0.0)])
        ids[run_id] = name
    return ids


@pytest.mark.parametrize("expression", list(EXPECTED))
def test_a_filter_keeps_the_runs_python_keeps(
    metadata: MetadataStore, named: dict[str, str], expression: str
) -> None:
    found = {named[r.id] for r in search_runs(metadata, expression)}
    assert found == EXPECTED[expression]
    assert found == {named[r.id] for r in filter_runs(metadata.list_runs(), expression)}


def test_a_filter_reused_with_other_values_answers_for_those_values(
    metadata: MetadataStore, named: dict[str, str]
) -> None:
    # same fields, keys and operators, so the same cached statement: the new values must be the ones bound
    for cut, kept in ((0.1, 4), (0.3, 3), (0.6, 1), (0.95, 0)):
        assert len(search_runs(metadata, f"metrics.acc > {cut}")) == kept
    assert {named[r.id] for r in search_runs(metadata, "params.C = 10")} == {"real10", "text10"}
    assert {named[r.id] for r in search_runs(metadata, "params.C = 1")} == {"int1", "text1"}
    assert {named[r.id] for r in search_runs(metadata, "name = text1 and params.C = 1")} == {"text1"}
    assert {named[r.id] for r in search_runs(metadata, "name = int1 and params.C = 1")} == {"int1"}
