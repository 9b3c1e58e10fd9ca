"""A search's run page: its trials by number with the winner marked, each linking to its run, a score chart
and parallel coordinates of the searched params; a trial's page links back to its search."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from integration.test_search_train import SEARCH
from mlfactory.config import ServerConfig
from mlfactory.dashboard import create_dashboard
from mlfactory.dashboard.plots import search_scores_figure
from mlfactory.entities import Run, RunStatus
from mlfactory.project import Project
from mlfactory.project.views import SearchView, Trial
from project_helpers import make_project

TRIALS = 4
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def with_small_search(root: Path) -> None:
    """The quickstart model with the integration test's search (a negative C fails), cut to a few trials."""
    y = root / "mlfactory.yaml"
    search = SEARCH.replace("trials: 6", f"trials: {TRIALS}")
    text, found = re.subn(r"^    split: \{strategy: time\}.*\n", search, y.read_text(), flags=re.M)
    assert found == 1, "the quickstart project file no longer splits by time"
    y.write_text(text)


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, Run, list[Run]]]:
    root = tmp_path_factory.mktemp("search") / "p"
    with make_project(root, rows=600, prepare=with_small_search) as project:
        run = project.run(project.train("spam").run_id)
        trials = sorted(
            project.runs(where=f"tags.parent_run = {run.id}"), key=lambda t: int(t.tags["search.trial"])
        )
        # a trial's error is the estimator's text, shown as text: one that looks like markup stays inert
        marked = next((t for t in trials if t.status is RunStatus.FAILED), trials[-1])
        project.metadata.end_run(marked.id, marked.status, error="bad C: <script>alert(1)</script>")
        yield project, run, [project.run(t.id) for t in trials]


@pytest.fixture(scope="module")
def client(searched: tuple[Project, Run, list[Run]]) -> Iterator[TestClient]:
    project = searched[0]
    app = create_dashboard(lambda: project, server=lambda: ServerConfig())
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        yield c


def figures(html: str) -> dict[str, dict[str, Any]]:
    """The page's figures by their label (the aria-label of each plot)."""
    found = re.findall(
        r'<figure class="plot" aria-label="([^"]+)">.*?<script type="application/json">(.*?)</script>',
        html,
        re.S,
    )
    return {label: json.loads(spec) for label, spec in found}


def test_the_search_page_lists_every_trial_with_the_winner_marked(
    client: TestClient, searched: tuple[Project, Run, list[Run]]
) -> None:
    _, run, trials = searched
    html = client.get(f"/runs/{run.id}").text
    assert len(trials) == TRIALS and 'id="search-h"' in html
    rows = re.findall(
        r"<tr( class=\"winner\"[^>]*)?>\s*<th scope=\"row\"><a href=\"/runs/([0-9a-f]{32})\">(\d+)</a>", html
    )
    assert [(rid, int(n)) for _, rid, n in rows] == [(t.id, int(t.tags["search.trial"])) for t in trials]
    (winner,) = [(rid, int(n)) for marked, rid, n in rows if marked]
    assert str(winner[1]) == run.tags["search.best_trial"]
    best = next(t for t in trials if t.id == winner[0])
    assert best.metrics["f1"] == pytest.approx(run.metrics["search.best.f1"])
    assert ESCAPED in html and "<script>alert(1)" not in html


def test_the_search_page_charts_the_scores_and_the_searched_params(
    client: TestClient, searched: tuple[Project, Run, list[Run]]
) -> None:
    _, _, trials = searched
    charts = figures(client.get(f"/runs/{trials[0].tags['parent_run']}").text)
    scores, params = charts["score by trial"], charts["searched params against the score"]
    complete = [t for t in trials if t.tags["search.state"] == "complete"]
    points = {trace["name"]: trace for trace in scores["data"]}
    by_state: dict[str, int] = {}
    for t in trials:
        by_state[t.tags["search.state"]] = by_state.get(t.tags["search.state"], 0) + 1
    assert {k: len(points[k]["x"]) for k in by_state} == by_state  # every trial once, under its state
    best = points["best so far"]["y"]
    assert len(best) == len(complete) and best == sorted(best)  # f1: the running best only rises
    assert best[-1] == pytest.approx(max(t.metrics["f1"] for t in complete))
    (trace,) = params["data"]
    assert trace["type"] == "parcoords"
    dims = {d["label"]: d for d in trace["dimensions"]}
    assert sorted(dims) == ["C", "class_weight", "f1"]
    assert all(len(d["values"]) == len(complete) for d in dims.values())
    weights = dims["class_weight"]  # a categorical param: its values as ticks
    assert set(weights["ticktext"]) == {
        "null" if t.params["class_weight"] is None else t.params["class_weight"] for t in complete
    }
    assert [weights["ticktext"][v] for v in weights["values"]] == [
        "null" if t.params["class_weight"] is None else t.params["class_weight"] for t in complete
    ]


def test_a_trials_page_links_back_to_its_search(
    client: TestClient, searched: tuple[Project, Run, list[Run]]
) -> None:
    _, run, trials = searched
    html = client.get(f"/runs/{trials[0].id}").text
    assert f'href="/runs/{run.id}" rel="up"' in html and 'id="search-h"' not in html


def test_the_trials_are_read_in_two_queries_and_paged(
    client: TestClient, searched: tuple[Project, Run, list[Run]], monkeypatch: pytest.MonkeyPatch
) -> None:
    project, run, _ = searched
    calls: list[str] = []
    store = project.metadata
    for name in ("find_runs", "list_runs", "get_run", "metric_history", "metric_histories"):
        method = getattr(store, name)
        monkeypatch.setattr(store, name, lambda *a, _m=method, _n=name, **k: calls.append(_n) or _m(*a, **k))
    search = project.search(run)
    assert search is not None and len(search.trials) == TRIALS and not search.has_more
    assert calls == ["find_runs", "metric_histories"]  # whatever the number of trials
    monkeypatch.setattr("mlfactory.project.views.MAX_TRIALS", 2)
    html = client.get(f"/runs/{run.id}").text
    assert len(re.findall(r'<th scope="row"><a href="/runs/[0-9a-f]{32}">', html)) == 2
    assert "Only the first 2 trials are shown" in html


def test_the_score_chart_marks_pruned_and_failed_trials_apart_from_the_running_best(
    searched: tuple[Project, Run, list[Run]],
) -> None:
    run = searched[2][0]
    states = [("complete", 0.5), ("pruned", 0.2), ("failed", None), ("complete", 0.7), ("complete", 0.6)]
    trials = [Trial(run, n, state, score, []) for n, (state, score) in enumerate(states)]
    higher = search_scores_figure(SearchView("f1", True, trials, 3, ["C", "class_weight"], False))
    lower = search_scores_figure(SearchView("rmse", False, trials, 0, ["C", "class_weight"], False))
    assert higher is not None and lower is not None
    traces = {t["name"]: t for t in higher["data"]}
    assert (traces["complete"]["x"], traces["complete"]["y"]) == ([0, 3, 4], [0.5, 0.7, 0.6])
    assert (traces["pruned"]["x"], traces["pruned"]["y"]) == ([1], [0.2])
    assert (traces["failed"]["x"], traces["failed"]["y"]) == ([2], [0.2])  # unscored: at the chart's floor
    symbols = {name: t["marker"]["symbol"] for name, t in traces.items() if name != "best so far"}
    assert len(set(symbols.values())) == 3  # each state its own marker
    best = traces["best so far"]
    assert (best["x"], best["y"]) == ([0, 3, 4], [0.5, 0.7, 0.7])  # complete trials only, never falling
    assert next(t for t in lower["data"] if t["name"] == "best so far")["y"] == [0.5, 0.5, 0.5]
