"""The overview and the deployments page read the prediction log in one scan per load, every load on the
reader's one connection; a running canary shows the controller's own comparison with the champion (p-values
and thresholds), and the maturity level is decided without reading any table whole."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from mlfactory.control import assess
from mlfactory.control.canary import analyze_canary
from mlfactory.dashboard.pages.deployments import deployments_of
from mlfactory.dashboard.render import fmt
from mlfactory.entities import PRODUCTION, VersionStatus
from mlfactory.project import Project
from mlfactory.stores.predictions import open_prediction_log, reader, window
from unit.dashboard.test_traffic import Inputs


def log_predictions(
    project: Project, version: int, route: str, predictions: np.ndarray, *, ago_s: float = 0.0
) -> list[str]:
    """Rows of ``spam`` answered ``ago_s`` seconds ago, as a server logs them; their request ids."""
    log = open_prediction_log(project.loaded)
    try:
        now = time.time() - ago_s
        ids = log.ids.make(len(predictions), now=now)
        log.append(
            model="spam",
            version=version,
            route=route,
            time=now,
            latency_ms=3.0,
            request_ids=ids,
            batch=Inputs(("n_links",), {"n_links": np.zeros(len(predictions))}),
            predictions=predictions,
            probabilities=None,
        )
        log.flush()
        return list(ids)
    finally:
        log.close()


def labelled_traffic(project: Project, rng: np.random.Generator, canary_right: float) -> None:
    """Canary (v2) and production (v1) rows of the dashboard project, each labelled, the canary right on
    about ``canary_right`` of its rows and production on about 90%."""
    for version, route, n, right in ((2, "canary", 300, canary_right), (1, PRODUCTION, 700, 0.9)):
        predictions = rng.integers(0, 2, n)
        ids = log_predictions(project, version, route, predictions)
        labels = np.where(rng.random(n) < right, predictions, 1 - predictions)
        project.metadata.add_feedback(
            [(r, int(y)) for r, y in zip(ids, labels, strict=True)], actor="test", model="spam"
        )


def test_a_canary_shows_the_controllers_own_p_values_and_thresholds(
    client: TestClient, project: Project
) -> None:
    labelled_traffic(project, np.random.default_rng(5), canary_right=0.7)
    (canary,) = [d.canary for d in deployments_of(project) if d.canary is not None]
    assert canary.rows == 300 and canary.champion == 1 and canary.started is not None
    rules = project.config.models["spam"].policy.rollout  # type: ignore[union-attr]
    sides: dict[str, Any] = {
        side: project.predictions.with_feedback(
            project.metadata, model="spam", version=v, route=route, since=canary.started
        )
        for side, v, route in (("challenger", 2, "canary"), ("champion", 1, PRODUCTION))
    }
    expected = analyze_canary(
        sides["challenger"],
        sides["champion"],
        rules,
        elapsed_s=0.0,
        errors={side: (0, len(frame)) for side, frame in sides.items()},
    )
    assert canary.verdict is not None
    shown = [(c.metric, c.p_value, c.status) for c in canary.verdict.checks]
    assert shown == [(c.metric, c.p_value, c.status) for c in expected.checks]
    accuracy = next(c for c in canary.verdict.checks if c.metric == "accuracy")
    assert (
        accuracy.status == "regressed"
        and accuracy.p_value is not None
        and accuracy.p_value <= rules.significance
    )
    html = client.get("/fragments/deployments").text
    for check, compared in zip(canary.verdict.checks, rules.compare, strict=True):
        assert f'<td class="num p-value">{fmt(check.p_value)}</td>' in html
        assert f'<tr data-metric="{check.metric}">' in html
        assert f'<td class="num">{fmt(compared.max_regression)}</td>' in html
    assert f"p ≤ {fmt(rules.significance)}" in html and f"needs {rules.min_labelled_rows} labelled" in html


@pytest.mark.parametrize("url", ["/deployments", "/fragments/deployments", "/", "/fragments/overview"])
def test_a_page_load_reads_the_log_in_one_scan_and_loads_share_one_connection(
    client: TestClient, project: Project, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    labelled_traffic(project, np.random.default_rng(1), canary_right=0.8)
    opened: list[object] = []
    scans: list[object] = []
    real_connect, real_read = reader.connect, reader.PredictionReader.read

    def counted() -> Any:
        opened.append(url)
        return real_connect()

    def read(self: reader.PredictionReader, *args: Any, **kwargs: Any) -> Any:
        scans.append(url)
        return real_read(self, *args, **kwargs)

    monkeypatch.setattr(reader, "connect", counted)
    monkeypatch.setattr(window, "connect", counted)
    monkeypatch.setattr(reader.PredictionReader, "read", read)
    for load in range(1, 4):
        assert client.get(url).status_code == 200
        assert len(scans) == load
    assert len(opened) == 1


def test_the_overview_counts_the_canary_and_the_last_hour_from_its_one_scan(
    client: TestClient, project: Project
) -> None:
    labelled_traffic(project, np.random.default_rng(2), canary_right=0.8)
    html = client.get("/fragments/overview").text
    assert "v2 at 20%, 300/150 rows" in html
    assert '<td>v1</td><td>production</td><td class="num">700</td>' in html
    assert '<td>v2</td><td>canary</td><td class="num">300</td>' in html


def test_the_maturity_level_reads_no_table_whole(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    meta = project.metadata
    run = meta.create_run("spam", environment={"python": "3.11"}, dataset_id="emails@1")
    meta.create_model_version(
        "spam",
        status=VersionStatus.READY,
        run_id=run,
        artifact="0" * 64,
        flavor="skops",
        signature={"inputs": []},
        metrics={},
        gates=[],
        profile={},
        lineage={"dataset": "emails@1"},
        card="",
    )
    meta.acquire_lease("spam", "host:1:abc", 60)
    for kind in ("rollout.retraining", "rollout.promoted"):
        meta.add_event(kind, actor="controller:host:1:abc", model="spam")

    def whole(*args: object, **kwargs: object) -> None:
        raise AssertionError("the maturity level read a table whole")

    for method in ("list_events", "list_runs", "list_model_versions", "metric_history"):
        monkeypatch.setattr(meta, method, whole)
    maturity = assess(project)
    assert maturity.level == 3 and len(maturity.evidence) == 9 and maturity.missing == []


def start_canary(project: Project, started: datetime) -> None:
    """The controller's record of a canary of v2 against v1 that started at ``started``."""
    rollout = project.rollout("spam")
    project.metadata.save_rollout(
        "spam",
        expect_revision=rollout.revision,
        state="canary",
        challenger=2,
        champion=1,
        data={"canary_started": started.isoformat()},
        event="rollout.canary",
        actor="controller:host:1:abc",
        reason="gates passed",
    )


def test_a_controllers_canary_counts_from_when_the_controller_started_it(project: Project) -> None:
    log_predictions(project, 2, "canary", np.zeros(5, dtype=int))  # before the recorded start: not counted
    started = datetime.now(UTC)
    start_canary(project, started)
    log_predictions(project, 2, "canary", np.zeros(3, dtype=int))
    (canary,) = [d.canary for d in deployments_of(project) if d.canary is not None]
    assert canary.started == started and canary.rows == 3


def test_a_canary_older_than_the_hour_counts_rows_the_hours_traffic_leaves_out(
    client: TestClient, project: Project
) -> None:
    start_canary(project, datetime.now(UTC) - timedelta(hours=2))
    log_predictions(project, 2, "canary", np.zeros(4, dtype=int), ago_s=5400)  # 90 minutes ago
    log_predictions(project, 2, "canary", np.zeros(3, dtype=int))
    html = client.get("/fragments/overview").text
    assert "v2 at 20%, 7/150 rows" in html
    assert '<td>v2</td><td>canary</td><td class="num">3</td>' in html
