"""Data: every dataset version with its validation, and one version's profile per column (counts, nulls,
summary statistics, the distribution the profile keeps)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from mlfactory.dashboard.access import Viewer
from mlfactory.dashboard.app import ViewerDep, project
from mlfactory.dashboard.plots import profile_figure
from mlfactory.dashboard.render import render
from mlfactory.project.views import Page

router = APIRouter()
PROFILE_PLOTS = 12  # columns whose distribution is drawn
SUMMARY = ("count", "documents", "nulls", "distinct", "mean", "std", "min", "max")


@router.get("/data", response_class=HTMLResponse)
def data(
    request: Request,
    viewer: Viewer = ViewerDep,
    source: str = "",
    dataset: str = "",
    offset: int = Query(0, ge=0),
    limit: int = Query(25, ge=1, le=200),
) -> HTMLResponse:
    """Dataset versions, newest first, and the chosen one's validation and profile."""
    opened = project(request)
    versions = opened.datasets(source or None)[::-1]
    page = Page(versions[offset : offset + limit], offset, limit, len(versions) > offset + limit)
    chosen = opened.dataset(dataset) if dataset else (versions[0] if versions else None)
    columns: list[tuple[str, dict[str, Any]]] = []
    figures = []
    if chosen is not None:
        columns = [(n, c) for n, c in (chosen.profile.get("columns") or {}).items() if isinstance(c, dict)]
        figures = [f for n, c in columns if (f := profile_figure(n, c)) is not None][:PROFILE_PLOTS]
    params = {"source": source, "dataset": dataset, "limit": limit}
    return render(
        request,
        viewer,
        "data.html",
        {
            "page": page,
            "chosen": chosen,
            "columns": columns,
            "summary": SUMMARY,
            "figures": figures,
            "sources": list(opened.config.sources),
            "params": params,
        },
    )
