"""The benchmark scripts run end to end and write their JSON. Timings are never asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
POSTGRES_URL = os.environ.get(
    "MLFACTORY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
OPERATIONS = {
    "log_metrics_batch",
    "log_metric_single",
    "create_runs",
    "list_runs",
    "filter_runs",
    "register_versions",
    "move_alias",
}


def run_benchmark(
    name: str, out: Path, *args: str, timeout: int = 300
) -> tuple[subprocess.CompletedProcess[str], Any]:
    """Run ``benchmarks/NAME.py ARGS --output OUT`` from the repository root; it must succeed. Returns the
    process (for its printed table) and the JSON it wrote."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), *args, "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, json.loads(out.read_text())


def test_tracking_benchmark_quick_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "tracking.json"
    proc, result = run_benchmark("tracking", out, "--quick", "--postgres-url", POSTGRES_URL)

    assert result["benchmark"] == "tracking"
    assert result["quick"] is True
    assert {"sizes", "machine", "mlfactory", "anchors", "ratios", "operations"} <= set(result)
    assert set(result["operations"]) == OPERATIONS
    sqlite = result["mlfactory"]["sqlite"]
    for op in OPERATIONS:
        assert sqlite[op]["median_s"] >= 0
        assert len(sqlite[op]["all_s"]) == result["sizes"]["repeats"]
    # the filter saw every run created and kept a subset of them
    assert sqlite["listed"] == result["sizes"]["runs"]
    assert 0 < sqlite["matched"] < sqlite["listed"]
    postgres = result["mlfactory"]["postgresql"]
    assert "skipped" in postgres or set(postgres) >= OPERATIONS
    assert result["anchors"] == {} and result["ratios"] == {}  # anchors only with --with-anchors
    assert "log 500 metrics" in proc.stdout  # the table was printed


@pytest.mark.slow
def test_serving_benchmark_quick_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "serving.json"
    _, result = run_benchmark("serving", out, "--quick", "--duration", "1", timeout=600)

    assert result["benchmark"] == "serving"
    assert result["quick"] is True
    assert {"settings", "machine", "load_generator", "models"} <= set(result)
    model = result["models"]["logreg"]
    assert {"in_process", "servers", "ratios"} <= set(model)
    assert model["in_process"]["sklearn_proba_1row_ms"] > 0
    assert model["in_process"]["served_batch_rows_per_s"] > 0
    assert result["settings"]["native_threads"] == 1
    for tool in ("mlfactory", "mlfactory-nolog"):  # the prediction log on and off
        ours = model["servers"][tool]
        if "skipped" in ours or "failed" in ours:
            continue
        assert ours["agrees_with_in_process"] is True
        assert ours["threads"]["server.batching.native_threads"] == 1
        for case in ("single_c1", "single_c16", "batch", "batch_arrow"):
            keys = {"rps", "rows_per_s", "p50_ms", "p99_ms", "errors", "concurrency", "rounds_rps"}
            assert keys <= set(ours[case])
            assert ours[case]["errors"] == 0
        assert ours["batch_arrow"]["format"] == "arrow" and ours["batch_arrow"]["share_of_floor"] > 0


def test_training_benchmark_quick_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "training.json"
    proc, result = run_benchmark("training", out, "--quick", "--format", "mlfactory", "skops-plain")

    assert result["benchmark"] == "training"
    assert result["quick"] is True
    assert result["settings"]["threads"] == 1
    (size,) = result["results"]
    assert size["vocabulary"] == size["terms"] == 2_000
    assert size["fit_s"] > 0
    ours, plain = size["formats"]["mlfactory"], size["formats"]["skops-plain"]
    for m in (ours, plain):
        assert m["save_s"] > 0 and m["load_s"] > 0 and m["bytes"] > 0
        assert m["same_predictions"] is True
    assert ours["entries"] < 10 < size["terms"] < plain["entries"]  # one .npy per term before packing
    assert set(size["plain_over_mlfactory"]) == {"save", "load"}
    assert "zip entries" in proc.stdout  # the table was printed


DASHBOARD_PAGES = {
    "overview",
    "runs",
    "runs_filtered",
    "runs_sorted",
    "runs_deep",
    "compare_50",
    "run",
    "models",
    "model",
    "lineage",
    "deployments",
    "monitoring",
    "events",
    "events_filtered",
    "data",
    "audit",
}


def test_dashboard_benchmark_quick_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "dashboard.json"
    proc, result = run_benchmark("dashboard", out, "--quick")

    assert result["benchmark"] == "dashboard"
    assert result["quick"] is True and result["backend"] == "sqlite"
    assert {"sizes", "machine", "fill_s", "pages", "aim_ms"} <= set(result)
    assert result["sizes"]["runs"] == 200 and result["sizes"]["predictions"] == 20_000
    assert set(result["fill_s"]) == {"dataset", "runs", "versions", "reports", "events", "predictions"}
    assert set(result["pages"]) == DASHBOARD_PAGES  # every page answered 200 (the script fails otherwise)
    for page in result["pages"].values():
        assert page["loads"] == result["sizes"]["loads"]
        assert 0 < page["p50_s"] <= page["p95_s"]
        assert page["bytes"] > 500
    assert result["pages"]["runs_deep"]["url"] == "/runs?offset=100"
    assert result["pages"]["compare_50"]["url"].count("id=") == 50
    assert "browser" not in result and result["anchors"] == {}  # the browser only with --browser
    assert "compare_50" in proc.stdout  # the table was printed
    audit = result["audit"]  # the audit's looking part, timed over the same stores
    assert audit["rounds"] >= 1 and 0 < audit["p50_s"] <= audit["max_s"] and 0 <= audit["score"] <= 7


def test_storage_benchmark_quick_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "storage.json"
    proc, result = run_benchmark(
        "storage", out, "--quick", "--artifact-mb", "1", "--log-rows", "65536", "--score-rows", "10000"
    )

    assert result["benchmark"] == "storage"
    assert result["quick"] is True
    assert {"settings", "machine", "artifacts", "prediction_log", "scoring"} <= set(result)
    assert "anchors" not in result  # MLflow only with --with-anchors
    for where in ("disk", "bucket"):
        sizes = result["artifacts"][where]["sizes"]
        assert set(sizes) == {"1"} and all(sizes["1"][f"{op}_mb_s"] > 0 for op in ("put", "get", "verify"))
        log = result["prediction_log"][where]
        assert log["write"]["rows"] == log["read"]["rows"] == 65_536  # the window read back every row
    for where in ("local", "bucket"):
        scored = result["scoring"][where]["10000"]
        assert scored["rows"] == 10_000 and scored["rows_per_s"] > 0 and scored["peak_rss_bytes"] > 0
    assert "Batch scoring" in proc.stdout  # the tables were printed


@pytest.mark.slow
def test_drift_log_benchmark_times_the_command_beside_the_sdk(tmp_path: Path) -> None:
    out = tmp_path / "drift_log.json"
    proc, result = run_benchmark("drift", out, "--log-rows", "1000", "--rounds", "2", timeout=900)

    assert result["benchmark"] == "drift_log"
    (size,) = result["results"]
    assert size["rows"] == 1000
    assert len(size["rounds"]) == 2 and all(r["rows"] == 1000 for r in size["rounds"])
    command = size["command"]
    assert len(command["rounds"]) == 2  # `mlfactory monitor run` ran in its own process each round
    for r in command["rounds"]:
        assert r["rows"] == 1000  # its --window held every logged row, as Project.monitor's did
        assert r["seconds"] > 0 and r["cpu_seconds"] > 0 and r["peak_rss_mib"] > 0
    times = sorted(r["seconds"] for r in command["rounds"])
    assert command["seconds"] == (times[0] + times[1]) / 2  # the median of the rounds
    assert "command CPU" in proc.stdout  # the table shows the command's columns
