"""The quickstart's last chapter: the project's audit (ML Test Score and the debt it carries), stored so the
dashboard's Audit page shows it."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from mlfactory.audit.run import run_audit
from mlfactory.project import Project

SHOWN = 5  # findings printed; `mlfactory audit` lists them all


def show_audit(console: Console, project: Project) -> float:
    """Audit the project, print its score by section and its worst findings; returns the score."""
    report = run_audit(project)
    sections = " · ".join(f"{s.value} {v:.1f}" for s, v in report.sections.items())
    console.print(f"[green]✓[/] audit: ML Test Score {report.score:.1f} / 7 ({sections})")
    if report.findings:
        table = Table(
            title=f"the audit's worst findings ({len(report.findings)} in all)", title_justify="left"
        )
        for column in ("severity", "check", "finding"):
            table.add_column(column)
        for f in report.findings[:SHOWN]:
            table.add_row(f.severity.value, f.check, f.title)
        console.print(table)
    return report.score
