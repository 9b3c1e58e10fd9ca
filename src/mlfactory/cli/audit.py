"""`mlfactory audit`: the project's ML Test Score and ML technical debt, with evidence and fixes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlfactory.cli.context import project_from
from mlfactory.cli.output import Col, console, fmt, print_json, table
from mlfactory.errors import AuditFailedError

if TYPE_CHECKING:
    from mlfactory.audit.model import AuditReport
    from mlfactory.project import Project


def _summary(report: AuditReport) -> None:
    sections = " · ".join(f"{s.value} {v:.1f}" for s, v in report.sections.items())
    stored = f"   stored as {report.id}" if report.id else ""
    console.print(f"[bold]ML Test Score {report.score:.1f} / 7[/]   ({sections}){stored}")
    if report.findings:
        table(
            "findings, worst first",
            ["severity", "check", "model", Col("finding", wrap=True), Col("fix", wrap=True)],
            [[f.severity.value, f.check, f.model or "", f.title, f.fix] for f in report.findings],
        )
    else:
        console.print("no debt found")
    table(
        "the rubric's 28 tests",
        ["test", "status", Col("evidence", wrap=True)],
        [[t.id, t.status.value, t.evidence] for t in report.tests],
    )


def _history(project: Project, models: list[str] | None, json: bool) -> None:
    audits = project.audits(sorted(models) if models else None)
    if json:
        print_json(audits)
        return
    rows = [[fmt(a.created_at), f"{a.score:.1f}", ", ".join(a.models), a.actor, a.id] for a in audits]
    table("audits, newest first", ["when", "score", "models", "by", "id"], rows)


def audit(
    ctx: typer.Context,
    model: Annotated[
        list[str] | None, typer.Option("--model", help="only this model (repeat for several; default: all)")
    ] = None,
    run: Annotated[
        str | None,
        typer.Option(help="on-demand checks to run first, comma-separated, e.g. model.simpler_baseline"),
    ] = None,
    html: Annotated[Path | None, typer.Option(help="also write the report as an HTML page here")] = None,
    fail_under: Annotated[
        float | None, typer.Option(help="exit 13 when the score is under this (0-7), e.g. in CI")
    ] = None,
    history: Annotated[bool, typer.Option("--history", help="list stored audits instead")] = False,
    store: Annotated[bool, typer.Option(help="keep the report in the audit's history")] = True,
    json: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
) -> None:
    """Score the project on the ML Test Score rubric and list its ML technical debt, each finding with its
    evidence, why it matters and how to fix it."""
    from mlfactory.audit.html import audit_html
    from mlfactory.audit.run import run_audit

    project = project_from(ctx)
    if history:
        _history(project, model, json)
        return
    checks = [c.strip() for c in (run or "").split(",") if c.strip()]
    report = run_audit(project, model or None, checks, store=store)
    if json:
        print_json(report.to_json())
    else:
        _summary(report)
    if html is not None:
        html.write_text(audit_html(report, project.audits(report.models, limit=20)), encoding="utf-8")
        console.print(f"report written to {html}")
    if fail_under is not None and report.score < fail_under:
        weakest = min(report.sections, key=lambda s: report.sections[s])
        raise AuditFailedError(
            f"ML Test Score {report.score:.1f} is under --fail-under {fail_under:g} (weakest section: "
            f"{weakest.value}); the report lists what to fix first"
        )
