"""Monitoring figures in ``/metrics``: the newest stored report per model, version and route, at scrape.

The figures come from the metadata store; when it fails or does not answer within a second the scrape still
answers, with the figures last read (the request metrics beside them matter most exactly during a database
incident).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily

from mlfactory.entities import MonitorReportRecord
from mlfactory.monitoring import report
from mlfactory.monitoring.report import ReportMetrics
from mlfactory.stores.metadata import MetadataStore

log = logging.getLogger("mlfactory.server")
SCAN = 500  # newest reports read per scrape; older ones are superseded anyway
# report metric (its flat name) -> Prometheus family name and help text
FIGURES = {
    report.DRIFT_SHARE: ("mlfactory_monitor_drift_share", "share of input columns that drifted"),
    report.DATASET_DRIFT: ("mlfactory_monitor_dataset_drift", "1 when the dataset drifted"),
    report.PREDICTION_DRIFT: ("mlfactory_monitor_prediction_drift", "1 when the predictions drifted"),
    report.PERFORMANCE_PREFIX + "accuracy": (
        "mlfactory_monitor_accuracy",
        "realized accuracy on labelled rows",
    ),
    report.LABELLED_ROWS: ("mlfactory_monitor_labelled_rows", "rows with feedback labels"),
    report.ESTIMATED_PREFIX + "accuracy": (
        "mlfactory_monitor_estimated_accuracy",
        "accuracy estimated from probabilities",
    ),
    report.HEALTH_PREFIX + "latency_p95_ms": (
        "mlfactory_monitor_latency_p95_ms",
        "95th percentile latency in the window",
    ),
    report.ROWS: ("mlfactory_monitor_window_rows", "rows in the monitored window"),
}


class MonitoringCollector:
    """Prometheus collector over the stored monitoring reports.

    Args:
        metadata: the store the reports are read from.
        wait: seconds a scrape waits for the read; a store that does not answer by then (a database that
            hangs until its connection times out) gets the last figures read, and the read goes on in the
            background for the next scrape.
    """

    def __init__(self, metadata: MetadataStore, wait: float = 1.0) -> None:
        self.metadata = metadata
        self.wait = wait
        self._last: dict[tuple[str, str, str], MonitorReportRecord] = {}
        self._failing = False
        self._lock = threading.Lock()
        self._reading: threading.Thread | None = None

    def _newest(self) -> dict[tuple[str, str, str], MonitorReportRecord]:
        """The newest report per (model, version, route): read now, or the last ones read."""
        with self._lock:
            reading = self._reading
            if reading is None or not reading.is_alive():  # one read at a time, however many scrapes
                reading = self._reading = threading.Thread(
                    target=self._read, name="mlfactory-monitor-metrics", daemon=True
                )
                reading.start()
        reading.join(self.wait)
        return self._last

    def _read(self) -> None:
        try:
            reports = self.metadata.list_monitor_reports(limit=SCAN)
        except Exception as exc:  # any failure of the store: the scrape must not fail with it
            if not self._failing:
                log.warning("monitoring figures in /metrics are the last ones read: %s", exc)
            self._failing = True
            return
        if self._failing:
            log.info("monitoring figures in /metrics are read from the metadata store again")
            self._failing = False
        newest: dict[tuple[str, str, str], MonitorReportRecord] = {}
        for r in reports:
            newest[(r.model, str(r.version), str(r.route))] = r
        self._last = newest

    def collect(self) -> Iterator[GaugeMetricFamily]:
        newest = self._newest()
        labels = ["model", "version", "route"]
        families = {k: GaugeMetricFamily(n, h, labels=labels) for k, (n, h) in FIGURES.items()}
        age = GaugeMetricFamily(
            "mlfactory_monitor_report_age_seconds", "age of the newest report", labels=labels
        )
        now = datetime.now(UTC)
        for key, r in newest.items():
            metrics = ReportMetrics.from_flat(r.metrics)
            for metric, family in families.items():
                value = metrics.get(metric)
                if value is not None:
                    family.add_metric(list(key), value)
            age.add_metric(list(key), (now - r.created_at).total_seconds())
        yield from families.values()
        yield age
