"""model.staleness on snapshots of a world that changes (spam tactics shift month by month) and of one that
does not, and on a project with too little history."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import yaml

from mlfactory.audit.checks import run_checks
from mlfactory.audit.model import Scope, Severity
from mlfactory.audit.recorded import CheckResult
from mlfactory.project import Project, open_project
from mlfactory.quickstart.world import SpamWorld
from project_helpers import make_project, trained_project

SCOPE = Scope(("spam",), datetime(2026, 6, 1, tzinfo=UTC))
MONTHS = [datetime(2026, m, 1, tzinfo=UTC) for m in (1, 2, 3, 4)]


def _schedule(root: Path, schedule: str) -> None:
    path = root / "mlfactory.yaml"
    config = yaml.safe_load(path.read_text())
    config["models"]["spam"]["policy"]["triggers"]["schedule"] = schedule
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def _snapshots(root: Path, drifts: list[float], schedule: str) -> Project:
    """The spam project with one snapshot per month of emails (each adding a month, ``drifts[i]`` of it from
    the new world), trained on the newest and promoted."""
    world = SpamWorld(3)
    months = [world.emails(500, start=MONTHS[i], end=MONTHS[i + 1], drift=d) for i, d in enumerate(drifts)]

    def first_month(root: Path) -> None:
        months[0].to_csv(root / "data" / "emails.csv", index=False)
        _schedule(root, schedule)

    project = make_project(root, prepare=first_month)
    for i in range(2, len(months) + 1):
        pd.concat(months[:i]).to_csv(root / "data" / "emails.csv", index=False)
        project.ingest("emails")
    project.train("spam")
    project.promote("spam", 1, reason="test setup")
    return project


def staleness(project: Project) -> CheckResult:
    with project:
        [result] = run_checks(project, SCOPE, ["model.staleness"])
    return result


def test_a_changing_world_decays_the_model_faster_than_its_schedule_retrains(tmp_path: Path) -> None:
    result = staleness(_snapshots(tmp_path / "drifting", [0.0, 0.5, 1.0], schedule="60d"))
    decay, horizon = result.metrics["decay_per_day"], result.metrics["horizon_days"]
    assert decay > 0 and result.metrics["points"] == 3
    assert (
        horizon < 60 and abs(horizon - 0.02 / decay) < 1e-9
    )  # the quickstart gates accuracy by a floor only
    assert not result.passed
    [finding] = result.findings
    assert finding.severity is Severity.HIGH and finding.evidence["schedule_days"] == 60
    assert finding.evidence["horizon_days"] == horizon


def test_a_steady_world_keeps_the_model_within_a_weekly_schedule(tmp_path: Path) -> None:
    result = staleness(_snapshots(tmp_path / "steady", [0.0, 0.0, 0.0], schedule="7d"))
    assert result.passed and not result.findings
    assert result.metrics["horizon_days"] > 7


def test_too_little_history_is_said_not_crashed_on(tmp_path: Path) -> None:
    with open_project(trained_project(tmp_path / "spam"), env={}, actor="test") as project:
        result = staleness(project)
    assert not result.passed and result.metrics == {}
    [finding] = result.findings
    assert "1 valid snapshot(s)" in finding.title and "needs 3" in finding.title
