"""The quickstart's closing view of monitoring: the drift it found and where the report is."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from mlfactory.entities import PRODUCTION
from mlfactory.monitoring import MonitorReport, ReportMetrics
from mlfactory.project import Project


def _drifted_report(project: Project, model: str) -> MonitorReport | None:
    rows = project.monitor_reports(model)
    metrics = [ReportMetrics.from_flat(r.metrics) for r in rows]
    production = [r for r, m in zip(rows, metrics, strict=True) if r.route == PRODUCTION and m.dataset_drift]
    flagged = [r for r, m in zip(rows, metrics, strict=True) if m.drifted_column_count]
    pick = (production or flagged or rows)[-1:]
    return project.monitor_report(model, pick[0].id) if pick else None


def show_drift(console: Console, project: Project, model: str = "spam") -> Path | None:
    """Print the newest report that found drift (else the newest), write it as HTML, return the path."""
    report = _drifted_report(project, model)
    if report is None:
        console.print("[yellow]no monitoring report was made[/]")
        return None
    m = ReportMetrics.from_flat(report.metrics)
    checked = report.drift.checked if report.drift else None
    table = Table(
        title=f"drift found in {report.model}/{report.version} ({report.route}, {report.rows} rows): "
        f"{len(report.drifted_columns())} of {checked} input checks drifted",
        title_justify="left",
    )
    for col in ("column", "method", "statistic", "effect size", "note"):
        table.add_column(col, overflow="fold")
    for c in [*report.columns, *report.outputs, *report.label]:
        if c.drifted:
            note = ", ".join(c.current.get("new_values", [])[:3])
            table.add_row(
                c.column,
                str(c.method),
                f"{c.statistic:.3g}",
                f"{c.effect_size or 0:.3f}",
                f"new: {note}" if note else "",
            )
    console.print(table)
    realized, estimated = m.measured("accuracy"), m.estimated("accuracy")
    perf = [
        f"realized accuracy {realized:.3f} on {m.labelled_rows} labelled rows"
        if realized is not None
        else "",
        f"estimated from probabilities {estimated:.3f}" if estimated else "",
    ]
    if any(perf):
        console.print("  " + "; ".join(p for p in perf if p))
    folder = project.loaded.path(project.config.monitoring.reports_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{model}-drift.html"
    path.write_text(project.monitor_html(report), encoding="utf-8")
    console.print(f"[green]✓[/] monitoring report (open in a browser, works offline): {path}")
    return path
