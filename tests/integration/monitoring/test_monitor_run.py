"""Monitoring over the real prediction log of a trained project: reports, history, HTML, drift, feedback."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlfactory.monitoring import Window, load_report, render_html, report_history, run_monitor
from mlfactory.project import Project
from mlfactory.stores.predictions import PredictionLog


def _labels(project: Project, ids: list[str], y: np.ndarray, n: int) -> None:
    project.metadata.add_feedback(list(zip(ids[:n], y[:n].tolist(), strict=True)), actor="test", model="spam")


def test_quiet_traffic_reports_no_drift_and_good_performance(
    project: Project, plog: PredictionLog, send
) -> None:
    ids, y = send(500, holdout=True)
    _labels(project, ids, y, 400)
    (report,) = run_monitor(
        project.metadata, plog, project.config.monitoring, model="spam", window=Window(seconds=3600)
    )
    assert report.status == "ok" and report.findings == [] and report.rows == 500
    assert report.route == "production"
    assert report.drift is not None
    assert report.drift.drifted is False and report.drift.checked == 11  # 5 columns + 3 views × 2 texts
    assert {c.column for c in report.outputs} == {"prediction", "score"}
    perf = report.performance
    assert perf is not None and perf.realized is not None and perf.estimated is not None
    assert perf.labelled_rows == 400 and perf.realized["accuracy"] > 0.9
    assert abs(perf.estimated.metrics["accuracy"] - perf.realized["accuracy"]) < 0.05
    assert report.metrics["health.latency_p95_ms"] == 2.0 and report.metrics["health.error_rate"] is None
    assert "records answered rows only" in report.health["error_note"]
    stored = load_report(project.metadata, "spam")
    assert stored.id == report.id and stored.metrics == report.metrics
    # read back through the typed sections, the stored JSON is what was written
    assert {**stored.to_dict(), "created_at": None} == {**report.to_dict(), "created_at": None}


def test_drifted_traffic_is_flagged_with_concept_change(project: Project, plog: PredictionLog, send) -> None:
    ids, y = send(1500, drift=0.9)
    _labels(project, ids, y, 800)
    (report,) = run_monitor(
        project.metadata, plog, project.config.monitoring, model="spam", window=Window(last=1500)
    )
    assert report.drift is not None and (report.drift.share or 0) >= 0.3
    assert {"n_links", "sender_domain"} <= set(report.drifted_columns())
    assert report.metrics["drift.prediction"] == 1.0 and report.metrics["drift.label"] == 1.0
    tests = report.performance.tests if report.performance else None
    assert tests is not None and tests.accuracy_drop is not None and tests.below_estimate is not None
    assert tests.accuracy_drop.drifted is True
    assert tests.below_estimate.drifted is True  # the concept changed too
    # the status says what was found, never "ok"
    found = {"prediction_drift", "label_drift", "degraded", "concept_drift"}
    assert set(report.findings) == found | ({"drift"} if report.drift.drifted else set())
    assert report.status == "+".join(report.findings)
    assert load_report(project.metadata, "spam").status == report.status


def test_routes_get_their_own_reports_and_history(project: Project, plog: PredictionLog, send) -> None:
    send(300)
    send(200, route="canary")
    reports = run_monitor(
        project.metadata, plog, project.config.monitoring, model="spam", window=Window(seconds=600)
    )
    assert sorted((r.route, r.rows) for r in reports) == [("canary", 200), ("production", 300)]
    run_monitor(project.metadata, plog, project.config.monitoring, model="spam", window=Window(seconds=600))
    history = report_history(project.metadata, "spam")
    assert len(history) == 4 and all(h.report is None for h in history)  # summaries, without the payload
    assert [h.route for h in history[-2:]] == ["canary", "production"]


def test_bad_windows_give_messages(project: Project, plog: PredictionLog, send) -> None:
    (empty,) = run_monitor(
        project.metadata, plog, project.config.monitoring, model="spam", window=Window(seconds=60)
    )
    assert empty.status == "empty" and "holds no rows" in empty.messages[0]
    send(40, drop=("language",))
    (small,) = run_monitor(
        project.metadata, plog, project.config.monitoring, model="spam", window=Window(seconds=60)
    )
    assert small.status == "insufficient" and "fewer than the minimum" in small.messages[0]
    language = next(c for c in small.columns if c.column == "language")
    assert language.status == "missing" and language.drifted is None
    assert any("['language'] are not in the prediction log" in m for m in small.messages)


def test_html_report_is_self_contained(project: Project, plog: PredictionLog, send, tmp_path: Path) -> None:
    send(800, drift=0.9)
    (report,) = run_monitor(
        project.metadata, plog, project.config.monitoring, model="spam", window=Window(last=800)
    )
    run_monitor(project.metadata, plog, project.config.monitoring, model="spam", window=Window(last=800))
    page = render_html(report, project.metadata.list_monitor_reports("spam"))
    from plotly.offline import get_plotlyjs

    assert get_plotlyjs() in page  # plotly's JavaScript inlined from the installed package
    rest = page.replace(get_plotlyjs(), "")
    assert "src=" not in rest and "cdn.plot.ly" not in rest  # nothing fetched from the network
    assert "Plotly.newPlot" in page and "drift and performance over time" in page
    assert "sender_domain" in page


def test_versions_without_monitoring_reference_fall_back_to_the_profile(
    project: Project, plog: PredictionLog, send
) -> None:
    from mlfactory.stores.sql import schema as t

    mv = project.registry.resolve("spam@production")
    legacy = {k: v for k, v in mv.profile.items() if k != "monitoring"}
    with project.metadata.engine.begin() as c:  # type: ignore[attr-defined]
        c.execute(t.model_versions.update().where(t.model_versions.c.name == "spam").values(profile=legacy))
    send(500, holdout=True)
    (report,) = run_monitor(
        project.metadata, plog, project.config.monitoring, model="spam", window=Window(last=500)
    )
    assert any("registered before monitoring references existed" in m for m in report.messages)
    assert report.drift is not None and report.drift.drifted is False
    assert report.performance is not None
    assert any("no calibration data" in m for m in report.performance.messages)
