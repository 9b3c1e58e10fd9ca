"""Model debt: a production version older than the horizon its newest staleness check measured, and a
version whose card has no description."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from mlfactory.audit.debt import find_debt
from mlfactory.audit.model import Finding, Scope, Severity
from mlfactory.audit.recorded import CheckOutcome, record_check
from mlfactory.project import Project, open_project
from project_helpers import trained_project


def _record_horizon(project: Project, days: float) -> str:
    outcome = CheckOutcome(passed=True, metrics={"decay_per_day": 0.001, "horizon_days": days})
    return record_check(project, "model.staleness", "spam", lambda run: outcome).run_id


def _found(project: Project, check: str, now: datetime) -> list[Finding]:
    return [f for f in find_debt(project, Scope(("spam",), now)) if f.check == check]


def test_production_older_than_its_measured_horizon_is_stale(tmp_path: Path) -> None:
    with open_project(trained_project(tmp_path / "spam"), env={}, actor="test") as project:
        later = datetime.now(UTC) + timedelta(days=30)
        assert not _found(project, "model.stale", later)  # never measured: nothing to say
        _record_horizon(project, 60.0)
        assert not _found(project, "model.stale", later)  # 30 days old, good for 60
        run_id = _record_horizon(project, 20.0)  # the newest measurement counts
        (finding,) = _found(project, "model.stale", later)
        assert finding.severity is Severity.MEDIUM and finding.model == "spam"
        assert finding.evidence["version"] == "spam/1" and finding.evidence["staleness_run"] == run_id
        assert finding.evidence["horizon_days"] == 20.0 and 29.9 < finding.evidence["age_days"] < 30.1
        assert "policy.triggers.schedule to at most 20d" in finding.fix
        (worse,) = _found(project, "model.stale", later + timedelta(days=30))
        assert worse.severity is Severity.HIGH  # more than twice past its horizon


def _undescribed(root: Path) -> None:
    path = root / "mlfactory.yaml"
    text = path.read_text()
    start = text.index("description: >")
    path.write_text(text[:start] + text[text.index("\nsources:", start) + 1 :])


def test_a_version_whose_card_has_no_description_is_undocumented(tmp_path: Path) -> None:
    root = trained_project(tmp_path / "spam", prepare=_undescribed, variant="undescribed")
    with open_project(root, env={}, actor="test") as project:
        (finding,) = _found(project, "model.undocumented", datetime.now(UTC))
        assert finding.evidence == {"version": "spam/1", "aliases": ["production"], "missing": "description"}
        assert "description:" in finding.fix
    with open_project(trained_project(tmp_path / "described"), env={}, actor="test") as project:
        assert not _found(project, "model.undocumented", datetime.now(UTC))
