"""Deployments: the live route table of every model and a running canary's progress, refreshed by htmx at
the server's reload interval (routes change no faster)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from mlfactory.dashboard.access import Viewer
from mlfactory.dashboard.app import ViewerDep, project
from mlfactory.dashboard.live import all_live
from mlfactory.dashboard.render import render

router = APIRouter()


@router.get("/deployments", response_class=HTMLResponse)
def deployments(request: Request, viewer: Viewer = ViewerDep) -> HTMLResponse:
    return render(request, viewer, "deployments.html", {"models": all_live(project(request))})


@router.get("/fragments/deployments", response_class=HTMLResponse)
def deployments_live(request: Request, viewer: Viewer = ViewerDep) -> HTMLResponse:
    """The route table alone, for the page's periodic refresh."""
    return render(request, viewer, "_deployments_live.html", {"models": all_live(project(request))})
