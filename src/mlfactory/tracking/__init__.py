"""Runs: parameters, metrics with steps, tags, artifacts, status, duration and environment."""

from mlfactory.tracking.environment import capture_environment
from mlfactory.tracking.query import compare_runs, filter_runs, search_runs
from mlfactory.tracking.runs import ActiveRun, process_gone, reap_runs, start_run

__all__ = [
    "ActiveRun",
    "capture_environment",
    "compare_runs",
    "filter_runs",
    "process_gone",
    "reap_runs",
    "search_runs",
    "start_run",
]
