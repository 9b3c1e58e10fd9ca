"""Models: each model's versions with status, gates, metrics and aliases; the alias history as a timeline;
a version's card, signature, gates and lineage."""

from __future__ import annotations

import math

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from mlfactory.dashboard.access import Viewer
from mlfactory.dashboard.app import ViewerDep, project
from mlfactory.dashboard.plots import versions_figure
from mlfactory.dashboard.render import render
from mlfactory.entities import PRODUCTION, ModelVersion
from mlfactory.project import Project
from mlfactory.project.views import Page

router = APIRouter()
METRIC_COLUMNS = 4  # holdout metrics shown per version in the table


def numeric_keys(versions: list[ModelVersion]) -> list[str]:
    """The holdout metrics that are plain numbers (per-slice results are nested: left to the detail)."""
    keys = {
        k
        for v in versions
        for k, x in v.metrics.items()
        if isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
    }
    return sorted(keys)


def shown_version(opened: Project, name: str, page: Page[ModelVersion], wanted: int | None) -> ModelVersion:
    """The version shown in full: the one asked for, else production, else the newest; taken from the page
    when it is on it (the page's versions are full records), else read once."""
    if wanted is None:
        newest = page if page.offset == 0 and page.items else opened.versions_page(name, limit=1)
        if not newest.items:  # every version archived: the newest of them
            newest = opened.versions_page(name, limit=1, archived=True)
        return newest.items[0]
    on_page = [v for v in page.items if v.version == wanted]
    return on_page[0] if on_page else opened.version(f"{name}/{wanted}")


@router.get("/models", response_class=HTMLResponse)
def models(request: Request, viewer: Viewer = ViewerDep) -> HTMLResponse:
    """Every registered model with where its aliases point."""
    opened = project(request)
    rows = [(n, opened.aliases(n)) for n in opened.model_names()]
    return render(request, viewer, "models.html", {"rows": rows})


@router.get("/models/{name:path}", response_class=HTMLResponse)
def model(
    request: Request,
    name: str,
    viewer: Viewer = ViewerDep,
    version: int | None = Query(None, ge=1),
    offset: int = Query(0, ge=0),
    limit: int = Query(25, ge=1, le=200),
    history_offset: int = Query(0, ge=0),
) -> HTMLResponse:
    """A model: its versions (newest first, a page at a time), the alias timeline, one version in full."""
    opened = project(request)
    page = opened.versions_page(name, offset=offset, limit=limit)
    aliases = opened.aliases(name)
    chosen = shown_version(opened, name, page, version or aliases.get(PRODUCTION))
    keys = numeric_keys(page.items)
    timeline = opened.timeline_page(name, offset=history_offset, limit=20)
    return render(
        request,
        viewer,
        "model.html",
        {
            "name": name,
            "page": page,
            "aliases": aliases,
            "chosen": chosen,
            "columns": keys[:METRIC_COLUMNS],
            "figure": versions_figure(page.items[::-1], keys[:METRIC_COLUMNS]),
            "timeline": timeline,
            "params": {
                "version": version,
                "limit": limit,
                "offset": offset,
                "history_offset": history_offset,
            },
        },
    )
