"""Monitoring: per model, version and route, drift share, performance (realized and estimated) and latency
over the stored reports; the newest report's columns with their statistics and reference-against-current
distributions; alert firings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from mlfactory.dashboard.access import Viewer
from mlfactory.dashboard.app import ViewerDep, project
from mlfactory.dashboard.plots import distribution_figure, history_figure
from mlfactory.dashboard.render import render

router = APIRouter()
HISTORY = 200  # stored reports plotted (the newest)
COLUMN_PLOTS = 8  # distributions drawn per report: the drifted columns first
SERIES = {
    "drift share": ("drift.share",),
    "accuracy, realized and estimated": ("performance.accuracy", "estimated.accuracy"),
    "latency p95 (ms)": ("health.latency_p95_ms",),
}


def _columns(report: dict[str, Any]) -> tuple[list[dict[str, Any]], list[tuple[str, Any]]]:
    """A report's column checks, and the distribution plots of the drifted ones first (at most a few)."""
    columns = [c for c in report.get("columns") or [] if isinstance(c, dict)]
    ranked = sorted(columns, key=lambda c: (c.get("drifted") is not True, c.get("column", "")))
    plots = [
        (str(c.get("column")), distribution_figure(str(c.get("column")), c.get("plot") or {})) for c in ranked
    ]
    return columns, [(name, fig) for name, fig in plots if fig is not None][:COLUMN_PLOTS]


@router.get("/monitoring", response_class=HTMLResponse)
def monitoring(
    request: Request,
    viewer: Viewer = ViewerDep,
    model: str = "",
    version: int | None = Query(None, ge=1),
    route: str = "",
) -> HTMLResponse:
    """One model's monitoring (the first registered model's when none is named)."""
    opened = project(request)
    names = opened.model_names()
    name = model or (names[0] if names else "")
    context: dict[str, Any] = {"names": names, "name": name, "params": {"model": name, "version": version}}
    if name:
        records = opened.monitor_history(name, version=version, route=route or None, limit=HISTORY)
        latest = opened.latest_monitor_reports(name, version=version, route=route or None)
        context |= {
            "records": records,
            "figures": [history_figure(title, keys, records) for title, keys in SERIES.items()],
            "latest": [(r, *_columns(r)) for r in latest],
            "alerts": opened.events_page(model=name, kinds=["monitor.alert"], limit=20).items,
        }
    return render(request, viewer, "monitoring.html", context)
