"""Live parts read the prediction log: the last hour's traffic per route on the overview, and a canary's rows
against its minimum on the deployments fragment, which grows as rows are logged."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from fastapi.testclient import TestClient

from mlfactory.project import Project
from mlfactory.stores.predictions import open_prediction_log


@dataclass(frozen=True)
class Inputs:
    """Answered rows' inputs as the log takes them."""

    names: tuple[str, ...]
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    matrix: np.ndarray | None = None
    violations: np.ndarray | None = None


def log_rows(project: Project, version: int, route: str, n: int) -> None:
    log = open_prediction_log(project.loaded)
    try:
        now = time.time()
        log.append(
            model="spam",
            version=version,
            route=route,
            time=now,
            latency_ms=3.0,
            request_ids=log.ids.make(n, now=now),
            batch=Inputs(("n_links",), {"n_links": np.arange(n, dtype=float)}),
            predictions=np.zeros(n, dtype=int),
            probabilities=None,
        )
        log.flush()
    finally:
        log.close()


def test_canary_progress_grows_with_logged_rows(client: TestClient, project: Project) -> None:
    assert '<progress max="150" value="0"' in client.get("/fragments/deployments").text
    log_rows(project, 2, "canary", 7)
    log_rows(project, 1, "production", 30)
    assert '<progress max="150" value="7"' in client.get("/fragments/deployments").text
    log_rows(project, 2, "canary", 5)
    html = client.get("/fragments/deployments").text
    assert '<progress max="150" value="12"' in html and '<strong class="canary-rows">12</strong>' in html


def test_overview_shows_the_last_hours_traffic(client: TestClient, project: Project) -> None:
    assert "No predictions logged in the last hour" in client.get("/fragments/overview").text
    log_rows(project, 1, "production", 30)
    log_rows(project, 2, "canary", 4)
    html = client.get("/fragments/overview").text
    assert '<figure class="plot"' in html
    assert '<td>v1</td><td>production</td><td class="num">30</td>' in html
    assert '<td>v2</td><td>canary</td><td class="num">4</td>' in html
