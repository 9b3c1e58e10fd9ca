"""The audit's on-demand checks are runs: each records its params, metrics, a passed tag and its findings
(a JSON artifact), so a check has a history like any training, shows on the runs page, and the rubric reads
the newest one instead of training again."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlfactory.audit.model import Finding
from mlfactory.entities import RunClause, RunStatus
from mlfactory.tracking import ActiveRun, capture_environment, start_run

if TYPE_CHECKING:
    from mlfactory.entities import Run
    from mlfactory.project import Project

CHECK_TAG = "audit.check"
MODEL_TAG = "audit.model"
PASSED_TAG = "audit.passed"
FINDINGS = "findings.json"  # the run's artifact holding the check's findings


@dataclass(frozen=True)
class CheckOutcome:
    """What an on-demand check found: whether the model passes it, the numbers, the findings."""

    passed: bool
    metrics: Mapping[str, float]
    findings: tuple[Finding, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckResult:
    """An on-demand check as recorded: the outcome, the run that holds it and when it finished."""

    check: str
    model: str
    run_id: str
    finished_at: datetime
    passed: bool
    metrics: Mapping[str, float]
    findings: tuple[Finding, ...]


def record_check(
    project: Project, check: str, model: str, work: Callable[[ActiveRun], CheckOutcome]
) -> CheckResult:
    """Run ``work`` inside a run named ``audit.<check>`` and store what it found. A check that raises leaves
    a failed run (with the error) and no result."""
    tags = {CHECK_TAG: check, MODEL_TAG: model, "model": model}
    environment = capture_environment(project.root, project.loaded.file_hash)
    with start_run(project.metadata, f"audit.{check}", tags=tags, environment=environment) as run:
        outcome = work(run)
        run.log_params(outcome.params)
        run.log_metrics(dict(outcome.metrics))
        run.set_tags({PASSED_TAG: "1" if outcome.passed else "0"})
        payload = json.dumps([f.to_json() for f in outcome.findings], sort_keys=True).encode()
        run.log_artifact(FINDINGS, project.artifacts.put_bytes(payload))
    stored = project.metadata.get_run(run.id)
    return _result(project, stored)


def latest_check(project: Project, check: str, model: str) -> CheckResult | None:
    """The newest finished run of ``check`` on ``model``, or None when it never ran."""
    clauses = [RunClause("tags", CHECK_TAG, "=", check), RunClause("tags", MODEL_TAG, "=", model)]
    runs = project.metadata.find_runs(clauses, status=RunStatus.FINISHED, limit=1)
    return _result(project, runs[0]) if runs else None


def _result(project: Project, run: Run) -> CheckResult:
    digest = run.artifacts.get(FINDINGS)
    findings = json.loads(project.artifacts.get_bytes(digest)) if digest else []
    assert run.ended_at is not None
    return CheckResult(
        check=run.tags[CHECK_TAG],
        model=run.tags[MODEL_TAG],
        run_id=run.id,
        finished_at=run.ended_at,
        passed=run.tags.get(PASSED_TAG) == "1",
        metrics=dict(run.metrics),
        findings=tuple(Finding.from_json(f) for f in findings),
    )
