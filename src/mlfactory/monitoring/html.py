"""One self-contained HTML page per report: a summary, distribution overlays, drift and performance over time.

Plots are drawn by plotly's JavaScript embedded from the installed plotly package, so the page opens with no
network at all.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from mlfactory.monitoring.report import MonitorReport

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


def _overlay(check: dict[str, Any]) -> str:
    import plotly.graph_objects as go

    plot = check.get("plot") or {}
    if not plot.get("labels"):
        return ""
    fig = go.Figure(
        [
            go.Bar(name="reference", x=plot["labels"], y=plot["reference"]),
            go.Bar(name="current", x=plot["labels"], y=plot["current"]),
        ]
    )
    title = f"{check['column']}: {check.get('method')} {_fmt(check.get('statistic'))}"
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


def _rows(checks: Sequence[dict[str, Any]]) -> str:
    out = []
    for c in checks:
        state = {
            True: '<span class="drift">drift</span>',
            False: '<span class="ok">no drift</span>',
            None: f'<span class="note">{html.escape(c.get("status", ""))}</span>',
        }[c.get("drifted")]
        out.append(
            "<tr>"
            + "".join(
                f"<td>{v}</td>"
                for v in (
                    html.escape(c["column"]),
                    html.escape(c.get("kind", "")),
                    _fmt(c.get("method")),
                    _fmt(c.get("statistic")),
                    _fmt(c.get("p_value")),
                    _fmt(c.get("effect_size")),
                    _fmt(c.get("threshold")),
                    state,
                    c.get("n_current", 0),
                    html.escape("; ".join(c.get("messages", []))),
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


def _history(history: Sequence[dict[str, Any]]) -> str:
    import plotly.graph_objects as go

    if len(history) < 2:
        return "<p>History plots appear once there are two or more reports.</p>"
    times = [h["created_at"] for h in history]
    fig = go.Figure()
    for key, name in (
        ("drift.share", "drifted share of columns"),
        ("performance.accuracy", "realized accuracy"),
        ("estimated.accuracy", "estimated accuracy"),
        ("drift.prediction_effect", "prediction drift effect"),
    ):
        values = [(h.get("metrics") or {}).get(key) for h in history]
        if any(v is not None for v in values):
            fig.add_trace(go.Scatter(x=times, y=values, mode="lines+markers", name=name))
    fig.update_layout(title="drift and performance over time", height=360, margin={"t": 50, "b": 40})
    return _figure(fig)


def render_html(report: MonitorReport, history: Sequence[dict[str, Any]] = ()) -> str:
    """The report as one HTML page (plotly's JavaScript inlined; no network needed to view it)."""
    from plotly.offline import get_plotlyjs

    m = report.metrics
    title = (
        f"{report.model} – {report.window.get('label')}"
        if report.version is None
        else (f"{report.model} v{report.version} ({report.route}) – {report.window.get('label')}")
    )
    cards = [
        ("rows", report.rows),
        ("status", report.status),
        ("dataset drift", report.drift.get("drifted")),
        ("drifted share", m.get("drift.share")),
        ("prediction drift", m.get("drift.prediction")),
        ("labelled rows", m.get("performance.labelled_rows")),
        ("accuracy", m.get("performance.accuracy")),
        ("estimated accuracy", m.get("estimated.accuracy")),
        ("p95 latency ms", m.get("health.latency_p95_ms")),
    ]
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>window {_fmt(report.window.get('since'))} → {_fmt(report.window.get('until'))}; "
        f"report {_fmt(report.id)} made {_fmt(report.created_at)}</p>",
        '<div class="cards">'
        + "".join(f'<div class="card"><b>{k}</b><br>{_fmt(v)}</div>' for k, v in cards)
        + "</div>",
    ]
    notes = list(report.messages) + list((report.performance or {}).get("messages", []))
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
    parts.append("<h2>Input drift</h2>" + _rows(report.columns))
    if report.outputs or report.label:
        parts.append("<h2>Prediction and label drift</h2>" + _rows([*report.outputs, *report.label]))
    perf = report.performance or {}
    rows = [
        (k, (perf.get("realized") or {}).get(k), (perf.get("estimated") or {}).get(k))
        for k in ("accuracy", "precision", "recall", "f1", "mae", "rmse")
        if k in (perf.get("realized") or {}) or k in (perf.get("estimated") or {})
    ]
    if rows:
        parts.append(
            "<h2>Performance</h2><table><tr><th>metric</th><th>realized</th><th>estimated</th></tr>"
            + "".join(f"<tr><td>{k}</td><td>{_fmt(r)}</td><td>{_fmt(e)}</td></tr>" for k, r, e in rows)
            + "</table>"
        )
    for test in (perf.get("tests") or {}).values():
        parts.append(
            f"<p>{html.escape(test['method'])}: p = {_fmt(test['p_value'])}, "
            f"{'<span class=drift>flagged</span>' if test['drifted'] else 'not flagged'}</p>"
        )
    if report.health:
        h = report.health
        parts.append(
            "<h2>Service health</h2><table>"
            + "".join(
                f"<tr><th>{k}</th><td>{_fmt(h.get(k))}</td></tr>"
                for k in (
                    "rows",
                    "throughput_rps",
                    "latency_p50_ms",
                    "latency_p95_ms",
                    "latency_p99_ms",
                    "error_rate",
                )
            )
            + "</table>"
            + (f'<p class="note">{html.escape(h["error_note"])}</p>' if h.get("error_note") else "")
        )
    drifted = [c for c in [*report.columns, *report.outputs] if c.get("drifted")]
    shown = drifted[:MAX_OVERLAYS] or [c for c in report.outputs if c.get("plot")][:2]
    if shown:
        parts.append("<h2>Distributions</h2>" + "".join(_overlay(c) for c in shown))
    parts.append("<h2>Over time</h2>" + _history(history))
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
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
        drift=result["dataset"],
        columns=result["columns"],
        messages=result.get("messages", []),
    )
    report.metrics = {"drift.share": result["dataset"].get("share")}
    return render_html(report)
