"""Alerts post to a webhook on loopback and respect their cooldown; the CLI commands work end to end."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from mlfactory.cli.main import app
from mlfactory.config import MonitoringConfig
from mlfactory.monitoring import Window, run_monitor
from mlfactory.project import Project
from mlfactory.stores.predictions import PredictionLog

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"content_type": self.headers["Content-Type"], **json.loads(body)})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()
    thread.join()


def test_alert_fires_once_then_is_suppressed_during_cooldown(
    project: Project, plog: PredictionLog, send, receiver
) -> None:
    url, received = receiver
    settings = MonitoringConfig(
        webhook_url=url,
        alerts=[
            {
                "name": "inputs-drift",
                "metric": "drift.share",
                "above": 0.2,
                "min_rows": 100,
                "cooldown": "1h",
            },
            {"name": "tiny-windows", "metric": "drift.share", "above": 0.0, "min_rows": 100_000},
            {"name": "other-window", "metric": "drift.share", "above": 0.0, "window": "1d"},
        ],
    )
    send(800, drift=0.9)
    (first,) = run_monitor(project.metadata, plog, settings, model="spam", window=Window(seconds=3600))
    assert [(a["rule"], a["state"]) for a in first.alerts] == [("inputs-drift", "fired")]
    assert first.alerts[0]["webhook"] == {"delivered": True, "status": 204}
    assert len(received) == 1 and received[0]["rule"] == "inputs-drift"
    assert received[0]["content_type"] == "application/json" and received[0]["report"] == first.id
    (second,) = run_monitor(project.metadata, plog, settings, model="spam", window=Window(seconds=3600))
    assert [(a["rule"], a["state"]) for a in second.alerts] == [("inputs-drift", "suppressed")]
    assert len(received) == 1
    events = project.metadata.list_events(model="spam", kinds=["monitor.alert"])
    assert len(events) == 1 and "drift.share" in events[0].reason


def test_unreachable_webhook_is_recorded_not_raised(project: Project, plog: PredictionLog, send) -> None:
    settings = MonitoringConfig(
        webhook_url="http://127.0.0.1:9/none",
        webhook_timeout=1.0,
        alerts=[{"name": "any", "metric": "rows", "above": 1}],
    )
    send(200)
    (report,) = run_monitor(project.metadata, plog, settings, model="spam", window=Window(seconds=600))
    assert report.alerts[0]["state"] == "fired" and report.alerts[0]["webhook"]["delivered"] is False


def test_cli_run_history_report_compare(project: Project, send, tmp_path: Path) -> None:
    send(600, drift=0.9)
    runner = CliRunner()
    base = ["--project", str(project.root), "monitor"]
    out = runner.invoke(app, [*base, "run", "--model", "spam", "--window", "1h", "--json"])
    assert out.exit_code == 0, out.output
    (report,) = json.loads(out.output)
    assert report["rows"] == 600 and report["drift"]["columns"]
    html = tmp_path / "r.html"
    out = runner.invoke(app, [*base, "run", "--last", "600", "--html", str(html)])
    assert out.exit_code == 0 and html.exists() and "report written" in out.output
    out = runner.invoke(app, [*base, "history", "spam", "--json"])
    assert out.exit_code == 0 and len(json.loads(out.output)) == 2
    page = tmp_path / "page.html"
    out = runner.invoke(app, [*base, "report", "spam", "--html", str(page)])
    assert out.exit_code == 0 and page.stat().st_size > 1_000_000 and "report written" in out.output
    bad = runner.invoke(app, [*base, "run", "--window", "1h", "--last", "5"])
    assert bad.exit_code != 0
    frame = pd.read_csv(project.root / "data" / "emails.csv")
    frame.head(1000).to_parquet(tmp_path / "ref.parquet")
    frame.tail(1000).assign(n_links=frame.tail(1000)["n_links"] + 5).to_parquet(tmp_path / "cur.parquet")
    out = runner.invoke(
        app, [*base, "compare", str(tmp_path / "ref.parquet"), str(tmp_path / "cur.parquet"), "--json"]
    )
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert "n_links" in result["dataset"]["columns"] and result["types"]["body"] == "text"


def test_cli_bad_window_message(project: Project) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlfactory.cli.main",
            "--project",
            str(project.root),
            "monitor",
            "run",
            "--window",
            "soon",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 2 and "'soon' is not a duration" in proc.stderr


def test_drift_benchmark_quick_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "drift.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "drift.py"), "--rows", "5000", "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (result,) = json.loads(out.read_text())["results"]
    drifted = {"cat_00", "cat_01", "num_00", "num_01", "num_02"}
    for tool in ("mlfactory", "mlfactory_stream", "scipy"):
        assert drifted <= set(
            result[tool]["flagged"]
        )  # the scipy loop (p < 0.05, no effect size) may add some
        assert result[tool]["seconds"] > 0 and result[tool]["peak_rss_mib"] > 0
    assert set(result["mlfactory"]["flagged"]) == set(result["mlfactory_stream"]["flagged"]) == drifted
