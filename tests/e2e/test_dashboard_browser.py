"""The dashboard in a real browser: Debian's Chromium driven by Playwright against a real `mlfactory ui`
process on a trained project. Every page opens without console errors, plots draw, filters, pagination,
comparing and the pause switch work, live parts refresh by themselves, and no request leaves loopback.

Screenshots of each page (at 1280 px, and the overview at phone width) are saved under the test's temporary
folder. Without /usr/bin/chromium or Playwright the tests skip, unless MLFACTORY_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from mlfactory.project import open_project
from project_helpers import cli_command, trained_project
from serving_helpers import make_client, sample_records

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REQUIRE = os.environ.get("MLFACTORY_REQUIRE_SERVICES") == "1"
PAGES = {
    "overview": "/",
    "runs": "/runs",
    "models": "/models/spam",
    "lineage": "/lineage/spam/2",
    "deployments": "/deployments",
    "monitoring": "/monitoring",
    "events": "/events",
    "data": "/data",
}


def _missing(why: str) -> None:
    if REQUIRE:
        pytest.fail(f"the browser tests need Chromium and Playwright (MLFACTORY_REQUIRE_SERVICES=1): {why}")
    pytest.skip(f"browser unavailable: {why}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Dashboard:
    url: str
    operator: str
    shots: Path
    root: Path


def _predict(root: Path, requests: int, rows: int = 50) -> None:
    """Send predictions through an in-process server of the project; its log segments are written when it
    stops, into the folder the dashboard reads."""
    records = sample_records(root, rows)
    with make_client(root) as client:
        for _ in range(requests):
            assert client.post("/v1/models/spam/predict", json={"records": records}).status_code == 200


@dataclass
class Watch:
    """What a page did that it must not: console errors, uncaught exceptions, requests off loopback."""

    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        _missing(f"playwright is not installed ({exc})")
    base = tmp_path_factory.mktemp("dashboard")
    root = trained_project(base / "spam", versions=2)
    with open_project(root, env={}, actor="test") as project:
        operator = project.create_token("oncall", "operator")
        project.deploy_canary("spam", 2, weight=20.0, reason="browser test")
    _predict(root, 6)
    with open_project(root, env={}, actor="test") as project:
        project.monitor("spam")  # a stored report per version and route: the monitoring page plots them
    port = _free_port()
    log = (base / "ui.log").open("wb")
    proc = subprocess.Popen(
        cli_command(root, "ui", "--port", str(port)), stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/login", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"`mlfactory ui` did not start: {(base / 'ui.log').read_text()[-2000:]}")
            time.sleep(0.2)
        shots = base / "screenshots"
        shots.mkdir()
        yield Dashboard(url, operator, shots, root)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture
def browser_page(dashboard: Dashboard) -> Iterator[tuple[Any, Watch]]:
    from playwright.sync_api import sync_playwright

    watch = Watch()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 900})

        def guard(route: Any) -> None:
            host = urlparse(route.request.url).hostname
            if host in ("127.0.0.1", None) or route.request.url.startswith(("data:", "blob:")):
                route.continue_()
            else:
                watch.outside.append(route.request.url)
                route.abort()

        context.route("**/*", guard)
        page = context.new_page()
        page.on("console", lambda m: watch.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: watch.errors.append(str(e)))
        page.goto(f"{dashboard.url}/")
        assert "/login" in page.url  # tokens exist: nothing shows without one
        page.fill("#token", dashboard.operator)
        page.click("button[type=submit]")
        page.wait_for_url(f"{dashboard.url}/")
        try:
            yield page, watch
        finally:
            context.close()
            browser.close()
    assert not watch.outside, f"requests left loopback: {watch.outside}"
    assert not watch.errors, f"console errors: {watch.errors}"


def _plots_drawn(page: Any) -> int:
    """Wait until every plot container of the page holds an SVG; the number of plots."""
    count = int(page.locator("figure.plot").count())
    if count:
        page.wait_for_function(
            "() => [...document.querySelectorAll('figure.plot')].every(f => f.querySelector('svg'))",
            timeout=15_000,
        )
    return count


def test_every_page_opens_and_draws(dashboard: Dashboard, browser_page: tuple[Any, Watch]) -> None:
    page, _ = browser_page
    drawn = {}
    for name, path in PAGES.items():
        response = page.goto(f"{dashboard.url}{path}")
        assert response is not None and response.status == 200, name
        page.wait_for_load_state("networkidle")
        drawn[name] = _plots_drawn(page)
        page.screenshot(path=str(dashboard.shots / f"{name}.png"), full_page=True)
    assert drawn["models"] >= 1  # two versions: their holdout metrics plotted
    assert drawn["overview"] >= 1  # the last hour's traffic per route
    assert drawn["monitoring"] >= 2  # history and the columns' distributions
    assert drawn["data"] >= 2  # the snapshot's column profiles
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{dashboard.url}/")
    page.wait_for_load_state("networkidle")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 392, f"the overview is {width} px wide on a 390 px phone"
    page.screenshot(path=str(dashboard.shots / "overview-phone.png"), full_page=True)
    page.emulate_media(color_scheme="dark")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{dashboard.url}/models/spam")
    _plots_drawn(page)
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(20, 23, 27)", background  # the dark palette of style.css
    page.screenshot(path=str(dashboard.shots / "models-dark.png"), full_page=True)


def test_runs_pagination_filter_and_compare(dashboard: Dashboard, browser_page: tuple[Any, Watch]) -> None:
    page, _ = browser_page
    page.goto(f"{dashboard.url}/runs?limit=1")
    first = page.locator("input[name=id]").first.get_attribute("value")
    page.click("a[rel=next]")
    page.wait_for_url("**offset=1**")
    second = page.locator("input[name=id]").first.get_attribute("value")
    assert first and second and first != second
    page.fill("input[name=where]", "status = finished and name = spam")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_url("**where=status**")
    assert "where=status+%3D+finished" in page.url  # the filter is in the shareable URL
    page.goto(f"{dashboard.url}/runs")
    boxes = page.locator("input[name=id]")
    assert boxes.count() >= 2
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.click("#compare-form button[type=submit]")
    page.wait_for_url("**/runs/compare?**")
    assert page.locator("h1").inner_text() == "Compare 2 runs"
    assert page.locator("table.compare tbody tr").count() > 0
    _plots_drawn(page)
    page.screenshot(path=str(dashboard.shots / "compare.png"), full_page=True)


def test_lineage_links_lead_where_they_say(dashboard: Dashboard, browser_page: tuple[Any, Watch]) -> None:
    page, _ = browser_page
    page.goto(f"{dashboard.url}/lineage/spam/2")
    run = page.locator(".lineage a[href*='/runs/']")
    label = run.inner_text()
    run.click()
    page.wait_for_url("**/runs/**")
    assert label in page.locator("h1").inner_text()  # the run the version was trained by
    page.go_back()
    page.locator(".lineage a", has_text="canary 20%").click()
    page.wait_for_url("**/deployments")
    page.goto(f"{dashboard.url}/lineage/spam/2")
    page.locator(".lineage a", has_text="spam v2").click()
    page.wait_for_url("**/models/spam?version=2")
    assert page.locator("#version-h").inner_text() == "Version 2"
    page.click("text=from the data to the routes")
    page.wait_for_url("**/lineage/spam/2")


def test_deployments_refresh_by_themselves(dashboard: Dashboard, browser_page: tuple[Any, Watch]) -> None:
    page, _ = browser_page
    page.goto(f"{dashboard.url}/deployments")
    assert "Canary v2 at 20%" in page.locator("#deployments-live").inner_text()
    before = int(page.locator(".canary-rows").inner_text())
    assert before > 0  # rows the fixture's predictions sent to the canary
    _predict(dashboard.root, 4)
    # no reload: the fragment refreshes at the reload interval and shows the new canary rows
    page.wait_for_function(
        f"() => Number(document.querySelector('.canary-rows').textContent) > {before}", timeout=20_000
    )
    page.screenshot(path=str(dashboard.shots / "deployments-live.png"), full_page=True)


def test_pause_and_resume_with_the_operator_token(
    dashboard: Dashboard, browser_page: tuple[Any, Watch]
) -> None:
    page, _ = browser_page
    page.goto(f"{dashboard.url}/events")
    page.fill("input[name=reason]", "browser test")
    page.click("text=Pause")
    page.wait_for_url("**/events?model=spam")
    assert page.locator(".badge.warn", has_text="paused").count() >= 1
    assert "controller.paused" in page.locator("table.events").inner_text()
    page.click("text=Resume")
    page.wait_for_url("**/events?model=spam")
    assert "controller.resumed" in page.locator("table.events").inner_text()
    page.screenshot(path=str(dashboard.shots / "events.png"), full_page=True)
    # without the token (no cookie, no header) the same switch is refused
    refused = httpx.post(f"{dashboard.url}/controller/pause", data={"model": "spam"})
    assert refused.status_code == 401
