"""The policy's time budget for a search on the controller's retrains, as the project file writes it."""

import re
from pathlib import Path

import pytest

from mlfactory.config import load_project_config
from mlfactory.errors import ConfigError

FILE = """
name: demo
sources:
  s: {kind: csv, path: data.csv}
models:
  m:
    source: s
    label: y
    features: {numeric: [a, b]}
    gates: [{metric: accuracy, min: 0.8}]
    search:
      metric: accuracy
      timeout: 2h
      space: {C: {loguniform: [0.01, 10.0]}}
    policy:
      triggers: {schedule: 1d}
"""


def policy_with(tmp_path: Path, line: str) -> Path:
    (tmp_path / "mlfactory.yaml").write_text(FILE + (f"      {line}\n" if line else ""))
    return tmp_path


def test_the_budget_is_a_duration_and_the_search_keeps_its_own_timeout(tmp_path: Path) -> None:
    loaded = load_project_config(policy_with(tmp_path, "retrain_search_timeout: 10m"), env={})
    model = loaded.config.models["m"]
    assert model.policy is not None and model.policy.retrain_search_timeout == 600.0
    assert model.search is not None and model.search.timeout == 7200.0  # a manual train's budget


def test_without_a_budget_the_controller_searches_as_the_model_says(tmp_path: Path) -> None:
    loaded = load_project_config(policy_with(tmp_path, ""), env={})
    policy = loaded.config.models["m"].policy
    assert policy is not None and policy.retrain_search_timeout is None


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("soon", r"'soon' is not a duration; write a number and a unit"),
        ("0s", r"should be greater than 0 \(got '0s'\)"),
        ("-5m", r"'-5m' is not a duration"),
    ],
)
def test_a_bad_budget_names_the_field_and_the_fix(tmp_path: Path, value: str, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_project_config(policy_with(tmp_path, f"retrain_search_timeout: {value}"), env={})
    message = str(err.value)
    assert "models.m.policy.retrain_search_timeout" in message, message
    assert re.search(says, message), message
