"""Monitoring: drift of inputs, outputs and labels against each version's reference, realized and estimated
performance, service health, stored reports (JSON and HTML) and alerts.

The public names are loaded on first use (PEP 562), so a monitoring run imports only the modules it runs:
comparing files (pandas), rendering HTML (plotly) and a version's training reference stay unloaded until
asked for.
"""

from typing import TYPE_CHECKING

from mlfactory.lazy import lazy_names

if TYPE_CHECKING:
    from mlfactory.data.profile import build_reference
    from mlfactory.monitoring.alerts import evaluate_alerts, post_json
    from mlfactory.monitoring.baseline import training_reference
    from mlfactory.monitoring.calibration import Calibration, build_calibration
    from mlfactory.monitoring.compare import compare_files, compare_frames, drift_against, infer_types
    from mlfactory.monitoring.drift import ColumnDrift, DatasetDrift, column_drift, dataset_drift
    from mlfactory.monitoring.html import render_compare_html, render_html
    from mlfactory.monitoring.performance import PerformanceCounts, PerformanceResult
    from mlfactory.monitoring.reference import VersionReference, version_reference
    from mlfactory.monitoring.report import MonitorReport, ReportMetrics
    from mlfactory.monitoring.service import (
        drift_streak,
        load_report,
        monitor_project,
        report_history,
        run_monitor,
    )
    from mlfactory.monitoring.window_counts import WindowCounts
    from mlfactory.stores.predictions import LogSource, LogWindow, Window  # the log's reader, owned there

# public name -> the module that defines it
_LAZY = {
    "build_reference": "mlfactory.data.profile",
    "evaluate_alerts": "mlfactory.monitoring.alerts",
    "post_json": "mlfactory.monitoring.alerts",
    "training_reference": "mlfactory.monitoring.baseline",
    "Calibration": "mlfactory.monitoring.calibration",
    "build_calibration": "mlfactory.monitoring.calibration",
    "compare_files": "mlfactory.monitoring.compare",
    "compare_frames": "mlfactory.monitoring.compare",
    "drift_against": "mlfactory.monitoring.compare",
    "infer_types": "mlfactory.monitoring.compare",
    "ColumnDrift": "mlfactory.monitoring.drift",
    "DatasetDrift": "mlfactory.monitoring.drift",
    "column_drift": "mlfactory.monitoring.drift",
    "dataset_drift": "mlfactory.monitoring.drift",
    "render_compare_html": "mlfactory.monitoring.html",
    "render_html": "mlfactory.monitoring.html",
    "PerformanceCounts": "mlfactory.monitoring.performance",
    "PerformanceResult": "mlfactory.monitoring.performance",
    "VersionReference": "mlfactory.monitoring.reference",
    "version_reference": "mlfactory.monitoring.reference",
    "MonitorReport": "mlfactory.monitoring.report",
    "ReportMetrics": "mlfactory.monitoring.report",
    "drift_streak": "mlfactory.monitoring.service",
    "load_report": "mlfactory.monitoring.service",
    "monitor_project": "mlfactory.monitoring.service",
    "report_history": "mlfactory.monitoring.service",
    "run_monitor": "mlfactory.monitoring.service",
    "WindowCounts": "mlfactory.monitoring.window_counts",
    "LogSource": "mlfactory.stores.predictions.window",
    "LogWindow": "mlfactory.stores.predictions.window",
    "Window": "mlfactory.stores.predictions.window",
}


__getattr__ = lazy_names(__name__, _LAZY)


__all__ = [
    "Calibration",
    "ColumnDrift",
    "DatasetDrift",
    "LogSource",
    "LogWindow",
    "MonitorReport",
    "PerformanceCounts",
    "PerformanceResult",
    "ReportMetrics",
    "VersionReference",
    "Window",
    "WindowCounts",
    "build_calibration",
    "build_reference",
    "column_drift",
    "compare_files",
    "compare_frames",
    "dataset_drift",
    "drift_against",
    "drift_streak",
    "evaluate_alerts",
    "infer_types",
    "load_report",
    "monitor_project",
    "post_json",
    "render_compare_html",
    "render_html",
    "report_history",
    "run_monitor",
    "training_reference",
    "version_reference",
]
