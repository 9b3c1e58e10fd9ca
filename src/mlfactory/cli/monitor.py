"""`mlfactory monitor run|history|report|compare`: drift, performance and health of served models."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlfactory.cli.context import project_from
from mlfactory.cli.output import Col, busy, console, fmt, print_json, table
from mlfactory.errors import ConfigError

if TYPE_CHECKING:
    from mlfactory.entities import MonitorReportRecord

app = typer.Typer(help="Drift, performance and service health of served models.", no_args_is_help=True)
JSON = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


COLUMNS: list[str | Col] = [
    "version",
    "route",
    "window",
    "rows",
    "status",
    "drift share",
    Col("drifted columns", wrap=True),
    "prediction drift",
    "accuracy (labelled)",
    "estimated acc.",
    "p95 ms",
    Col("alerts", wrap=True),
]
# the history has one line per report: short headers, explained under the table
HISTORY_LEGEND = {
    "v": "version",
    "drift": "share of input columns that drifted",
    "acc.": "accuracy on labelled rows",
    "est.": "accuracy estimated from probabilities",
    "p95": "latency p95 in ms",
}


# what every --html option takes: the page is written whole, to a file or through the fs layer to a bucket
HTML_TARGET = "a file path or an object URL such as s3://bucket/reports/report.html"


def _seconds(window: str | None, last: int | None, default: float) -> float | None:
    """The time window in seconds (None when ``--last`` counts rows instead)."""
    from mlfactory.config import parse_duration

    if window is not None and last is not None:
        raise ConfigError("give either --window (a time span such as 1h) or --last (a row count), not both")
    if last is not None:
        return None
    try:
        return parse_duration(window) if window is not None else default
    except ValueError as exc:
        raise ConfigError(f"--window: {exc}") from None


def _summary_rows(reports: list[Any]) -> list[list[Any]]:
    rows = []
    for r in reports:
        m = r.metrics
        names = r.drifted_columns()
        drifted = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        rows.append(
            [
                f"{r.model}/{r.version}",
                r.route,
                r.window.get("label"),
                r.rows,
                r.status,
                fmt(m.get("drift.share")),
                drifted or "-",
                fmt(m.get("drift.prediction")),
                f"{fmt(m.get('performance.accuracy'))} ({m.get('performance.labelled_rows', 0)})",
                fmt(m.get("estimated.accuracy")),
                fmt(m.get("health.latency_p95_ms")),
                ", ".join(f"{a['rule']} ({a['state']})" for a in r.alerts) or "-",
            ]
        )
    return rows


@app.command("run")
def run(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option(help="one model (default: every model with versions)")] = None,
    window: Annotated[
        str | None, typer.Option(help="time window up to now, e.g. 15m, 1h, 1d (default: monitoring.window)")
    ] = None,
    last: Annotated[int | None, typer.Option(help="the last N logged rows instead of a time window")] = None,
    version: Annotated[int | None, typer.Option(help="only this version")] = None,
    route: Annotated[str | None, typer.Option(help="only this route: production, canary, shadow, …")] = None,
    html: Annotated[
        str | None, typer.Option(help=f"also write the first report as HTML here: {HTML_TARGET}")
    ] = None,
    json: JSON = False,
) -> None:
    """Check a window of the prediction log: one stored report per model version and route."""
    project = project_from(ctx)
    seconds = _seconds(window, last, project.config.monitoring.window)
    with busy("monitoring…"):
        reports = project.monitor(model, seconds=seconds, last=last, version=version, route=route)
    written = project.write_monitor_html(reports[0], html) if html is not None and reports else None
    if json:
        print_json([r.to_dict() for r in reports])
        return
    table(
        "monitoring",
        COLUMNS,
        _summary_rows(reports),
    )
    for r in reports:
        for note in r.notes():
            console.print(f"[yellow]{r.model}/{r.version} {r.route}:[/] {note}", highlight=False)
    if written is not None:
        console.print(f"report written to {written}")


@app.command("history")
def history(
    ctx: typer.Context,
    model: str,
    version: Annotated[int | None, typer.Option(help="only this version")] = None,
    route: Annotated[str | None, typer.Option(help="only this route")] = None,
    limit: Annotated[int, typer.Option(help="newest N reports")] = 50,
    json: JSON = False,
) -> None:
    """Stored reports of a model over time: drift, performance and health."""
    rows = project_from(ctx).monitor_history(model, version=version, route=route, limit=limit)
    if json:
        print_json([_summary(r) for r in rows])
        return
    table(
        f"monitoring history of {model}",
        ["time", "report", "v", "route", "rows", "drift", "acc.", "est.", "p95", Col("status", detail=True)],
        [
            [
                fmt(r.created_at)[:16],  # to the minute: the full line fits 80 columns
                r.id[:8],
                r.version,
                r.route,
                r.rows,
                _num(r.metrics.get("drift.share"), 3),
                _num(r.metrics.get("performance.accuracy"), 3),
                _num(r.metrics.get("estimated.accuracy"), 3),
                _num(r.metrics.get("health.latency_p95_ms"), 1),
                "" if r.status == "ok" else r.status,
            ]
            for r in rows
        ],
        legend=HISTORY_LEGEND,
    )


def _summary(r: MonitorReportRecord) -> dict[str, Any]:
    """A history line for --json: the stored summary, without the full report (not read for a history)."""
    return {k: v for k, v in dataclasses.asdict(r).items() if k != "report"}


def _full_id(reports: list[MonitorReportRecord], given: str) -> str:
    """The id of the one report that starts with ``given`` (the history shows 8 characters of each)."""
    found = [r.id for r in reports if r.id.startswith(given)]
    if len(found) > 1 and given not in found:
        raise ConfigError(f"--id {given!r} starts {len(found)} report ids; give more of it")
    return found[0] if len(found) == 1 else given


def _num(v: Any, digits: int) -> str:
    return "" if v is None else f"{v:.{digits}f}"


@app.command("report")
def report(
    ctx: typer.Context,
    model: str,
    report_id: Annotated[
        str | None,
        typer.Option("--id", help="a report id or its start, as history shows it (default: newest)"),
    ] = None,
    html: Annotated[
        str | None, typer.Option(help=f"write the report as one self-contained HTML page: {HTML_TARGET}")
    ] = None,
    json: JSON = False,
) -> None:
    """Show a stored report (the newest by default), as a table, JSON or an HTML page with plots."""
    project = project_from(ctx)
    if report_id is not None:
        report_id = _full_id(project.monitor_reports(model), report_id)
    rep = project.monitor_report(model, report_id)
    written = project.write_monitor_html(rep, html) if html is not None else None
    if json:
        print_json(rep.to_dict())
        return
    table(
        f"report {rep.id} ({rep.created_at})",
        COLUMNS,
        _summary_rows([rep]),
    )
    table(
        "columns",
        ["column", "method", "statistic", "p-value", "effect", "drift", Col("notes", detail=True)],
        [
            [
                c.column,
                c.method,
                fmt(c.statistic),
                fmt(c.p_value),
                fmt(c.effect_size),
                {True: "DRIFT", False: "no", None: c.status}[c.drifted],
                "; ".join(c.messages),
            ]
            for c in [*rep.columns, *rep.outputs, *rep.label]
        ],
    )
    for note in rep.notes():
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    if written is not None:
        console.print(f"report written to {written}")


@app.command("compare")
def compare(
    reference: Annotated[Path, typer.Argument(help="reference data (.parquet or .csv)")],
    current: Annotated[Path, typer.Argument(help="current data (.parquet or .csv), read in chunks")],
    html: Annotated[
        str | None, typer.Option(help=f"write the drift report as an HTML page: {HTML_TARGET}")
    ] = None,
    json: JSON = False,
) -> None:
    """Plain drift report of two data sets, with the project's monitoring settings when run inside one."""
    from mlfactory.project.monitor import compare_data, write_compare_html

    result = compare_data(reference, current)
    title = f"{current.name} vs {reference.name}"
    written = write_compare_html(result, html, title=title) if html is not None else None
    if json:
        print_json(result)
        return
    d = result["dataset"]
    table(
        f"{current} against {reference}: {result['rows']} rows, drifted share {fmt(d['share'])} "
        f"({'DATASET DRIFT' if d['drifted'] else 'no dataset drift'})",
        ["column", "type", "method", "statistic", "p-value", "effect", "drift", Col("notes", detail=True)],
        [
            [
                c["column"],
                result["types"].get(c["column"], c["kind"]),
                c.get("method"),
                fmt(c.get("statistic")),
                fmt(c.get("p_value")),
                fmt(c.get("effect_size")),
                {True: "DRIFT", False: "no", None: c.get("status")}[c.get("drifted")],
                "; ".join(c.get("messages", [])),
            ]
            for c in result["columns"]
        ],
    )
    for note in result["messages"]:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    if written is not None:
        console.print(f"report written to {written}")
