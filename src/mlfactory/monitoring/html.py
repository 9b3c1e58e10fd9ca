"""One self-contained HTML page per report: a summary, distribution overlays, drift and performance over time.

Plots are drawn by plotly's JavaScript embedded from the installed plotly package, so the page opens with no
network at all.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from mlfactory.entities import MonitorReportRecord
from mlfactory.monitoring.drift import ColumnDrift, DatasetDrift
from mlfactory.monitoring.performance import PerformanceResult
from mlfactory.monitoring.report import (
    DRIFT_SHARE,
    ESTIMATED_PREFIX,
    LABELLED_ROWS,
    PERFORMANCE_PREFIX,
    PREDICTION_DRIFT,
    PREDICTION_EFFECT,
    MonitorReport,
    ReportMetrics,
)

MAX_OVERLAYS = 12
_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:1em 0;font-size:14px}
td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}
th{background:#f4f4f4}.drift{color:#b00020;font-weight:600}.ok{color:#1b5e20}.note{color:#8a6d00}
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1em}
"""


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1e-3 and v != 0 else f"{v:.4f}".rstrip("0").rstrip(".")
    return html.escape(str(v))


def _figure(fig: Any) -> str:
    return str(fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False}))


def _overlay(check: ColumnDrift) -> str:
    import plotly.graph_objects as go

    plot = check.plot
    if not plot.get("labels"):
        return ""
    fig = go.Figure(
        [
            go.Bar(name="reference", x=plot["labels"], y=plot["reference"]),
            go.Bar(name="current", x=plot["labels"], y=plot["current"]),
        ]
    )
    title = f"{check.column}: {check.method} {_fmt(check.statistic)}"
    if plot.get("range"):
        title += f" (reference range {plot['range']})"
    fig.update_layout(
        title=title,
        barmode="group",
        height=320,
        yaxis_title="share of rows",
        margin={"t": 50, "b": 40, "l": 50, "r": 20},
    )
    return _figure(fig)


def _rows(checks: Sequence[ColumnDrift]) -> str:
    out = []
    for c in checks:
        state = {
            True: '<span class="drift">drift</span>',
            False: '<span class="ok">no drift</span>',
            None: f'<span class="note">{html.escape(c.status)}</span>',
        }[c.drifted]
        out.append(
            "<tr>"
            + "".join(
                f"<td>{v}</td>"
                for v in (
                    html.escape(c.column),
                    html.escape(c.kind),
                    _fmt(c.method),
                    _fmt(c.statistic),
                    _fmt(c.p_value),
                    _fmt(c.effect_size),
                    _fmt(c.threshold),
                    state,
                    c.n_current,
                    html.escape("; ".join(c.messages)),
                )
            )
            + "</tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "column",
            "kind",
            "method",
            "statistic",
            "p-value",
            "effect size",
            "threshold",
            "decision",
            "rows",
            "notes",
        )
    )
    return f"<table><tr>{head}</tr>{''.join(out)}</table>"


def _history(history: Sequence[MonitorReportRecord]) -> str:
    import plotly.graph_objects as go

    if len(history) < 2:
        return "<p>History plots appear once there are two or more reports.</p>"
    points = [(h.created_at, ReportMetrics.from_flat(h.metrics)) for h in history]
    times = [t for t, _ in points]
    fig = go.Figure()
    for key, name in (
        (DRIFT_SHARE, "drifted share of columns"),
        (PERFORMANCE_PREFIX + "accuracy", "realized accuracy"),
        (ESTIMATED_PREFIX + "accuracy", "estimated accuracy"),
        (PREDICTION_EFFECT, "prediction drift effect"),
    ):
        values = [m.get(key) for _, m in points]
        if any(v is not None for v in values):
            fig.add_trace(go.Scatter(x=times, y=values, mode="lines+markers", name=name))
    fig.update_layout(title="drift and performance over time", height=360, margin={"t": 50, "b": 40})
    return _figure(fig)


def _title(report: MonitorReport) -> str:
    label = report.window.get("label")
    if report.version is None:
        return f"{report.model} – {label}"
    return f"{report.model} v{report.version} ({report.route}) – {label}"


def _summary(report: MonitorReport) -> list[str]:
    """The heading, the window line and the cards of headline figures."""
    m = ReportMetrics.from_flat(report.metrics)
    cards = [
        ("rows", report.rows),
        ("status", report.status),
        ("dataset drift", report.drift.drifted if report.drift is not None else None),
        ("drifted share", m.drift_share),
        ("prediction drift", m.get(PREDICTION_DRIFT)),  # shown as the stored 1 / 0, as before
        ("labelled rows", report.metrics.get(LABELLED_ROWS)),  # a dash when not measured, not 0
        ("accuracy", m.measured("accuracy")),
        ("estimated accuracy", m.estimated("accuracy")),
        ("p95 latency ms", m.health("latency_p95_ms")),
    ]
    return [
        f"<h1>{html.escape(_title(report))}</h1>",
        f"<p>window {_fmt(report.window.get('since'))} → {_fmt(report.window.get('until'))}; "
        f"report {_fmt(report.id)} made {_fmt(report.created_at)}</p>",
        '<div class="cards">'
        + "".join(f'<div class="card"><b>{k}</b><br>{_fmt(v)}</div>' for k, v in cards)
        + "</div>",
    ]


def _notes_and_alerts(report: MonitorReport) -> list[str]:
    parts = []
    notes = report.notes()
    if notes:
        parts.append(
            "<h2>Notes</h2><ul>" + "".join(f'<li class="note">{html.escape(n)}</li>' for n in notes) + "</ul>"
        )
    if report.alerts:
        parts.append(
            "<h2>Alerts</h2><ul>"
            + "".join(
                f"<li>{html.escape(a['rule'])}: {html.escape(a['message'])} ({a['state']})</li>"
                for a in report.alerts
            )
            + "</ul>"
        )
    return parts


def _performance(perf: PerformanceResult | None) -> list[str]:
    """Realized beside estimated metrics, then the performance tests' decisions."""
    if perf is None:
        return []
    parts = []
    realized = perf.realized or {}
    estimated = perf.estimated.to_json() if perf.estimated is not None else {}
    rows = [
        (k, realized.get(k), estimated.get(k))
        for k in ("accuracy", "precision", "recall", "f1", "mae", "rmse")
        if k in realized or k in estimated
    ]
    if rows:
        parts.append(
            "<h2>Performance</h2><table><tr><th>metric</th><th>realized</th><th>estimated</th></tr>"
            + "".join(f"<tr><td>{k}</td><td>{_fmt(r)}</td><td>{_fmt(e)}</td></tr>" for k, r, e in rows)
            + "</table>"
        )
    tests = perf.tests
    for test in (tests.accuracy_drop, tests.below_estimate) if tests is not None else ():
        if test is not None:
            parts.append(
                f"<p>{html.escape(test.method)}: p = {_fmt(test.p_value)}, "
                f"{'<span class=drift>flagged</span>' if test.drifted else 'not flagged'}</p>"
            )
    return parts


_HEALTH_FIGURES = (
    "rows",
    "throughput_rps",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "error_rate",
)


def _health(h: Mapping[str, Any]) -> list[str]:
    if not h:
        return []
    return [
        "<h2>Service health</h2><table>"
        + "".join(f"<tr><th>{k}</th><td>{_fmt(h.get(k))}</td></tr>" for k in _HEALTH_FIGURES)
        + "</table>"
        + (f'<p class="note">{html.escape(h["error_note"])}</p>' if h.get("error_note") else "")
    ]


def _distributions(report: MonitorReport) -> list[str]:
    drifted = [c for c in [*report.columns, *report.outputs] if c.drifted]
    shown = drifted[:MAX_OVERLAYS] or [c for c in report.outputs if c.plot][:2]
    return ["<h2>Distributions</h2>" + "".join(_overlay(c) for c in shown)] if shown else []


def render_html(report: MonitorReport, history: Sequence[MonitorReportRecord] = ()) -> str:
    """The report as one HTML page (plotly's JavaScript inlined; no network needed to view it).

    Args:
        report: the report to show.
        history: the stored reports of the same model, oldest first, for the plots over time.
    """
    from plotly.offline import get_plotlyjs

    parts = [*_summary(report), *_notes_and_alerts(report)]
    parts.append("<h2>Input drift</h2>" + _rows(report.columns))
    if report.outputs or report.label:
        parts.append("<h2>Prediction and label drift</h2>" + _rows([*report.outputs, *report.label]))
    parts += _performance(report.performance)
    parts += _health(report.health)
    parts += _distributions(report)
    parts.append("<h2>Over time</h2>" + _history(history))
    title = html.escape(_title(report))
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{_STYLE}</style><script type='text/javascript'>{get_plotlyjs()}</script></head>"
        f"<body>{''.join(parts)}</body></html>"
    )


def render_compare_html(result: dict[str, Any], title: str = "data drift") -> str:
    """A plain drift report of two data sets (from :func:`mlfactory.monitoring.compare.compare_files`)."""
    report = MonitorReport(
        model=title,
        version=None,
        route=None,
        window={"label": f"{result.get('reference', 'reference')} vs {result.get('current', 'current')}"},
        rows=result["rows"],
        drift=DatasetDrift.from_json(result["dataset"]),
        columns=[ColumnDrift.from_json(c) for c in result["columns"]],
        messages=result.get("messages", []),
    )
    report.metrics = {DRIFT_SHARE: result["dataset"].get("share")}
    return render_html(report)
