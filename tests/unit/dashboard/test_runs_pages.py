"""The runs pages over a project whose runs logged long histories: ordered by a metric's latest value,
and charts that hold what they draw, cut by the store."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.testclient import TestClient

from mlfactory.dashboard.plots import MAX_POINTS
from mlfactory.entities import Metric
from mlfactory.project import Project
from unit.dashboard.dashboard_data import RUNS


def run_links(html: str) -> list[str]:
    return re.findall(r'name="id" value="([0-9a-f]{32})"', html)


def figures(html: str) -> list[dict[str, Any]]:
    return [json.loads(f) for f in re.findall(r'<script type="application/json">(.*?)</script>', html, re.S)]


def test_runs_sort_by_a_metrics_latest_value_with_runs_without_it_last(
    client: TestClient, project: Project
) -> None:
    runs = project.runs(limit=500)
    with_f1 = [r for r in runs if "f1" in r.metrics]
    without = [r.id for r in runs if "f1" not in r.metrics]
    assert len(with_f1) == RUNS and without
    largest = [r.id for r in sorted(with_f1, key=lambda r: -r.metrics["f1"])]
    html = client.get(
        "/runs", params={"sort": "metrics.f1", "desc": 1, "limit": 500, "cols": "metrics.f1"}
    ).text
    assert run_links(html) == largest + without
    assert 'aria-sort="descending"' in html and "desc=0" in html  # the header turns the order around
    smallest = client.get("/runs", params={"sort": "metrics.f1", "desc": 0, "limit": 500}).text
    assert run_links(smallest) == largest[::-1] + without
    assert client.get("/runs", params={"sort": "metrics."}).status_code == 422


def test_compare_and_run_charts_hold_at_most_what_they_draw(client: TestClient, project: Project) -> None:
    a, b = (r.id for r in project.runs(name="spam", limit=2))
    steps = 3 * MAX_POINTS + 7
    for run_id in (a, b):
        project.metadata.log_metrics(run_id, [Metric("long", float(s), s) for s in range(steps)])
    html = client.get("/runs/compare", params=[("id", a), ("id", b), ("metric", "long")]).text
    (chart,) = figures(html)
    assert len(chart["data"]) == 2
    for line in chart["data"]:
        assert len(line["x"]) <= MAX_POINTS and line["x"][0] == 0 and line["x"][-1] == steps - 1
        assert line["y"] == [float(x) for x in line["x"]]
    shown = {f["layout"]["title"]["text"]: f["data"][0] for f in figures(client.get(f"/runs/{a}").text)}
    assert sorted(shown) == ["f1", "long"]  # loss has one step: no chart
    assert len(shown["long"]["x"]) <= MAX_POINTS and shown["long"]["x"][-1] == steps - 1
    assert shown["f1"]["x"] == [0, 1, 2]
