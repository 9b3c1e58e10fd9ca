"""The overview: the maturity level with its evidence, what is live per model, alerts and newest events.

A load reads the prediction log once (:meth:`Project.live_traffic`: one DuckDB scan grouped by model, version
and route, covering the last hour and every running canary since it started, on a cursor of the reader's one
connection, which loads share as opening one costs tens of milliseconds) and each model's last decision
through the event log's (model, time) index, so its cost does not grow with the number of models or events.
Latency percentiles are exact (``quantile_cont``): DuckDB's approximate ``approx_quantile`` is no faster on
the log's columns.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from mlfactory.dashboard.access import Viewer
from mlfactory.dashboard.app import ViewerDep, project
from mlfactory.dashboard.live import DECISIONS, TRAFFIC_WINDOW_S, ModelLive, Routes
from mlfactory.dashboard.plots import traffic_figure
from mlfactory.dashboard.render import render
from mlfactory.entities import PRODUCTION
from mlfactory.project.views import CANARY_ROUTE, CanaryProgress

if TYPE_CHECKING:
    from mlfactory.project import Project
    from mlfactory.project.views import RouteTable

router = APIRouter()
ALERT_KINDS = ("monitor.alert",)
NEWEST = 10  # events the overview lists


def _progress(opened: Project, table: RouteTable, started: datetime | None, rows: int) -> CanaryProgress:
    rules = opened.rollout_rules(table.model)
    return CanaryProgress(
        model=table.model,
        version=int(table.canary or 0),
        weight=table.canary_weight,
        started=started,
        rows=rows,
        min_rows=rules.min_canary_rows if rules is not None else None,
    )


def models_live(opened: Project) -> list[ModelLive]:
    """Every registered model, by name, as it serves now (a :class:`~mlfactory.dashboard.live.ModelLive`
    each)."""
    live = Routes.read(opened)
    canaries = {
        (n, int(live.tables[n].canary or 0), CANARY_ROUTE): s for n, s in live.starts.items() if s is not None
    }
    traffic = opened.live_traffic(seconds=TRAFFIC_WINDOW_S, starts=canaries)
    canary_rows = {group[0]: traffic.rows_since.get(group, 0) for group in canaries}
    last = opened.metadata.latest_events(list(live.tables), DECISIONS)
    return [
        ModelLive(
            name=n,
            aliases=t.aliases,
            production=t.aliases.get(PRODUCTION),
            canary=_progress(opened, t, live.starts[n], canary_rows.get(n, 0)) if n in live.starts else None,
            ab=t.ab,
            sticky_key=t.key,
            shadow=t.shadow,
            traffic_percent=t.traffic_percent,
            managed=n in live.rollouts,
            state=live.state(n),
            paused=live.paused(n),
            last_decision=last.get(n),
            traffic=traffic.routes.get(n, []),
        )
        for n, t in live.tables.items()
    ]


def _live_context(request: Request) -> dict[str, object]:
    opened = project(request)
    models = models_live(opened)
    return {
        "models": models,
        "traffic_plot": traffic_figure(models),
        "alerts": opened.events_page(kinds=ALERT_KINDS, limit=5).items,
        "events": opened.events_page(limit=NEWEST).items,
    }


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, viewer: Viewer = ViewerDep) -> HTMLResponse:
    """The maturity level (as `mlfactory status`), then the live part (refreshed by htmx)."""
    from mlfactory.control import assess  # the same assessment `mlfactory status` prints

    maturity = assess(project(request))
    return render(request, viewer, "overview.html", {"maturity": maturity, **_live_context(request)})


@router.get("/fragments/overview", response_class=HTMLResponse)
def overview_live(request: Request, viewer: Viewer = ViewerDep) -> HTMLResponse:
    """The overview's live part alone: models, traffic, alerts and events."""
    return render(request, viewer, "_overview_live.html", _live_context(request))
