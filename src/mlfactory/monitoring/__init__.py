"""Monitoring: drift of inputs, outputs and labels against each version's reference, realized and estimated
performance, service health, stored reports (JSON and HTML) and alerts."""

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
