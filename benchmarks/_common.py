"""Helpers shared by the benchmark scripts: timing, anchor virtual environments, JSON results, tables."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ANCHORS = ROOT / ".bench-cache" / "anchors"
# one MLflow environment for the serving, tracking and storage benchmarks (psycopg 3: the PostgreSQL driver
# mlfactory uses); a different list per script would reinstall it each time another script runs
MLFLOW_PACKAGES = ["mlflow", "psycopg[binary]"]
console = Console()
if not console.is_terminal:  # piped or captured: wide enough for the tables
    console.width = 132


def timed(fn: Callable[[], Any]) -> float:
    """Seconds taken by one call of ``fn``."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def machine() -> dict[str, Any]:
    """What the numbers were measured on (they only mean something as ratios within one run)."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_json(name: str, payload: dict[str, Any], path: Path | None = None) -> Path:
    """Write the results to ``benchmarks/results/<name>.json`` (or ``path``) and return where."""
    target = path or RESULTS / f"{name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")
    return target


def anchor_env(name: str, packages: Sequence[str]) -> Path:
    """The Python of an anchor's own virtual environment ``.bench-cache/anchors/<name>``, made on first use.

    The anchors (MLflow, BentoML, ...) are what users compare mlfactory with; they are never project
    dependencies. The environment is reused while the requested package list stays the same.
    """
    venv = ANCHORS / name
    python = venv / "bin" / "python"
    marker = venv / ".mlfactory-bench-packages"
    wanted = "\n".join(packages)
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    console.print(f"[dim]creating the {name} anchor environment in {venv} (once; about a minute)...[/dim]")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *packages], check=True
    )
    marker.write_text(wanted)
    return python


def anchor_environ(python: Path) -> dict[str, str]:
    """Environment for an anchor subprocess: its venv's bin first on PATH, telemetry off."""
    env = dict(os.environ)
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONPATH", None)
    env.update(
        {
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
            "BENTOML_DO_NOT_TRACK": "true",
            "GIT_PYTHON_REFRESH": "quiet",
            "PYTHONWARNINGS": "ignore",
        }
    )
    return env


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_ratio(ratio: float | None, target: float | None = None) -> str:
    if ratio is None:
        return "-"
    text = f"{ratio:.1f}x" if ratio < 100 else f"{ratio:.0f}x"
    if target is None:
        return text
    return f"[green]{text}[/green]" if ratio >= target else f"[red]{text}[/red]"
