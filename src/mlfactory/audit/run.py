"""One audit, composed: run the on-demand checks asked for, decide the rubric, gather the findings (debt,
dead experiments, the newest result of every on-demand check), and store the report so the audit has a
history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mlfactory.audit.checks import CHECKS, run_checks
from mlfactory.audit.dead import find_dead
from mlfactory.audit.debt import find_debt
from mlfactory.audit.model import AuditReport, Finding, Scope, worst_first
from mlfactory.audit.recorded import latest_check
from mlfactory.audit.rubric import score_rubric

if TYPE_CHECKING:
    from mlfactory.project import Project


def audit_scope(project: Project, models: Sequence[str] | None, now: datetime | None = None) -> Scope:
    """The models an audit looks at: those named (each must be in the project file), else every model the
    project file declares."""
    names = tuple(models) if models else tuple(sorted(project.config.models))
    for name in names:
        project.model_config(name)  # NotFoundError naming the known models
    return Scope(names, now or datetime.now(UTC))


def _check_findings(project: Project, scope: Scope) -> list[Finding]:
    """What the newest run of each on-demand check found, per model (nothing for a check never run)."""
    found: list[Finding] = []
    for model in scope.models:
        for check in CHECKS:
            result = latest_check(project, check, model)
            if result is not None:
                found += [replace(f, model=f.model or model) for f in result.findings]
    return found


def run_audit(
    project: Project, models: Sequence[str] | None = None, run: Sequence[str] = (), *, store: bool = True
) -> AuditReport:
    """Audit the project (or the named models): the ML Test Score with its evidence and the debt found.

    Args:
        project: the opened project.
        models: only these models (default: every model in the project file).
        run: on-demand checks to run first (ids of :data:`mlfactory.audit.checks.CHECKS`), each recorded as
            a run; the report always includes the newest result of every check that ever ran.
        store: keep the report (and an ``audit.recorded`` event) so the audit has a history.

    Raises:
        ConfigError: an unknown check id (the message lists the known ones).
        NotFoundError: an unknown model.
    """
    scope = audit_scope(project, models)
    ran = run_checks(project, scope, run) if run else []
    tests = score_rubric(project, scope)
    findings = [
        *find_debt(project, scope),
        *find_dead(project, scope).findings(),
        *_check_findings(project, scope),
    ]
    report = AuditReport(
        created_at=scope.now,
        models=scope.models,
        tests=tests,
        findings=worst_first(findings),
        checks_run=tuple(dict.fromkeys(r.check for r in ran)),
    )
    if not store:
        return report
    record = project.save_audit(scope.models, report.score, report.to_json())
    return replace(report, id=record.id)
