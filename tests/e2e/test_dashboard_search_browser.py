"""A search run's page in a real browser: the spam model trained with a small ``search:`` block (three
trials), its run opened in Debian's Chromium against a real `mlfactory ui` process. The trials table lists
every trial with the winner marked, the score plot is drawn with a point per trial at the trial's recorded
score, and the page logs no console error and sends no request off loopback.

The browser, its login and its watch for errors are test_dashboard_browser.py's (``browser_page``, which
opens this module's ``dashboard``). Without /usr/bin/chromium or Playwright the test skips, unless
MLFACTORY_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from e2e import test_dashboard_browser as browser
from e2e.test_dashboard_browser import CHROMIUM, Dashboard, Watch, _free_port, _missing
from mlfactory.project import open_project
from project_helpers import cli_command, trained_project

pytestmark = [pytest.mark.browser, pytest.mark.slow]

browser_page = browser.browser_page  # the logged-in, watched browser, opened on this module's dashboard

TRIALS = 3
SEARCH = f"""    split: {{strategy: time}}
    search:
      trials: {TRIALS}
      metric: f1
      space:
        C: {{choice: [0.05, 1.0, 20.0]}}
        class_weight: {{choice: [null, balanced]}}
"""


def with_search(root: Path) -> None:
    """The quickstart model with a three-trial search over two params."""
    y = root / "mlfactory.yaml"
    text, found = re.subn(r"^    split: \{strategy: time\}.*\n", SEARCH, y.read_text(), flags=re.M)
    assert found == 1, "the quickstart project file no longer splits by time"
    y.write_text(text)


def _serve(root: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`mlfactory ui` on a free loopback port, once it answers; the process and its URL."""
    port = _free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cli_command(root, "ui", "--port", str(port)), stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/login", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"`mlfactory ui` did not start: {log.read_text()[-2000:]}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """The dashboard of a project whose production version was trained by a search."""
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        _missing(f"playwright is not installed ({exc})")
    base = tmp_path_factory.mktemp("search-dashboard")
    root = trained_project(base / "spam", prepare=with_search, variant="search3")
    with open_project(root, env={}, actor="test") as project:
        operator = project.create_token("oncall", "operator")
    proc, url = _serve(root, base / "ui.log")
    try:
        shots = base / "screenshots"
        shots.mkdir()
        yield Dashboard(url, operator, shots, root)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _recorded(root: Path) -> tuple[str, str, dict[int, float | None]]:
    """The search run that trained the production version, its winning trial, and each trial's score."""
    with open_project(root, env={}, actor="test") as project:
        run = project.run(project.registry.resolve("spam@production").run_id)
        trials = project.runs(where=f"tags.parent_run = {run.id}")
        scores = {int(t.tags["search.trial"]): t.metrics.get("f1") for t in trials}
    return run.id, run.tags["search.best_trial"], scores


def _plotted(page: Any) -> list[tuple[int, float]]:
    """The score plot's markers as Plotly holds them: (trial, score), ordered by trial."""
    traces = page.evaluate(
        "() => document.querySelector('[data-search-plot=scores] [data-plot]').data"
        ".filter(t => t.mode === 'markers').map(t => [t.x, t.y])"
    )
    return sorted((int(x), float(y)) for xs, ys in traces for x, y in zip(xs, ys, strict=True))


def test_a_search_run_page_draws_its_trials_winner_and_scores(
    dashboard: Dashboard, browser_page: tuple[Any, Watch]
) -> None:
    page, _ = browser_page
    run_id, best, scores = _recorded(dashboard.root)
    assert sorted(scores) == list(range(TRIALS)) and all(s is not None for s in scores.values())
    assert scores[int(best)] == max(s for s in scores.values() if s is not None)  # f1: higher is better
    response = page.goto(f"{dashboard.url}/runs/{run_id}")
    assert response is not None and response.status == 200
    page.wait_for_load_state("networkidle")

    rows = page.locator("table.trials tbody tr")
    assert rows.count() == TRIALS
    assert [rows.nth(i).locator("th").locator("a").inner_text() for i in range(TRIALS)] == [
        str(n) for n in range(TRIALS)
    ]
    winner = page.locator("table.trials tr.winner")
    assert winner.count() == 1 and winner.get_attribute("aria-current") == "true"
    assert winner.locator("th a").inner_text() == best
    assert winner.locator(".badge.winner").inner_text() == "★ winner"
    assert f"the winner is trial {best}, marked ★" in page.locator("#search").inner_text()

    scores_plot = page.locator("[data-search-plot=scores] figure.plot")
    assert scores_plot.count() == 1
    page.wait_for_function(
        f"() => document.querySelectorAll('[data-search-plot=scores] svg .scatterlayer path.point').length"
        f" === {TRIALS}",
        timeout=15_000,
    )  # a marker per trial, drawn
    plotted = _plotted(page)  # at each trial's recorded score
    assert [n for n, _ in plotted] == sorted(scores)
    assert [s for _, s in plotted] == pytest.approx([scores[n] for n in sorted(scores)])
    assert page.locator("[data-search-plot=params] figure.plot svg").count() >= 1  # two params: parcoords
    page.screenshot(path=str(dashboard.shots / "search-run.png"), full_page=True)
