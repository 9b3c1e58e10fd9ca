"""Plotly figures as plain JSON (``{"data": [...], "layout": {...}}``): the page embeds them and
``dashboard.js`` draws them with the plotly.js the app serves. Each takes already aggregated values: a page
never hands a plot more points than it shows."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

from mlfactory.dashboard.live import ModelLive
from mlfactory.entities import Metric, ModelVersion, MonitorReportRecord
from mlfactory.project.views import SearchView, Trial

Figure = dict[str, Any]
MAX_POINTS = 500  # a step chart keeps at most this many points per run (every n-th, the last kept)


def _layout(title: str, x: str, y: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": title, "font": {"size": 14}},
        "xaxis": {"title": {"text": x}, "automargin": True},
        "yaxis": {"title": {"text": y}, "automargin": True},
        "margin": {"l": 50, "r": 20, "t": 40, "b": 40},
        "height": 300,
        "legend": {"orientation": "h"},
        **extra,
    }


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def traffic_figure(models: Sequence[ModelLive]) -> Figure | None:
    """Rows answered in the last hour per model, one bar group per route (None without traffic)."""
    routes = sorted({t.route for m in models for t in m.traffic})
    if not routes:
        return None
    data = [
        {
            "type": "bar",
            "name": route,
            "x": [m.name for m in models],
            "y": [sum(t.rows for t in m.traffic if t.route == route) for m in models],
        }
        for route in routes
    ]
    return {"data": data, "layout": _layout("rows answered, last hour", "model", "rows", barmode="group")}


def versions_figure(versions: Sequence[ModelVersion], keys: Sequence[str]) -> Figure | None:
    """Each numeric holdout metric across a model's versions (None without one)."""
    data = []
    for key in keys:
        points = [(v.version, _finite(v.metrics.get(key))) for v in versions]
        points = [(x, y) for x, y in points if y is not None]
        if points:
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": key,
                    "x": [x for x, _ in points],
                    "y": [y for _, y in points],
                }
            )
    if not data:
        return None
    layout = _layout("holdout metrics by version", "version", "value")
    layout["xaxis"]["tickformat"] = "d"  # versions are whole numbers
    if len(versions) <= 20:
        layout["xaxis"]["dtick"] = 1
    return {"data": data, "layout": layout}


def thin(values: Sequence[Metric], most: int = MAX_POINTS) -> list[Metric]:
    """At most ``most`` values, evenly spread, keeping the last (what a reader compares)."""
    if len(values) <= most:
        return list(values)
    step = math.ceil(len(values) / most)
    kept = list(values[::step])
    return kept if kept[-1] is values[-1] else [*kept, values[-1]]


def steps_figure(key: str, histories: Mapping[str, Sequence[Metric]]) -> Figure | None:
    """One metric by step, one line per run (None when no run logged more than one step of it)."""
    if all(len(h) < 2 for h in histories.values()):
        return None
    data = []
    for label, history in histories.items():
        kept = thin(history)
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": label,
                "x": [m.step for m in kept],
                "y": [_finite(m.value) for m in kept],
            }
        )
    return {"data": data, "layout": _layout(key, "step", key)}


def history_figure(title: str, keys: Sequence[str], records: Sequence[MonitorReportRecord]) -> Figure | None:
    """Stored report metrics over time, one line per metric and (version, route) (None without values)."""
    series: dict[str, tuple[list[str], list[float]]] = {}
    for record in records:
        for key in keys:
            value = _finite(record.metrics.get(key))
            if value is None:
                continue
            name = f"{key} v{record.version} {record.route or ''}".strip()
            xs, ys = series.setdefault(name, ([], []))
            xs.append(record.created_at.isoformat())
            ys.append(value)
    if not series:
        return None
    data = [
        {"type": "scatter", "mode": "lines+markers", "name": n, "x": x, "y": y}
        for n, (x, y) in series.items()
    ]
    return {"data": data, "layout": _layout(title, "", "")}


def distribution_figure(column: str, plot: Mapping[str, Any]) -> Figure | None:
    """A column's reference against its current distribution, as shares per bin or category."""
    labels = plot.get("labels")
    if not labels or "reference" not in plot or "current" not in plot:
        return None
    data = [
        {"type": "bar", "name": side, "x": list(labels), "y": list(plot[side])}
        for side in ("reference", "current")
    ]
    legend = {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 1.0, "xanchor": "right"}
    layout = _layout(column, "", "share of rows", barmode="group", height=280, legend=legend)
    return {"data": data, "layout": layout}


TOP_CATEGORIES = 15  # categories a profile plot shows (the most frequent)


def profile_figure(column: str, profile: Mapping[str, Any]) -> Figure | None:
    """A column's distribution as its dataset profile keeps it: counts per bin of a number, the most
    frequent categories (None for text, times and anything else)."""
    bins = profile.get("bins")
    if isinstance(bins, Mapping) and bins.get("counts"):
        edges = list(bins.get("edges") or [])
        labels = [f"{a:g} to {b:g}" for a, b in pairwise(edges)] or ["all"]
        counts = list(bins["counts"])[: len(labels)]
        data = [{"type": "bar", "x": labels, "y": counts, "name": column}]
    elif isinstance(profile.get("frequencies"), Mapping):
        top = sorted(profile["frequencies"].items(), key=lambda kv: -kv[1])[:TOP_CATEGORIES]
        data = [{"type": "bar", "x": [str(k) for k, _ in top], "y": [v for _, v in top], "name": column}]
    else:
        return None
    return {"data": data, "layout": _layout(column, "", "rows", height=260, showlegend=False)}


_TRIAL_MARKERS = {"complete": "circle", "pruned": "triangle-down-open", "failed": "x"}


def _trial_points(state: str, trials: Sequence[Trial], floor: float | None) -> Figure:
    """One state's trials as markers at their score (a failed trial, which has none, at ``floor``)."""
    return {
        "type": "scatter",
        "mode": "markers",
        "name": state,
        "marker": {"symbol": _TRIAL_MARKERS.get(state, "circle"), "size": 8},
        "x": [t.number for t in trials],
        "y": [floor if t.state == "failed" else _finite(t.score) for t in trials],
        "text": [(t.run.error or "")[:200] if t.state == "failed" else "" for t in trials],
    }


def search_scores_figure(search: SearchView) -> Figure | None:
    """A search's score by trial number: a marker per trial (its state's symbol; a failed one, unscored, at
    the bottom of the chart) and the best complete score so far as a line (None without trials)."""
    if not search.trials:
        return None
    scored = [s for t in search.trials if (s := _finite(t.score)) is not None]
    floor = min(scored) if scored else 0.0
    states = dict.fromkeys(t.state for t in search.trials)
    data = [_trial_points(state, [t for t in search.trials if t.state == state], floor) for state in states]
    pick = max if search.maximize else min
    xs: list[int] = []
    ys: list[float] = []
    for t in search.trials:
        score = _finite(t.score)
        if t.state == "complete" and score is not None:
            xs.append(t.number)
            ys.append(score if not ys else pick(ys[-1], score))
    if xs:
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "line": {"shape": "hv"},
                "name": "best so far",
                "x": xs,
                "y": ys,
            }
        )
    layout = _layout(f"{search.metric} by trial", "trial", search.metric)
    layout["xaxis"]["tickformat"] = "d"
    return {"data": data, "layout": layout}


def _dimension(label: str, values: Sequence[Any]) -> dict[str, Any]:
    """One parcoords axis: numbers as they are, anything else (text, null, booleans) as sorted ticks."""
    if all(_finite(v) is not None for v in values):
        return {"label": label, "values": [float(v) for v in values]}
    names = sorted({"null" if v is None else str(v) for v in values})
    index = {n: i for i, n in enumerate(names)}
    return {
        "label": label,
        "values": [index["null" if v is None else str(v)] for v in values],
        "tickvals": list(range(len(names))),
        "ticktext": names,
        "range": [0, max(len(names) - 1, 1)],
    }


def search_params_figure(search: SearchView) -> Figure | None:
    """The complete trials' searched params against their score, one line per trial, as parallel
    coordinates coloured by the score (None unless two or more params were searched and a trial completed)."""
    done = [t for t in search.trials if t.state == "complete" and _finite(t.score) is not None]
    if len(search.searched) < 2 or not done:
        return None
    scores = [float(t.score or 0.0) for t in done]
    dimensions = [_dimension(k, [t.run.params.get(k) for t in done]) for k in search.searched]
    dimensions.append({"label": search.metric, "values": scores})
    trace = {
        "type": "parcoords",
        "line": {
            "color": scores,
            "colorscale": "Viridis",
            "showscale": True,
            "reversescale": not search.maximize,
        },
        "dimensions": dimensions,
    }
    layout = _layout(f"searched params against {search.metric}", "", "", height=360)
    layout["margin"] = {"l": 60, "r": 60, "t": 70, "b": 30}
    return {"data": [trace], "layout": layout}
