"""Reports: stored JSON reads back through the typed sections unchanged, and metrics read back typed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlfactory.monitoring import ColumnDrift, DatasetDrift, MonitorReport, ReportMetrics
from mlfactory.monitoring.report import flat_metrics

# written by the version before the sections were typed: a window with drift and performance, and an
# empty window (whose drift and performance sections are stored as {})
STORED: dict[str, dict[str, Any]] = json.loads((Path(__file__).parent / "stored_reports.json").read_text())


@pytest.mark.parametrize("name", sorted(STORED))
def test_a_stored_report_reads_back_and_writes_the_same_json(name: str) -> None:
    stored = STORED[name]
    report = MonitorReport.from_dict(stored)
    # same keys, same order, same values: HTML pages, `monitor report --json` and the dashboard read it
    assert json.dumps(report.to_dict()) == json.dumps(stored)


def test_typed_sections_hold_what_the_json_says() -> None:
    stored = STORED["full"]
    report = MonitorReport.from_dict(stored)
    assert isinstance(report.drift, DatasetDrift) and all(isinstance(c, ColumnDrift) for c in report.columns)
    assert report.drift.drifted == stored["drift"]["drifted"]
    assert list(report.drift.columns) == stored["drift"]["columns"] == report.drifted_columns()
    perf = report.performance
    assert perf is not None and perf.tests is not None and perf.estimated is not None
    assert perf.tests.accuracy_drop is not None and perf.tests.below_estimate is not None
    tests = stored["performance"]["tests"]
    assert perf.tests.accuracy_drop.drop == tests["accuracy_drop"]["drop"]
    assert perf.tests.below_estimate.drifted == tests["below_estimate"]["drifted"]
    assert perf.estimated.metrics["accuracy"] == stored["performance"]["estimated"]["accuracy"]
    assert report.notes() == [*stored["messages"], *stored["performance"]["messages"]]
    # the flat metrics computed again from the typed sections are the ones stored
    assert flat_metrics(report) == stored["metrics"]


def test_an_empty_window_has_no_sections() -> None:
    report = MonitorReport.from_dict(STORED["empty"])
    assert report.drift is None and report.performance is None
    metrics = ReportMetrics.from_flat(report.metrics)
    assert metrics.dataset_drift is None and metrics.drift_share is None and metrics.labelled_rows == 0


def test_report_metrics_read_flags_figures_and_absent_keys() -> None:
    metrics = ReportMetrics.from_flat(
        {
            "rows": 500,
            "drift.dataset": 1.0,
            "drift.share": 0.4,
            "drift.prediction": 0.0,
            "performance.labelled_rows": 120,
            "performance.accuracy": 0.91,
            "estimated.accuracy": 0.88,
            "estimated.reliable": 0.0,
            "health.latency_p95_ms": 3.5,
            "drift.label": None,
        }
    )
    assert metrics.dataset_drift is True and metrics.prediction_drift is False and metrics.label_drift is None
    assert metrics.drift_share == 0.4 and metrics.labelled_rows == 120 and metrics.rows == 500
    assert metrics.measured("accuracy") == 0.91 and metrics.estimated("accuracy") == 0.88
    assert metrics.estimate_reliable is False and metrics.health("latency_p95_ms") == 3.5
    assert metrics.measured("f1") is None and metrics.estimated("f1") is None


def test_report_metrics_of_an_older_report_without_keys() -> None:
    metrics = ReportMetrics.from_flat({"rows": 0})
    assert metrics.dataset_drift is None and metrics.drift_share is None and metrics.labelled_rows == 0
    assert metrics.estimate_reliable is None


def test_a_stored_report_renders_with_its_history() -> None:
    from datetime import UTC, datetime, timedelta

    from mlfactory.entities import MonitorReportRecord
    from mlfactory.monitoring import render_html

    report = MonitorReport.from_dict(STORED["full"])
    start = datetime(2026, 1, 1, tzinfo=UTC)
    history = [
        MonitorReportRecord(
            id=f"r{i}",
            model="m",
            version=1,
            route="production",
            created_at=start + timedelta(hours=i),
            window_start=None,
            window_end=None,
            rows=100,
            status="ok",
            metrics={"drift.share": 0.1 * i, "estimated.accuracy": 0.9},
        )
        for i in range(3)
    ]
    page = render_html(report, history)
    assert "<h2>Input drift</h2>" in page and "drifted share of columns" in page  # the history plot
    assert all(f"<td>{c.column}</td>" in page for c in report.columns)
    assert STORED["full"]["performance"]["tests"]["accuracy_drop"]["method"] in page
