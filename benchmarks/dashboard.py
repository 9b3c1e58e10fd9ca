"""Dashboard speed: each page's server time and bytes over a project filled to a production-like size.

    .venv/bin/python benchmarks/dashboard.py                 # 10,000 runs on SQLite (see the sizes below)
    .venv/bin/python benchmarks/dashboard.py --steps 10      # fewer metric steps per run (a faster fill)
    .venv/bin/python benchmarks/dashboard.py --metadata-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python benchmarks/dashboard.py --browser       # + time until headless Chromium drew the plots
    .venv/bin/python benchmarks/dashboard.py --with-anchors  # + MLflow's UI on the same runs, side by side
    .venv/bin/python benchmarks/dashboard.py --quick         # small sizes, few loads (smoke test)

A fresh quickstart project in a temporary folder (SQLite by default; with ``--metadata-url`` a PostgreSQL
schema of its own, dropped afterwards) is filled through the stores' own APIs: runs with their metrics
logged in one batch per run, model versions registered with a tiny real artifact, aliases and a canary,
monitoring reports, events (inserted in bulk into the SQL store's event table, as ``add_event`` writes them,
so filling 100,000 takes seconds), and prediction-log segments written by the servers' own writer
(:class:`~mlfactory.stores.predictions.PredictionLog`) in big segments, their rows in the last hour.

Then the dashboard runs in-process (``create_dashboard`` under FastAPI's TestClient: no network, no server
process) and every page is loaded ``--loads`` times after one warm-up load; the table shows p50 and p95 of
the time from request to the last byte of the answer, the first (cold) load, and the answer's size. With
``--browser`` the same app is served by uvicorn on loopback and Debian's Chromium (Playwright,
``/usr/bin/chromium``, headless) opens each page until every plot container holds an SVG.

With ``--with-anchors`` (``anchors/mlflow_ui.py``), MLflow in its own environment gets the same runs (count,
metrics, steps, params, statuses), 1,000 versions over the same models and a production alias, bulk-inserted
into its SQLite tables (``log_batch`` takes 1,000 points a call: 20,000 calls at full size), and is served by
``mlflow server --workers 1`` on loopback with MLflow's default durability (rollback journal, synchronous
FULL; mlfactory's SQLite runs WAL with synchronous NORMAL) and its job runner off. Five mlfactory pages are
then timed against the calls MLflow's UI makes for the same view (as Chromium's network log showed them:
runs/search for 50 runs newest first, 320 sampled points per chart, 25 models or versions a page);
mlfactory's dashboard is served by uvicorn in this process, and both are timed over loopback HTTP, taking
turns load by load; the ratio is of those p50s. With ``--browser`` too, Chromium opens MLflow's experiment
page until the newest run shows in its runs table, next to mlfactory's runs page drawn.

Aim (issue 14): every page under 200 ms of server time at full size, and under 1 s to a drawn page in the
browser. The audit's looking part (``mlfactory audit`` without ``--run``) is timed over the same stores
before the pages (issue 17: seconds at this size), and one audit is stored for the Audit page.
"""

from __future__ import annotations

import argparse
import math
import random
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from _common import console, fmt_ratio, fmt_seconds, machine, write_json
from anchors import mlflow_ui
from rich.table import Table

from mlfactory.entities import PRODUCTION, Metric, RunStatus, VersionStatus
from mlfactory.project import Project, open_project
from mlfactory.quickstart import init_project

AIM_MS = 200.0
BROWSER_AIM_S = 1.0
MODEL = "spam"  # the quickstart's declared (managed) model: it takes the canary and the predictions
FULL = {
    "runs": 10_000,
    "metrics": 20,
    "steps": 100,
    "versions": 1_000,
    "models": 10,
    "events": 100_000,
    "predictions": 1_000_000,
    "reports": 200,
    "loads": 20,
}
QUICK = {
    "runs": 200,
    "metrics": 5,
    "steps": 10,
    "versions": 50,
    "models": 5,
    "events": 2_000,
    "predictions": 20_000,
    "reports": 10,
    "loads": 3,
}
SEGMENT_ROWS = 250_000  # rows per prediction-log segment (a busy server's flush, not many tiny files)
PAGE_BUDGET_S = 30.0  # a page slower than this gets fewer loads, at least MIN_LOADS
MIN_LOADS = 3
CHUNK_ROWS = 100  # rows answered together (one time and latency each)
EVENT_KINDS = ["bench.tick"] * 17 + ["monitor.alert", "controller.resumed", "bench.note"]
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHROMIUM = "/usr/bin/chromium"


@dataclass
class Filled:
    """What the pages are pointed at after the fill, and how long each part of the fill took."""

    run_ids: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


# -- the project ----------------------------------------------------------------------------------------


def _with_search_path(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


@contextmanager
def metadata_url(url: str | None, root: Path) -> Iterator[str]:
    """SQLite in the project's folder, or a fresh PostgreSQL schema dropped afterwards."""
    if not url:
        yield f"sqlite:///{root / 'bench-metadata.db'}"
        return
    import sqlalchemy as sa

    schema = f"mlfactory_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url)
    with admin.begin() as c:
        c.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield _with_search_path(url, schema)
    finally:
        with admin.begin() as c:
            c.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@contextmanager
def filled_project(sizes: dict[str, int], url: str | None) -> Iterator[tuple[Project, Filled]]:
    with tempfile.TemporaryDirectory(prefix="mlfactory-bench-ui-") as tmp:
        root = Path(tmp) / "project"
        init_project(root, rows=300)
        with metadata_url(url, Path(tmp)) as meta_url:
            env = {"MLFACTORY_STORES__METADATA": meta_url}
            with open_project(root, env=env, actor="bench") as project:
                yield project, fill(project, sizes)


def _step(filled: Filled, name: str, fn: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    out = fn()
    filled.seconds[name] = time.perf_counter() - start
    console.print(f"[dim]  {name}: {filled.seconds[name]:.1f} s[/dim]")
    return out


def fill(project: Project, sizes: dict[str, int]) -> Filled:
    filled = Filled()
    console.print("[dim]filling the project...[/dim]")
    _step(filled, "dataset", lambda: project.ingest("emails"))
    filled.run_ids = _step(filled, "runs", lambda: fill_runs(project, sizes))
    filled.models = _step(filled, "versions", lambda: fill_versions(project, sizes, filled.run_ids))
    _step(filled, "reports", lambda: fill_reports(project, sizes))
    _step(filled, "events", lambda: fill_events(project, sizes, filled.models))
    _step(filled, "predictions", lambda: fill_predictions(project, sizes))
    return filled


def fill_runs(project: Project, sizes: dict[str, int]) -> list[str]:
    """Runs with params, tags, an environment, and every metric at every step logged in one batch."""
    meta, rng = project.metadata, random.Random(0)
    keys = [f"m{k:02d}" for k in range(sizes["metrics"])]
    ids = []
    for i in range(sizes["runs"]):
        params = {"C": [0.1, 1, 10][i % 3], "max_iter": 100 + 50 * (i % 4), "penalty": ["l1", "l2"][i % 2]}
        env = {"python": "3.11.9", "packages": {"numpy": "2.1.0", "scikit-learn": f"1.{5 + i % 2}.0"}}
        run = meta.create_run(
            MODEL if i % 4 else "baseline", params=params, tags={"team": "ml"}, environment=env
        )
        base, ts = rng.random(), time.time()
        meta.log_metrics(
            run,
            [
                Metric(key, base + k / 100 + step / (10 * sizes["steps"]), step, ts)
                for k, key in enumerate(keys)
                for step in range(sizes["steps"])
            ],
        )
        meta.end_run(run, RunStatus.FAILED if i % 50 == 7 else RunStatus.FINISHED)
        ids.append(run)
        if i and i % 2000 == 0:
            console.print(f"[dim]    {i:,} runs[/dim]")
    return ids


def fill_versions(project: Project, sizes: dict[str, int], run_ids: list[str]) -> list[str]:
    """Versions spread over ``models`` models (the first is the declared one), each judged against the one
    before; production on the second newest of each, and a canary of the newest on the declared model."""
    meta = project.metadata
    digest = project.artifacts.put_bytes(b"a tiny model's bytes")
    dataset = project.dataset("emails")
    names = [MODEL] + [f"model-{m:02d}" for m in range(1, sizes["models"])]
    per = sizes["versions"] // len(names)
    for m, name in enumerate(names):
        for n in range(1, per + 1):
            f1 = 0.7 + 0.2 * ((n * 7 + m) % 10) / 10
            meta.create_model_version(
                name,
                status=VersionStatus.READY if f1 >= 0.72 else VersionStatus.REJECTED,
                run_id=run_ids[(m * per + n) % len(run_ids)],
                artifact=digest,
                flavor="skops",
                signature={"inputs": [{"name": "subject", "type": "text"}], "task": "classification"},
                metrics={"f1": f1, "accuracy": f1 + 0.01, "precision": f1 - 0.02, "recall": f1 + 0.02},
                gates=[{"metric": "f1", "rule": "f1 >= 0.72", "value": f1, "passed": f1 >= 0.72}],
                profile={},
                lineage={
                    "dataset": dataset.id,
                    "source": "emails",
                    "champion": f"{name}/{n - 1}" if n > 1 else None,
                },
                card=f"# {name} v{{version}}\n\nRegistered by the dashboard benchmark.",
                actor="bench",
            )
        meta.move_alias(name, PRODUCTION, per - 1, kind="alias.set", actor="bench", reason="benchmark")
    project.deploy_canary(MODEL, per, weight=10.0, reason="benchmark canary", force=True)
    return names


def fill_reports(project: Project, sizes: dict[str, int]) -> None:
    """Monitoring reports of the production version, each with a few columns' distributions."""
    production = project.route_table(MODEL).aliases[PRODUCTION]
    for i in range(sizes["reports"]):
        share = (i % 10) / 10
        columns = [
            {
                "column": f"c{c}",
                "kind": "numeric",
                "method": "psi",
                "statistic": 0.05 * c,
                "p_value": None,
                "effect_size": 0.01 * c,
                "drifted": c < share * 10,
                "plot": {"labels": ["a", "b", "c"], "reference": [0.3, 0.4, 0.3], "current": [0.2, 0.4, 0.4]},
            }
            for c in range(10)
        ]
        report = {"model": MODEL, "version": production, "route": PRODUCTION, "rows": 1000, "status": "ok"}
        report |= {"drift": {"share": share, "threshold": 0.5}, "columns": columns, "findings": []}
        metrics = {
            "drift.share": share,
            "performance.accuracy": 0.9 - share / 10,
            "estimated.accuracy": 0.88,
            "health.latency_p95_ms": 4.0 + i % 3,
        }
        project.metadata.add_monitor_report(
            model=MODEL,
            version=production,
            route=PRODUCTION,
            window_start=None,
            window_end=None,
            rows=1000,
            status="drift" if share > 0.5 else "ok",
            metrics=metrics,
            report=report,
            actor="bench",
        )


def fill_events(project: Project, sizes: dict[str, int], models: list[str]) -> None:
    """Events one second apart up to now, over every model, kind and a few actors: in bulk into the SQL
    store's event table (one ``add_event`` transaction each would take minutes), else one at a time."""
    n, start = sizes["events"], datetime.now(UTC) - timedelta(seconds=sizes["events"])
    rows: list[dict[str, Any]] = [
        {
            "time": start + timedelta(seconds=i),
            "kind": EVENT_KINDS[i % len(EVENT_KINDS)],
            "actor": ["controller", "alice", "monitor"][i % 3],
            "model": models[i % len(models)],
            "payload": {"tick": i},
            "reason": f"benchmark event {i}",
        }
        for i in range(n)
    ]
    engine = getattr(project.metadata, "engine", None)
    if engine is None:
        for r in rows:
            project.metadata.add_event(r["kind"], actor=r["actor"], model=r["model"], payload=r["payload"])
        return
    from sqlalchemy import insert

    from mlfactory.stores.sql import schema

    with engine.begin() as c:
        for i in range(0, n, 10_000):
            c.execute(insert(schema.events), rows[i : i + 10_000])


@dataclass(frozen=True)
class Inputs:
    """One numeric input column, as the serving tier hands the log its checked rows."""

    values: np.ndarray
    names: tuple[str, ...] = ("score",)
    violations: np.ndarray | None = None

    @property
    def matrix(self) -> np.ndarray:
        return self.values.reshape(-1, 1)

    @property
    def columns(self) -> dict[str, np.ndarray]:
        return {"score": self.values}


def fill_predictions(project: Project, sizes: dict[str, int]) -> int:
    """Rows of the declared model over the last 50 minutes, production and canary, in big segments."""
    from mlfactory.stores.predictions import open_prediction_log

    routes = project.route_table(MODEL)
    production, canary = routes.aliases[PRODUCTION], routes.canary
    log = open_prediction_log(project.loaded)
    rng = np.random.default_rng(0)
    total, now = sizes["predictions"], time.time()
    chunks = math.ceil(total / CHUNK_ROWS)
    written = 0
    for k in range(chunks):
        n = min(CHUNK_ROWS, total - k * CHUNK_ROWS)
        at = now - 3000 + 3000 * k / chunks
        on_canary = canary is not None and k % 10 == 0
        p = rng.random(n)
        log.append(
            model=MODEL,
            version=int(canary if on_canary else production),  # type: ignore[arg-type]
            route="canary" if on_canary else PRODUCTION,
            time=at,
            latency_ms=float(rng.gamma(2.0, 2.0)),
            request_ids=log.ids.make(n, now=at),
            batch=Inputs(rng.random(n)),
            predictions=(p > 0.5).astype(np.int64),
            probabilities=np.column_stack([1 - p, p]),
        )
        if (k + 1) * CHUNK_ROWS % SEGMENT_ROWS == 0:
            written += log.flush()
    written += log.flush()
    return written


# -- measuring ------------------------------------------------------------------------------------------


def pages(project: Project, filled: Filled, sizes: dict[str, int]) -> dict[str, str]:
    """The measured pages: key -> URL (filters in the query string, as a reader would share them)."""
    newest = project.runs_page(limit=50).items
    compare = "&".join(f"id={r.id}" for r in newest)
    per = sizes["versions"] // sizes["models"]
    deep = max(sizes["runs"] - 100, 0)
    return {
        "overview": "/",
        "runs": "/runs",
        "runs_filtered": "/runs?where=metrics.m00+%3E+0.5+and+params.C+%3D+1",
        "runs_sorted": "/runs?sort=name&desc=0",
        "runs_deep": f"/runs?offset={deep}",
        "compare_50": f"/runs/compare?{compare}",
        "run": f"/runs/{filled.run_ids[-1]}",
        "models": "/models",
        "model": f"/models/{MODEL}",
        "lineage": f"/lineage/{MODEL}/{per // 2}",
        "deployments": "/deployments",
        "monitoring": f"/monitoring?model={MODEL}",
        "events": "/events",
        "events_filtered": f"/events?model={MODEL}&kind=monitor.alert&actor=alice",
        "data": "/data",
        "audit": "/audit",
    }


def measure_audit(project: Project, rounds: int) -> dict[str, Any]:
    """The audit's looking part (no on-demand check) over the filled stores: seconds per audit, and one
    stored so the Audit page has a report to show."""
    from mlfactory.audit.run import run_audit

    seconds = []
    for _ in range(rounds):
        started = time.perf_counter()
        report = run_audit(project, store=False)
        seconds.append(time.perf_counter() - started)
    run_audit(project)
    return {
        "rounds": rounds,
        "p50_s": percentile(seconds, 50),
        "max_s": max(seconds),
        "score": report.score,
        "findings": len(report.findings),
    }


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (p95 of 20 loads is the 19th fastest)."""
    ordered = sorted(values)
    return ordered[max(math.ceil(q / 100 * len(ordered)) - 1, 0)]


def measure_server(project: Project, urls: dict[str, str], loads: int) -> dict[str, dict[str, Any]]:
    from fastapi.testclient import TestClient

    from mlfactory.dashboard import create_dashboard

    out: dict[str, dict[str, Any]] = {}
    with TestClient(create_dashboard(lambda: project), base_url="http://127.0.0.1") as client:
        for key, url in urls.items():
            times: list[float] = []
            size, began = 0, time.perf_counter()
            for _ in range(loads + 1):  # the first load warms caches and is reported apart
                if len(times) > MIN_LOADS and time.perf_counter() - began > PAGE_BUDGET_S:
                    break  # a very slow page: fewer loads (the JSON says how many)
                start = time.perf_counter()
                response = client.get(url)
                elapsed = time.perf_counter() - start
                if response.status_code != 200:
                    raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:500]}")
                size = len(response.content)
                times.append(elapsed)
            rest = times[1:]
            out[key] = {
                "url": url,
                "loads": len(rest),
                "first_s": times[0],
                "p50_s": percentile(rest, 50),
                "p95_s": percentile(rest, 95),
                "bytes": size,
            }
            console.print(f"[dim]  {key}: p50 {fmt_seconds(out[key]['p50_s'])}[/dim]")
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(project: Project) -> Iterator[str]:
    """The dashboard served by uvicorn on a loopback port in a thread of this process."""
    import uvicorn

    from mlfactory.dashboard import create_dashboard

    port = _free_port()
    config = uvicorn.Config(
        create_dashboard(lambda: project), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def browser_unavailable() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed in this environment"
    return None


DRAWN = "() => [...document.querySelectorAll('figure.plot')].every(f => f.querySelector('svg'))"


def measure_browser(project: Project, urls: dict[str, str], loads: int) -> dict[str, dict[str, Any]]:
    """Seconds from navigation until every plot container of the page holds an SVG (plots drawn)."""
    from playwright.sync_api import sync_playwright

    out: dict[str, dict[str, Any]] = {}
    with served(project) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for key, url in urls.items():
            times: list[float] = []
            plots = 0
            for _ in range(loads + 1):
                start = time.perf_counter()
                page.goto(base + url, wait_until="load")
                page.wait_for_function(DRAWN, timeout=30_000)
                times.append(time.perf_counter() - start)
                plots = int(page.locator("figure.plot").count())
            rest = times[1:]
            out[key] = {"plots": plots, "p50_s": percentile(rest, 50), "p95_s": percentile(rest, 95)}
            console.print(f"[dim]  browser {key}: p50 {fmt_seconds(out[key]['p50_s'])}[/dim]")
        browser.close()
    return out


# -- report ---------------------------------------------------------------------------------------------


def print_table(result: dict[str, Any]) -> None:
    sizes = result["sizes"]
    title = (
        f"Dashboard on {result['backend']}: {sizes['runs']:,} runs x {sizes['metrics']} metrics x "
        f"{sizes['steps']} steps, {sizes['versions']:,} versions, {sizes['events']:,} events, "
        f"{sizes['predictions']:,} predictions"
    )
    browser = result.get("browser") or {}
    table = Table(title=title)
    for name in ("page", "url", "p50", "p95", "first load", "loads", "bytes"):
        table.add_column(name, justify="left" if name in ("page", "url") else "right")
    if "pages" in browser:
        table.add_column(f"drawn p50 (aim < {BROWSER_AIM_S:g} s)", justify="right")
    for key, m in result["pages"].items():
        colour = "green" if m["p50_s"] * 1000 < AIM_MS else "red"
        url = m["url"] if len(m["url"]) <= 48 else m["url"][:45] + "..."
        row = [key, url, f"[{colour}]{fmt_seconds(m['p50_s'])}[/{colour}]", fmt_seconds(m["p95_s"])]
        row += [fmt_seconds(m["first_s"]), str(m["loads"]), f"{m['bytes']:,}"]
        if "pages" in browser:
            row.append(fmt_seconds(browser["pages"][key]["p50_s"]))
        table.add_row(*row)
    console.print(table)
    console.print(f"[dim]aim: p50 server time under {AIM_MS:g} ms (green) at full size[/dim]")
    audit = result["audit"]
    console.print(
        f"audit (looking part, no on-demand check): {fmt_seconds(audit['p50_s'])} p50 over "
        f"{audit['rounds']} rounds (max {fmt_seconds(audit['max_s'])}), score {audit['score']:.1f}, "
        f"{audit['findings']} findings"
    )
    if "skipped" in browser:
        console.print(f"[yellow]browser skipped: {browser['skipped']}[/yellow]")
    if "mlflow_ui" in result["anchors"]:
        print_anchor(result)


def print_anchor(result: dict[str, Any]) -> None:
    """mlfactory's pages next to MLflow's UI showing the same, both served on loopback, timed in turns."""
    mlflow = result["anchors"]["mlflow_ui"]
    table = Table(title=f"Side by side: MLflow {mlflow['version']} UI on the same runs (p50 server time)")
    for name in ("mlfactory page", "MLflow equivalent", "mlfactory", "mlfactory (HTTP)", "MLflow (HTTP)"):
        table.add_column(name, justify="left" if "page" in name or "equivalent" in name else "right")
    table.add_column("MLflow / mlfactory", justify="right")
    for key, theirs in mlflow["equivalent"].items():
        ours = mlflow["mlfactory_http"][key]
        row = [key, f"{theirs} ({len(mlflow['pages'][theirs]['calls'])} calls)"]
        row += [fmt_seconds(result["pages"][key]["p50_s"]), fmt_seconds(ours["p50_s"])]
        row += [fmt_seconds(mlflow["pages"][theirs]["p50_s"]), fmt_ratio(mlflow["ratios"][key])]
        table.add_row(*row)
    ours_drawn = (result.get("browser") or {}).get("pages", {}).get("runs")
    if "browser" in mlflow and ours_drawn:
        theirs_s = mlflow["browser"]["p50_s"]
        row = [
            "runs (Chromium, drawn)",
            "experiment page until rows show",
            "-",
            fmt_seconds(ours_drawn["p50_s"]),
        ]
        table.add_row(*row, fmt_seconds(theirs_s), fmt_ratio(theirs_s / ours_drawn["p50_s"]))
    console.print(table)
    console.print(
        "[dim]mlfactory: in process (TestClient), then served by uvicorn; MLflow: `mlflow server` "
        f"({mlflow['durability']}); the HTTP columns take turns load by load; ratio of the HTTP p50s[/dim]"
    )


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, 3 loads per page (a smoke run)")
    for key in FULL:
        parser.add_argument(
            f"--{key}", type=int, help=f"{key} (default {FULL[key]:,}; {QUICK[key]:,} with --quick)"
        )
    parser.add_argument(
        "--metadata-url", help="PostgreSQL to fill in a fresh schema, dropped afterwards (default: SQLite)"
    )
    parser.add_argument(
        "--browser", action="store_true", help="also time headless Chromium drawing each page"
    )
    parser.add_argument(
        "--with-anchors",
        action="store_true",
        help="also fill MLflow (own venv) with the same runs and time its UI's equivalent pages",
    )
    parser.add_argument("--output", type=Path, help="where to write the JSON (default benchmarks/results/)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    sizes = dict(QUICK if args.quick else FULL)
    sizes |= {k: getattr(args, k) for k in FULL if getattr(args, k) is not None}
    backend = "postgresql" if args.metadata_url else "sqlite"
    result: dict[str, Any] = {
        "benchmark": "dashboard",
        "quick": args.quick,
        "sizes": sizes,
        "backend": backend,
        "machine": machine(),
        "aim_ms": AIM_MS,
        "anchors": {},  # with --with-anchors: "mlflow_ui", MLflow's UI on the same runs
    }
    with filled_project(sizes, args.metadata_url) as (project, filled):
        result["fill_s"] = filled.seconds
        result["audit"] = measure_audit(project, min(sizes["loads"], 3))
        urls = pages(project, filled, sizes)
        console.print(f"[dim]measuring {len(urls)} pages, {sizes['loads']} loads each...[/dim]")
        result["pages"] = measure_server(project, urls, sizes["loads"])
        if args.browser:
            reason = browser_unavailable()
            loads = min(sizes["loads"], 5)
            result["browser"] = (
                {"skipped": reason}
                if reason
                else {"loads": loads, "pages": measure_browser(project, urls, loads)}
            )
        if args.with_anchors:
            chromium = (CHROMIUM, ARGS) if args.browser and not browser_unavailable() else None
            with served(project) as base:
                result["anchors"]["mlflow_ui"] = mlflow_ui.measure(base, urls, sizes, _free_port, chromium)
    print_table(result)
    path = write_json("dashboard", result, args.output)
    console.print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
