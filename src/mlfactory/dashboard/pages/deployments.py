"""Deployments: the live route table of every model and a running canary's comparison with the champion,
refreshed by htmx at the server's reload interval (routes change no faster).

A page load reads the prediction log once: one DuckDB connection and one scan over the rows every running
canary and its champion answered since the canary started. The comparison is the controller's own
(:func:`mlfactory.control.canary.analyze_canary` on the same rows, labels and failed requests), so the page
shows the p-values and thresholds the controller decides on, never a second computation of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd
import pyarrow as pa
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from mlfactory.control.canary import Verdict, analyze_canary
from mlfactory.control.steps.base import Deps, classes_of, failed_rows
from mlfactory.dashboard.access import Viewer
from mlfactory.dashboard.app import ViewerDep, project
from mlfactory.dashboard.live import Routes
from mlfactory.dashboard.render import render
from mlfactory.entities import PRODUCTION
from mlfactory.project.views import CANARY_ROUTE

if TYPE_CHECKING:
    from mlfactory.config import RolloutConfig
    from mlfactory.project import Project
    from mlfactory.project.views import RouteTable

router = APIRouter()
SIDES = ("challenger", "champion")


@dataclass(frozen=True)
class Canary:
    """A running canary as the page shows it.

    Attributes:
        version, champion: the challenger on the canary route and the production version it is compared
            with (None without a production alias).
        weight: the canary's percent of traffic.
        started: when it went live (None when no routing change or rollout records it).
        rows: rows the canary route answered since it started.
        rules: the model's rollout policy (the thresholds), None for a model without a controller policy.
        verdict: the controller's comparison on the rows so far (None without rules or a champion).
    """

    version: int
    champion: int | None
    weight: float
    started: datetime | None
    rows: int
    rules: RolloutConfig | None
    verdict: Verdict | None

    @property
    def min_rows(self) -> int | None:
        return self.rules.min_canary_rows if self.rules is not None else None

    @property
    def percent(self) -> float | None:
        """How far along the minimum rows are, 0-100 (None without a minimum)."""
        return None if not self.min_rows else min(100.0, 100.0 * self.rows / self.min_rows)


@dataclass(frozen=True)
class Deployment:
    """One model on the page: its routes, the controller's state for it, and its canary."""

    name: str
    routes: RouteTable
    managed: bool
    state: str | None
    paused: bool
    canary: Canary | None


@dataclass(frozen=True)
class _Wanted:
    """A canary whose rows the page's one scan reads."""

    model: str
    version: int
    champion: int | None
    started: datetime


def _sides_sql(wanted: Sequence[_Wanted], until: datetime) -> tuple[str, list[Any]]:
    """The WHERE clause picking each canary's rows and its champion's production rows since it started
    (the time range first, so DuckDB skips the segments' row groups outside it)."""
    parts, params = [], [min(w.started for w in wanted), until]  # type: list[str], list[Any]
    for w in wanted:
        parts.append(
            "(model = ? AND time >= ? AND "
            f"((version = ? AND route = '{CANARY_ROUTE}') OR (version = ? AND route = '{PRODUCTION}')))"
        )
        params += [w.model, w.started, w.version, w.champion if w.champion is not None else -1]
    return f"time >= ? AND time < ? AND ({' OR '.join(parts)})", params


def _scan(opened: Project, wanted: Sequence[_Wanted], until: datetime) -> pd.DataFrame:
    """Every wanted canary's rows and its champion's, with the label received for each (NaN without one),
    in one DuckDB scan of the prediction log."""
    since = min(w.started for w in wanted)
    labels = opened.metadata.get_feedback(since=since)  # a row's label arrives after the row was logged
    keyed = pa.table(
        {"request_id": pa.array([f.request_id for f in labels], pa.string()), "at": range(len(labels))}
    )
    where, params = _sides_sql(wanted, until)
    one_model = wanted[0].model if len({w.model for w in wanted}) == 1 else None

    def run(con: duckdb.DuckDBPyConnection, files: list[Any]) -> pd.DataFrame:
        con.register("labels", keyed)
        source = opened.predictions.source(con, files)
        sql = (
            "SELECT model, version, route, prediction, latency_ms, labels.at AS label_at "
            f"FROM {source} AS log LEFT JOIN labels USING (request_id) WHERE {where}"
        )
        return con.execute(sql, params).df()

    empty = pd.DataFrame(columns=["model", "version", "route", "prediction", "latency_ms", "label_at"])
    frame = opened.predictions.read(one_model, since, until, run, empty)
    values = pd.Series([*(f.label for f in labels), None], dtype=object).to_numpy()  # the last: no label
    at = frame["label_at"].fillna(len(labels)).to_numpy(dtype="int64")
    return frame.drop(columns=["label_at"]).assign(label=values[at])


def _verdict(
    opened: Project, w: _Wanted, rules: RolloutConfig, rows: dict[str, pd.DataFrame], now: datetime
) -> Verdict:
    """The controller's analysis of the canary on the rows so far (as its canary step computes it)."""
    assert w.champion is not None
    deps = Deps(rollouts=opened.metadata, events=opened.metadata, clock=lambda: now, actor="dashboard")
    failed = failed_rows(deps, w.model, w.started)
    keys = {"challenger": (w.version, CANARY_ROUTE), "champion": (w.champion, PRODUCTION)}
    errors = {s: (failed.get(keys[s], 0), failed.get(keys[s], 0) + len(rows[s])) for s in SIDES}
    champion = opened.version(f"{w.model}/{w.champion}")
    return analyze_canary(
        rows["challenger"],
        rows["champion"],
        rules,
        elapsed_s=(now - w.started).total_seconds(),
        classes=classes_of(champion),
        errors=errors,
        task=champion.signature.task,
    )


def _split(frame: pd.DataFrame, w: _Wanted) -> dict[str, pd.DataFrame]:
    """One canary's rows by side: the challenger's on the canary route, the champion's in production."""
    mine = frame[frame["model"] == w.model]
    return {
        "challenger": mine[(mine["version"] == w.version) & (mine["route"] == CANARY_ROUTE)],
        "champion": mine[(mine["version"] == w.champion) & (mine["route"] == PRODUCTION)],
    }


def _canaries(opened: Project, live: Routes) -> dict[str, Canary]:
    """Every running canary with its rows and comparison so far."""
    now = datetime.now(UTC)
    tables = live.tables
    wanted = [
        _Wanted(n, int(t.canary), t.aliases.get(PRODUCTION), when)
        for n, t in tables.items()
        if t.canary is not None and (when := live.starts[n]) is not None
    ]
    frame = _scan(opened, wanted, now) if wanted else pd.DataFrame()
    out = {}
    for w in wanted:
        rows, rules = _split(frame, w), opened.rollout_rules(w.model)
        judged = rules is not None and w.champion is not None
        verdict = _verdict(opened, w, rules, rows, now) if judged and rules is not None else None
        weight = tables[w.model].canary_weight
        out[w.model] = Canary(
            w.version, w.champion, weight, w.started, len(rows["challenger"]), rules, verdict
        )
    for n, t in tables.items():  # a canary without a recorded start: nothing to count its rows from
        if t.canary is not None and n not in out:
            out[n] = Canary(
                t.canary, t.aliases.get(PRODUCTION), t.canary_weight, None, 0, opened.rollout_rules(n), None
            )
    return out


def deployments_of(opened: Project) -> list[Deployment]:
    """Every registered model, by name, with its routes, controller state and canary."""
    live = Routes.read(opened)
    canaries = _canaries(opened, live)
    return [
        Deployment(
            name=n,
            routes=t,
            managed=n in live.rollouts,
            state=live.state(n),
            paused=live.paused(n),
            canary=canaries.get(n),
        )
        for n, t in live.tables.items()
    ]


@router.get("/deployments", response_class=HTMLResponse)
def deployments(request: Request, viewer: Viewer = ViewerDep) -> HTMLResponse:
    return render(request, viewer, "deployments.html", {"models": deployments_of(project(request))})


@router.get("/fragments/deployments", response_class=HTMLResponse)
def deployments_live(request: Request, viewer: Viewer = ViewerDep) -> HTMLResponse:
    """The route table alone, for the page's periodic refresh."""
    return render(request, viewer, "_deployments_live.html", {"models": deployments_of(project(request))})
