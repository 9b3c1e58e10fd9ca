"""Monitoring: drift of inputs, outputs and labels against each version's reference, realized and estimated
performance, service health, stored reports (JSON and HTML) and alerts."""

from mlfactory.monitoring.alerts import evaluate_alerts, post_json
from mlfactory.monitoring.baseline import training_reference
from mlfactory.monitoring.compare import compare_files, compare_frames, drift_against, infer_types
from mlfactory.monitoring.drift import ColumnDrift, column_drift, dataset_drift
from mlfactory.monitoring.html import render_compare_html, render_html
from mlfactory.monitoring.logwindow import LogSource, LogWindow, Window
from mlfactory.monitoring.performance import PerformanceCounts, build_calibration
from mlfactory.monitoring.reference import build_reference, version_reference
from mlfactory.monitoring.report import MonitorReport
from mlfactory.monitoring.service import (
    drift_streak,
    load_report,
    monitor_project,
    report_history,
    run_monitor,
)
from mlfactory.monitoring.window_counts import WindowCounts

__all__ = [
    "ColumnDrift",
    "LogSource",
    "LogWindow",
    "MonitorReport",
    "PerformanceCounts",
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
