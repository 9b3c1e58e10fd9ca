"""The overview: the maturity level with its evidence, what is live per model, alerts and newest events."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from mlfactory.dashboard.access import Viewer
from mlfactory.dashboard.app import ViewerDep, project
from mlfactory.dashboard.live import all_live
from mlfactory.dashboard.plots import traffic_figure
from mlfactory.dashboard.render import render

router = APIRouter()
ALERT_KINDS = ("monitor.alert",)
NEWEST = 10  # events the overview lists


def _live_context(request: Request) -> dict[str, object]:
    opened = project(request)
    models = all_live(opened)
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
