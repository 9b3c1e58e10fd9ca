from datetime import UTC, datetime

import pytest

from mlfactory.entities import Run, RunStatus
from mlfactory.errors import ConfigError
from mlfactory.tracking import compare_runs, filter_runs


def run(i: int, acc: float, c: float, status: RunStatus = RunStatus.FINISHED) -> Run:
    return Run(
        id=f"r{i}",
        name="m",
        status=status,
        started_at=datetime.now(UTC),
        ended_at=None,
        params={"C": c, "solver": "lbfgs"},
        tags={"team": "a" if i % 2 else "b"},
        environment={},
        dataset_id="d",
        metrics={"accuracy": acc},
    )


RUNS = [run(0, 0.8, 1.0), run(1, 0.9, 1.0), run(2, 0.95, 0.5, RunStatus.FAILED)]


@pytest.mark.parametrize(
    ("expr", "ids"),
    [
        ("metrics.accuracy > 0.85", ["r1", "r2"]),
        ("metrics.accuracy >= 0.9 and params.C = 1", ["r1"]),
        ("status = finished", ["r0", "r1"]),
        ("tags.team = 'a'", ["r1"]),
        ("params.solver != lbfgs", []),
        ("metrics.missing > 0", []),
    ],
)
def test_filter(expr: str, ids: list[str]) -> None:
    assert [r.id for r in filter_runs(RUNS, expr)] == ids


def test_bad_filter_explains_syntax() -> None:
    with pytest.raises(ConfigError, match="metrics.accuracy >= 0.9"):
        filter_runs(RUNS, "accuracy is high")


def test_compare_lists_every_param_and_metric() -> None:
    rows = compare_runs(RUNS[:2])
    assert rows["metrics.accuracy"] == {"r0": 0.8, "r1": 0.9}
    assert set(rows) == {"metrics.accuracy", "params.C", "params.solver"}
