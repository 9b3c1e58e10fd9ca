"""Monitoring figures in ``/metrics``: the newest stored report per model, version and route, at scrape.

The figures come from the metadata store; when it cannot be read the scrape still answers, with the figures
last read (the request metrics beside them matter most exactly during a database incident).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily

from mlfactory.stores.metadata import MetadataStore

log = logging.getLogger("mlfactory.server")
SCAN = 500  # newest reports read per scrape; older ones are superseded anyway
FIGURES = {
    "drift.share": ("mlfactory_monitor_drift_share", "share of input columns that drifted"),
    "drift.dataset": ("mlfactory_monitor_dataset_drift", "1 when the dataset drifted"),
    "drift.prediction": ("mlfactory_monitor_prediction_drift", "1 when the predictions drifted"),
    "performance.accuracy": ("mlfactory_monitor_accuracy", "realized accuracy on labelled rows"),
    "performance.labelled_rows": ("mlfactory_monitor_labelled_rows", "rows with feedback labels"),
    "estimated.accuracy": ("mlfactory_monitor_estimated_accuracy", "accuracy estimated from probabilities"),
    "health.latency_p95_ms": ("mlfactory_monitor_latency_p95_ms", "95th percentile latency in the window"),
    "rows": ("mlfactory_monitor_window_rows", "rows in the monitored window"),
}


class MonitoringCollector:
    """Prometheus collector over the stored monitoring reports."""

    def __init__(self, metadata: MetadataStore) -> None:
        self.metadata = metadata
        self._last: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._failing = False

    def _newest(self) -> dict[tuple[str, str, str], dict[str, Any]]:
        """The newest report per (model, version, route); the last ones read when the store fails."""
        try:
            reports = self.metadata.list_monitor_reports(limit=SCAN)
        except Exception as exc:  # any failure of the store: the scrape must not fail with it
            if not self._failing:
                log.warning("monitoring figures in /metrics are the last ones read: %s", exc)
            self._failing = True
            return self._last
        if self._failing:
            log.info("monitoring figures in /metrics are read from the metadata store again")
            self._failing = False
        newest: dict[tuple[str, str, str], dict[str, Any]] = {}
        for r in reports:
            newest[(r["model"], str(r["version"]), str(r["route"]))] = r
        self._last = newest
        return newest

    def collect(self) -> Iterator[GaugeMetricFamily]:
        newest = self._newest()
        labels = ["model", "version", "route"]
        families = {k: GaugeMetricFamily(n, h, labels=labels) for k, (n, h) in FIGURES.items()}
        age = GaugeMetricFamily(
            "mlfactory_monitor_report_age_seconds", "age of the newest report", labels=labels
        )
        now = datetime.now(UTC)
        for key, r in newest.items():
            for metric, family in families.items():
                value = r["metrics"].get(metric)
                if isinstance(value, int | float):
                    family.add_metric(list(key), float(value))
            age.add_metric(list(key), (now - r["created_at"]).total_seconds())
        yield from families.values()
        yield age
