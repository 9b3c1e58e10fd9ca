"""The quickstart's closing view of monitoring: the drift it found and where the report is."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from mlfactory.monitoring import MonitorReport, render_html
from mlfactory.project import Project


def _drifted_report(project: Project, model: str) -> MonitorReport | None:
    rows = project.metadata.list_monitor_reports(model)
    production = [r for r in rows if r["route"] == "production" and r["metrics"].get("drift.dataset")]
    flagged = [r for r in rows if r["metrics"].get("drift.columns")]
    pick = (production or flagged or rows)[-1:]
    return MonitorReport.from_record(project.metadata.get_monitor_report(pick[0]["id"])) if pick else None


def show_drift(console: Console, project: Project, model: str = "spam") -> Path | None:
    """Print the newest report that found drift (else the newest), write it as HTML, return the path."""
    report = _drifted_report(project, model)
    if report is None:
        console.print("[yellow]no monitoring report was made[/]")
        return None
    m = report.metrics
    table = Table(
        title=f"drift found in {report.model}/{report.version} ({report.route}, {report.rows} rows): "
        f"{len(report.drifted_columns())} of {report.drift.get('checked')} input checks drifted",
        title_justify="left",
    )
    for col in ("column", "method", "statistic", "effect size", "note"):
        table.add_column(col, overflow="fold")
    for c in [*report.columns, *report.outputs, *report.label]:
        if c.get("drifted"):
            note = ", ".join(c.get("current", {}).get("new_values", [])[:3])
            table.add_row(
                c["column"],
                str(c["method"]),
                f"{c['statistic']:.3g}",
                f"{c['effect_size'] or 0:.3f}",
                f"new: {note}" if note else "",
            )
    console.print(table)
    perf = [
        f"realized accuracy {m['performance.accuracy']:.3f} on {m['performance.labelled_rows']} labelled rows"
        if m.get("performance.accuracy") is not None
        else "",
        f"estimated from probabilities {m['estimated.accuracy']:.3f}" if m.get("estimated.accuracy") else "",
    ]
    if any(perf):
        console.print("  " + "; ".join(p for p in perf if p))
    folder = project.loaded.path(project.config.monitoring.reports_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{model}-drift.html"
    history = project.metadata.list_monitor_reports(model, version=report.version)
    path.write_text(render_html(report, history), encoding="utf-8")
    console.print(f"[green]✓[/] monitoring report (open in a browser, works offline): {path}")
    return path
