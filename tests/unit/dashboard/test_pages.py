"""Every page and fragment of the dashboard over a small real project: status, content, pagination,
filters, sorting, comparing runs, and user-supplied names shown as text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mlfactory.dashboard import create_dashboard
from mlfactory.project import Project, open_project
from mlfactory.quickstart import init_project
from unit.dashboard.dashboard_data import EVIL, RUNS

PAGES = [
    "/",
    "/fragments/overview",
    "/runs",
    "/models",
    "/models/spam",
    "/models/spam?version=2",
    "/deployments",
    "/fragments/deployments",
    "/events",
    "/data",
    "/monitoring",
    "/monitoring?model=spam&version=1",
    "/lineage/spam/1",
    "/lineage/spam/2",
    "/audit",
    "/login",
]
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def run_links(html: str) -> list[str]:
    """The run ids a runs page lists, in order (from their compare boxes)."""
    return re.findall(r'name="id" value="([0-9a-f]{32})"', html)


@pytest.mark.parametrize("url", PAGES)
def test_every_page_and_fragment_answers(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in response.headers["content-security-policy"]


def test_pages_load_scripts_only_from_the_app(client: TestClient) -> None:
    html = client.get("/").text
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert len(sources) == 4 and all(s.startswith("/") and not s.startswith("//") for s in sources), sources
    for name in ("htmx.min.js", "plotly.min.js", "dashboard.js", "style.css"):
        assert f'/static/{name}"' in html
        response = client.get(f"/static/{name}")
        assert response.status_code == 200 and len(response.content) > 500
    assert client.get("/static/htmx.min.js").text.startswith("/*! htmx 2")
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/static/nothing.js").status_code == 404


def test_overview_shows_maturity_live_routes_and_events(client: TestClient) -> None:
    html = client.get("/").text
    assert "Maturity level" in html
    assert "v2 at 20%" in html  # the canary with its weight
    assert "0/150 rows" in html  # against the quickstart policy's min_canary_rows
    assert "tick 59" in html  # the newest event
    assert 'hx-get="/fragments/overview"' in html and "every 2.0s" in html


def test_a_script_in_a_name_is_shown_as_text(client: TestClient, project: Project) -> None:
    evil_run = project.runs(name=EVIL)[0]
    pages = {
        "/": client.get("/").text,
        "/runs": client.get("/runs?status=failed").text,
        "/run": client.get(f"/runs/{evil_run.id}").text,
        "/models": client.get("/models").text,
        "/model": client.get("/models/" + EVIL.replace("/", "%2F")).text,
        "/events": client.get("/events?model=" + EVIL).text,
        "/deployments": client.get("/deployments").text,
        "/monitoring": client.get("/monitoring?model=spam").text,
        "/lineage": client.get("/lineage/" + EVIL.replace("/", "%2F") + "/1").text,
    }
    for name, html in pages.items():
        assert EVIL not in html, name
        assert ESCAPED in html, name


def test_runs_are_paged_by_the_store_newest_first(client: TestClient, project: Project) -> None:
    newest = [r.id for r in project.runs()]
    first = run_links(client.get("/runs?limit=10").text)
    second = run_links(client.get("/runs?limit=10&offset=10").text)
    assert first == newest[:10] and second == newest[10:20]
    last = client.get(f"/runs?limit=10&offset={RUNS}").text
    assert run_links(last) == newest[RUNS:]
    assert 'rel="next"' not in last and 'rel="prev"' in last


def test_runs_sort_by_name_and_status_both_ways(client: TestClient) -> None:
    ascending = run_links(client.get("/runs?sort=name&desc=0&limit=500").text)
    descending = run_links(client.get("/runs?sort=name&desc=1&limit=500").text)
    assert len(ascending) == RUNS + 1
    # the run named "<script>…" sorts before "spam" by name
    assert ascending[0] == descending[-1]
    by_status = client.get("/runs?sort=status&desc=0&limit=1").text
    assert "failed" in by_status and 'aria-sort="ascending"' in by_status


def test_runs_filter_with_the_where_language(client: TestClient, project: Project) -> None:
    html = client.get("/runs", params={"where": "metrics.f1 >= 0.78 and params.C = 1", "limit": 500}).text
    expected = [r.id for r in project.runs(where="metrics.f1 >= 0.78 and params.C = 1")]
    assert expected and run_links(html) == expected
    bad = client.get("/runs", params={"where": "metrics.f1 ~ 3"})
    assert bad.status_code == 422 and "cannot read filter clause" in bad.text


def test_runs_columns_are_the_readers_choice(client: TestClient) -> None:
    html = client.get("/runs", params={"cols": "params.C, metrics.loss", "limit": 5}).text
    assert ">params.C</th>" in html and ">metrics.loss</a>" in html  # a metric's header sorts by it
    assert client.get("/runs", params={"cols": "secret"}).status_code == 422


def test_compare_marks_the_rows_that_differ(client: TestClient, project: Project) -> None:
    a, b, c = (r.id for r in project.runs(name="spam", limit=3))
    html = client.get("/runs/compare", params=[("id", a), ("id", b), ("id", c)]).text
    differing = re.findall(r'<tr class="differs">\s*<th scope="row">.*?</span> ([\w.]+)</th>', html)
    assert "params.C" in differing and "metrics.f1" in differing
    assert "params.note" not in differing and "params.note" in html
    assert '<figure class="plot"' in html  # f1 was logged at three steps
    assert client.get("/runs/compare", params={"id": a}).status_code == 422
    only = client.get("/runs/compare", params=[("id", a), ("id", b), ("only_differences", 1)]).text
    assert "params.C" in only and "params.note" not in only


def test_run_page_plots_metrics_logged_at_several_steps(client: TestClient, project: Project) -> None:
    run = project.runs(name="spam", limit=1)[0]
    html = client.get(f"/runs/{run.id[:10]}").text
    assert html.count('<figure class="plot"') == 1  # f1 has steps, loss one value
    assert client.get("/runs/ffffffffffff").status_code == 404


def test_model_page_lists_versions_gates_card_and_alias_history(client: TestClient) -> None:
    html = client.get("/models/spam").text
    assert "v3" in html and "rejected" in html and "1/1 passed" in html and "0/1 passed" in html
    assert "Version 1</h2>" in html  # production is shown first
    assert "A card by " + ESCAPED in html
    assert "<code>alias.set</code>" in html and "first" in html
    paged = client.get("/models/spam?limit=1&offset=1").text
    assert 'href="?version=2' in paged and 'href="?version=3' not in paged
    assert client.get("/models/spam?version=9").status_code == 404
    assert client.get("/models/nothing").status_code == 404


def test_deployments_show_the_route_table_and_canary_progress(client: TestClient) -> None:
    html = client.get("/fragments/deployments").text
    assert "canary" in html and "80%" in html and "20%" in html
    assert '<progress max="150" value="0"' in html


def test_events_filter_and_page_newest_first(client: TestClient) -> None:
    html = client.get("/events?actor=robot&limit=5").text
    reasons = re.findall(r"<td>(tick \d+)</td>", html)
    assert reasons == ["tick 58", "tick 56", "tick 54", "tick 52", "tick 50"]
    older = client.get("/events?actor=robot&limit=5&offset=5").text
    assert re.findall(r"<td>(tick \d+)</td>", older)[0] == "tick 48"
    assert 'href="?actor=robot&amp;limit=5&amp;offset=10"' in older
    kinds = client.get("/events?kind=alias.set,routing.set").text
    assert "tick" not in kinds and "routing.set" in kinds
    assert "No event matches" in client.get("/events?since=2999-01-01").text
    assert client.get("/events?since=yesterday").status_code == 422


def test_turned_off_dashboard_answers_404(project: Project) -> None:
    from mlfactory.config import ServerConfig
    from mlfactory.dashboard import create_dashboard

    app = create_dashboard(lambda: project, server=ServerConfig, enabled=lambda: False)
    with TestClient(app) as client:
        assert client.get("/").status_code == 404
        assert client.get("/static/style.css").status_code == 404


def test_monitoring_plots_history_columns_and_alerts(client: TestClient) -> None:
    html = client.get("/monitoring?model=spam").text
    assert "Over the newest 3 reports" in html
    # drift share, accuracy (realized and estimated), and the drifted column's distributions; no latency
    assert html.count('<figure class="plot"') == 3
    assert "drift share 0.6 (threshold 0.5)" in html and "finding 2" in html
    assert '<tr class="differs"><th scope="row">' + ESCAPED in html
    assert "drift share 0.6 over 0.5" in html  # the alert
    empty = client.get("/monitoring?model=" + EVIL.replace("/", "%2F")).text
    assert "No report is stored" in empty
    assert client.get("/monitoring?model=nothing").status_code == 404


def test_an_empty_project_shows_every_page(tmp_path: Path) -> None:
    init_project(tmp_path / "empty", rows=50)
    with open_project(tmp_path / "empty", env={}, actor="test") as empty:
        client = TestClient(create_dashboard(lambda: empty), base_url="https://testserver")
        for url in ("/", "/runs", "/models", "/deployments", "/monitoring", "/events"):
            response = client.get(url)
            assert response.status_code == 200, url
        assert "No model is registered yet" in client.get("/").text
        assert "Maturity level 0" in client.get("/").text


def test_lineage_links_each_step(client: TestClient) -> None:
    first = client.get("/lineage/spam/1").text
    assert "emails: emails@1" in first  # the snapshot, by id (not ingested in this project)
    assert '<a href="/models/spam">production</a>' in first
    assert '<a href="/monitoring?model=spam&amp;version=1">production drift</a>' in first
    assert '<a href="/lineage/spam/3">v3</a>' in first  # judged against v1
    second = client.get("/lineage/spam/2").text
    assert '<a href="/deployments">canary 20%</a>' in second
    third = client.get("/lineage/spam/3").text
    assert '<a href="/lineage/spam/1">spam/1</a>' in third
    assert client.get("/lineage/spam/9").status_code == 404


def test_data_lists_versions_with_validation_and_profiles(client: TestClient, project: Project) -> None:
    assert "No dataset version yet" in client.get("/data").text
    first = project.ingest("emails").dataset
    html = client.get("/data").text
    assert first.id in html and "valid" in html
    assert '<th scope="row">n_links</th><td>integer</td>' in html
    assert html.count('<figure class="plot"') >= 3  # numbers by bin, categories by frequency
    assert client.get("/data", params={"dataset": first.id, "source": "emails"}).status_code == 200
    assert client.get("/data", params={"dataset": "nothing"}).status_code == 404


def test_events_draw_the_rollout_state_and_show_the_numbers(client: TestClient) -> None:
    html = client.get("/events?kind=routing.set").text
    assert '<li class="now" aria-current="step">idle</li>' in html
    assert "next: retraining" in html
    assert "<summary>numbers</summary>" in html and '"canary": 2' in html
