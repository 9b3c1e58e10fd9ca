"""Runs: one page at a time, filtered with the language of `runs list --where`, sorted by the store, columns
chosen by the reader; a run's details; 2 to 50 runs side by side with their differences marked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from mlfactory.dashboard.access import Viewer
from mlfactory.dashboard.app import ViewerDep, project
from mlfactory.dashboard.plots import MAX_POINTS, search_params_figure, search_scores_figure, steps_figure
from mlfactory.dashboard.render import render
from mlfactory.entities import Run
from mlfactory.errors import ConfigError

router = APIRouter()
MAX_COMPARE = 50
DEFAULT_COLUMNS = 4  # metric columns shown when the reader chose none


@dataclass(frozen=True)
class Row:
    """One compared field: its values per run (in the runs' order) and whether they differ."""

    key: str
    values: list[Any]

    @property
    def differs(self) -> bool:
        return len({repr(v) for v in self.values}) > 1


def columns_of(text: str | None, runs: Sequence[Run]) -> list[str]:
    """The reader's columns (``metrics.f1, params.C``), else the first metrics the page's runs hold."""
    if text and text.strip():
        cols = [c.strip() for c in text.split(",") if c.strip()]
        bad = [c for c in cols if c.partition(".")[0] not in ("metrics", "params", "tags") or "." not in c]
        if bad:
            raise ConfigError(
                f"columns are metrics.KEY, params.KEY or tags.KEY; cannot show {', '.join(bad)}"
            )
        return cols
    keys = sorted({k for r in runs for k in r.metrics})
    return [f"metrics.{k}" for k in keys[:DEFAULT_COLUMNS]]


def cell(run: Run, column: str) -> Any:
    kind, _, key = column.partition(".")
    source: Mapping[str, Any] = {"metrics": run.metrics, "params": run.params, "tags": run.tags}[kind]
    return source.get(key)


@router.get("/runs", response_class=HTMLResponse)
def runs(
    request: Request,
    viewer: Viewer = ViewerDep,
    where: str = "",
    name: str = "",
    status: str = "",
    sort: str = "started",
    desc: int = Query(1, ge=0, le=1),
    offset: int = Query(0, ge=0),
    limit: int = Query(50, ge=1, le=500),
    cols: str = "",
    archived: int = Query(0, ge=0, le=1),
) -> HTMLResponse:
    """One page of runs (archived ones too with ``archived=1``); the filters are the query string, so the
    page's URL can be shared."""
    page = project(request).runs_page(
        where=where or None,
        name=name or None,
        status=status or None,
        sort=sort,
        descending=bool(desc),
        offset=offset,
        limit=limit,
        archived=bool(archived),
    )
    columns = columns_of(cols, page.items)
    params = {"where": where, "name": name, "status": status, "sort": sort, "desc": desc, "limit": limit}
    params |= {"archived": archived} if archived else {}
    return render(
        request,
        viewer,
        "runs.html",
        {
            "page": page,
            "params": {**params, "cols": cols},
            "columns": columns,
            "cells": [[cell(r, c) for c in columns] for r in page.items],
        },
    )


@router.get("/runs/compare", response_class=HTMLResponse)
def compare(
    request: Request,
    viewer: Viewer = ViewerDep,
    id: Annotated[list[str] | None, Query()] = None,
    metric: str = "",
    only_differences: int = Query(0, ge=0, le=1),
) -> HTMLResponse:
    """Runs side by side: params, metrics and environments, differing rows marked (or alone, with
    ``only_differences=1``); one metric by step."""
    ids = list(dict.fromkeys(id or []))
    if not 2 <= len(ids) <= MAX_COMPARE:
        raise ConfigError(f"compare 2 to {MAX_COMPARE} runs: tick them on the runs page ({len(ids)} given)")
    opened = project(request)
    found, table = opened.compare_runs(ids)
    rows = [Row(k, [v.get(r.id) for r in found]) for k, v in table.items()]
    env_keys = sorted({k for r in found for k in flat(r.environment)})
    envs = [flat(r.environment) for r in found]
    env_rows = [Row(f"environment.{k}", [e.get(k) for e in envs]) for k in env_keys]
    shown = [row for row in rows + env_rows if row.differs or not only_differences]
    metrics = sorted({k for r in found for k in r.metrics})
    chosen = metric if metric in metrics else (metrics[0] if metrics else "")
    figure = None
    if chosen:  # one query for every run's line, each cut by the database to what the chart draws
        series = opened.metric_histories([r.id for r in found], [chosen], most=MAX_POINTS)
        figure = steps_figure(chosen, {f"{r.name} {r.id[:8]}": series[r.id][chosen] for r in found})
    return render(
        request,
        viewer,
        "compare.html",
        {
            "runs": found,
            "rows": shown,
            "metrics": metrics,
            "chosen": chosen,
            "figure": figure,
            "params": {"id": [r.id for r in found], "metric": chosen, "only_differences": only_differences},
        },
    )


def flat(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested JSON as dotted keys (``packages.numpy``)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            out |= flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_detail(request: Request, run_id: str, viewer: Viewer = ViewerDep) -> HTMLResponse:
    """One run: params, metrics (with a step chart of each metric logged at several steps), environment; a
    search's trials with their scores and params charted, or, for a trial, a link to its search."""
    opened = project(request)
    run = opened.run(run_id)
    series = opened.metric_histories([run.id], sorted(run.metrics), most=MAX_POINTS)[run.id]
    figures = []
    for key, history in series.items():
        figure = steps_figure(key, {run.name: history})
        if figure is not None:
            figures.append(figure)
    search = opened.search(run)
    context = {"run": run, "environment": flat(run.environment), "figures": figures, "search": search}
    if search is not None:
        context |= {"scores": search_scores_figure(search), "parcoords": search_params_figure(search)}
    return render(request, viewer, "run.html", context)
