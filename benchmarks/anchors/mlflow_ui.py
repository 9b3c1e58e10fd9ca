"""MLflow's UI on the dashboard benchmark's runs: the anchor of ``benchmarks/dashboard.py --with-anchors``.

This file has two halves that never share a process:

* ``fill`` runs inside MLflow's own virtual environment (``python mlflow_ui.py fill DB SIZES``): it fills an
  MLflow SQLite tracking store with the same runs as the mlfactory side and prints one JSON line saying what
  it made. Runs, their tags, params, metric histories and latest metrics are inserted in bulk into MLflow's
  own tables (the rows ``create_run`` + ``log_batch`` + ``set_terminated`` write, checked against a run made
  through the API): ``log_batch`` takes at most 1,000 points a call, so 20 M points would be 20,000 calls,
  about 50 minutes here. Registered models, versions and aliases go through ``MlflowClient``. The fill's own
  connection skips fsync (``synchronous=OFF``, this connection only); the database keeps MLflow's default
  rollback journal, so the server reads it with MLflow's defaults (rollback journal, ``synchronous`` FULL).
* Everything else is imported by ``dashboard.py`` in mlfactory's environment: it starts ``mlflow server``
  (SQLite backend, one worker, loopback, its job runner off: by default it starts 8 more processes that
  poll while idle) from MLflow's environment, times the HTTP calls MLflow's UI makes for each page (those
  Chromium's network log showed MLflow 3.17's UI making, listed by :func:`pages`) against the same
  mlfactory pages, and optionally opens the experiment page in headless Chromium until the runs table shows
  the newest run.

A page's time is the sum of its calls' times (request sent to last byte read, one keep-alive connection,
one call after another), so it is server time, like mlfactory's one HTML answer; MLflow's JavaScript and CSS
bundles are static files and, like mlfactory's static files, not counted.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

API = "/ajax-api/2.0/mlflow"
RUNS_PAGE_SIZE = 50  # the experiment page's runs table: runs/search, 50 runs, newest first
CHART_RUNS = 100  # the experiment page's second runs/search on load (no filter, 100 runs)
MODELS_PAGE_SIZE = 25  # the registered-model list's and the model page's default page size
SAMPLED_POINTS = 320  # the UI's charts ask get-history-bulk-interval for at most 320 points per run
LOGGED_ORDER = [{"field_name": "creation_time", "ascending": False}]
EXPERIMENT = "bench"
INSERT_RUNS = 200  # runs per executemany batch of the bulk fill
# mlfactory dashboard page -> the MLflow UI page that shows the same thing
EQUIVALENT = {
    "runs": "experiment runs",
    "run": "run metrics",
    "compare_50": "compare runs",
    "models": "registered models",
    "model": "model versions",
}


# -- inside MLflow's environment: the fill -------------------------------------------------------------


def _run_rows(i: int, run: str, sizes: dict[str, int], rng: random.Random, t0: int, exp: int, art: str):
    """The rows MLflow keeps for run ``i``: the same params, tag, status and metric values as mlfactory's."""
    start = t0 + i * 1000
    status = "FAILED" if i % 50 == 7 else "FINISHED"
    name = f"run-{i}"
    steps = sizes["steps"]
    runs = (run, name, "UNKNOWN", "", "", "unknown", status, start, start + 500, "", "active", art, exp)
    tags = [("team", "ml", run), ("mlflow.runName", name, run)]
    params = [
        ("C", str([0.1, 1, 10][i % 3]), run),
        ("max_iter", str(100 + 50 * (i % 4)), run),
        ("penalty", ["l1", "l2"][i % 2], run),
    ]
    base = rng.random()
    metrics, latest = [], []
    for k in range(sizes["metrics"]):
        key = f"m{k:02d}"
        values = [base + k / 100 + step / (10 * steps) for step in range(steps)]
        metrics += [(key, v, start, run, step, 0) for step, v in enumerate(values)]
        latest.append((key, values[-1], start, steps - 1, 0, run))
    return runs, tags, params, metrics, latest


INSERTS = {
    "runs": "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, "
    "start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id) "
    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
    "tags": "INSERT INTO tags (key, value, run_uuid) VALUES (?,?,?)",
    "params": "INSERT INTO params (key, value, run_uuid) VALUES (?,?,?)",
    "metrics": "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?,?,?,?,?,?)",
    "latest_metrics": "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
    "VALUES (?,?,?,?,?,?)",
}


def fill_runs(db: Path, sizes: dict[str, int], exp: int, artifacts: str) -> list[str]:
    """Every run in bulk, in start order (the last is the newest), one transaction."""
    rng, t0 = random.Random(0), int(time.time() * 1000) - sizes["runs"] * 1000
    ids = [uuid.uuid4().hex for _ in range(sizes["runs"])]
    con = sqlite3.connect(db)
    con.execute("PRAGMA synchronous=OFF")  # this connection only: the fill is not what is measured
    con.execute("PRAGMA cache_size=-1000000")  # up to 1 GB of pages: the metric indexes stay in memory
    indexes = con.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='index' AND tbl_name='metrics' AND sql IS NOT NULL"
    ).fetchall()
    try:
        with con:
            for name, _ in indexes:  # MLflow's own secondary indexes, built again after the rows are in
                con.execute(f'DROP INDEX "{name}"')
            for first in range(0, len(ids), INSERT_RUNS):
                batch: dict[str, list] = {table: [] for table in INSERTS}
                for i in range(first, min(first + INSERT_RUNS, len(ids))):
                    art = f"{artifacts}/{ids[i]}/artifacts"
                    runs, tags, params, metrics, latest = _run_rows(i, ids[i], sizes, rng, t0, exp, art)
                    batch["runs"].append(runs)
                    batch["tags"] += tags
                    batch["params"] += params
                    batch["metrics"] += metrics
                    batch["latest_metrics"] += latest
                for table, rows in batch.items():
                    con.executemany(INSERTS[table], rows)
            for _, sql in indexes:
                con.execute(sql)
    finally:
        con.close()
    return ids


def fill_versions(client: Any, sizes: dict[str, int], run_ids: list[str], source: str) -> list[str]:
    """Versions spread over the models as on the mlfactory side; production on each one's second newest."""
    names = ["spam"] + [f"model-{m:02d}" for m in range(1, sizes["models"])]
    per = sizes["versions"] // len(names)
    for m, name in enumerate(names):
        client.create_registered_model(name)
        for n in range(1, per + 1):
            client.create_model_version(name, source=source, run_id=run_ids[(m * per + n) % len(run_ids)])
        client.set_registered_model_alias(name, "production", str(max(per - 1, 1)))
    return names


def fill(db: Path, sizes: dict[str, int]) -> dict[str, Any]:
    """Fill a new MLflow SQLite store; return what the pages point at and how long each part took."""
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{db}"
    client = MlflowClient(uri, uri)
    artifacts = (db.parent / "mlartifacts").as_uri()
    exp = client.create_experiment(
        EXPERIMENT, artifact_location=artifacts, tags={"mlflow.experimentKind": "custom_model_development"}
    )
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    run_ids = fill_runs(db, sizes, int(exp), artifacts)
    seconds["runs"] = time.perf_counter() - start
    source = db.parent / "model"
    source.mkdir(exist_ok=True)
    (source / "MLmodel").write_text("flavors: {}\n")
    start = time.perf_counter()
    models = fill_versions(client, sizes, run_ids, str(source))
    seconds["versions"] = time.perf_counter() - start
    return {
        "version": mlflow.__version__,
        "experiment_id": str(exp),
        "newest": run_ids[::-1][:50],
        "newest_name": f"run-{len(run_ids) - 1}",
        "metric_keys": [f"m{k:02d}" for k in range(sizes["metrics"])],
        "models": models,
        "fill_s": seconds,
        "fill_method": "bulk insert into MLflow's tables (runs, metrics); MlflowClient (registry)",
    }


# -- in mlfactory's environment: the server and the measurement ----------------------------------------


@dataclass(frozen=True)
class Call:
    """One HTTP call of a page: method, path (with its query string) and JSON body."""

    method: str
    path: str
    body: dict[str, Any] | None = None


def _query(**params: Any) -> str:
    return urlencode(params, doseq=True)


def _history(run_ids: list[str], key: str) -> Call:
    query = _query(run_ids=run_ids, metric_key=key, max_results=SAMPLED_POINTS)
    return Call("GET", f"{API}/metrics/get-history-bulk-interval?{query}")


def _search(exp: str, max_results: int, **fields: Any) -> Call:
    body = {"experiment_ids": [exp], "run_view_type": "ACTIVE_ONLY", "max_results": max_results}
    return Call("POST", f"{API}/runs/search", body | {"order_by": ["attributes.start_time DESC"]} | fields)


def pages(filled: dict[str, Any]) -> dict[str, list[Call]]:
    """The data calls MLflow's UI makes to show each page, as Chromium's network log showed them (the SPA
    shell first; the app-wide calls every page makes, server-info, users/current and the assistant's
    config, are left out). The UI asks for the experiment and a run through GraphQL; the same lookups are
    made here through REST (``experiments/get``, ``runs/get``)."""
    exp, newest, model = filled["experiment_id"], filled["newest"], filled["models"][0]
    shell = Call("GET", "/")
    experiment = Call("GET", f"{API}/experiments/get?{_query(experiment_id=exp)}")
    runs_list = _search(exp, RUNS_PAGE_SIZE, filter="")
    in_ids = ",".join(f"'{r}'" for r in newest)
    compared = {"experiment_ids": [exp], "filter": f"run_id IN ({in_ids})", "run_view_type": "ALL"}
    compared["max_results"] = len(newest)
    return {
        "experiment runs": [
            shell,
            experiment,
            runs_list,
            Call("POST", f"{API}/experiments/search-datasets", {"experiment_ids": [exp]}),
            Call("POST", f"{API}/logged-models/search", {"experiment_ids": [exp], "order_by": LOGGED_ORDER}),
            _search(exp, CHART_RUNS),
        ],
        "run metrics": [
            shell,
            experiment,
            runs_list,
            Call("GET", f"{API}/runs/get?{_query(run_id=newest[0])}"),
            Call("GET", f"{API}/model-versions/search?" + _query(filter=f"run_id='{newest[0]}'")),
        ]
        + [_history([newest[0]], key) for key in filled["metric_keys"]],
        "compare runs": [shell, experiment, Call("POST", f"{API}/runs/search", compared)]
        + [Call("GET", f"{API}/artifacts/list?{_query(run_uuid=r)}") for r in newest]
        + [_history(newest, filled["metric_keys"][0])],
        "registered models": [
            shell,
            Call(
                "GET",
                f"{API}/registered-models/search?"
                + _query(filter="", max_results=MODELS_PAGE_SIZE, order_by="name ASC"),
            ),
        ],
        "model versions": [
            shell,
            Call(
                "GET",
                f"{API}/model-versions/search?"
                + _query(
                    filter=f"name='{model}'", max_results=MODELS_PAGE_SIZE, order_by="creation_timestamp DESC"
                ),
            ),
            Call("GET", f"{API}/registered-models/get?{_query(name=model)}"),
        ],
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(q / 100 * len(ordered)) - 1, 0)]


def _time_page(client: Any, page: list[Call]) -> tuple[float, int]:
    """Seconds of one page load (its calls one after another, each to its last byte) and its bytes."""
    total, size = 0.0, 0
    for call in page:
        start = time.perf_counter()
        response = client.request(call.method, call.path, json=call.body)
        total += time.perf_counter() - start
        if response.status_code != 200:
            raise RuntimeError(f"{call.path} answered {response.status_code}: {response.text[:300]}")
        size += len(response.content)
    return total, size


def time_side_by_side(sides: dict[str, tuple[str, list[list[Call]]]], loads: int) -> dict[str, list[dict]]:
    """Each side's pages ``loads`` times after one warm-up load, the sides taking turns load by load (a busy
    machine slows both alike); per page p50/p95 of the load times, the warm-up's time and the bytes."""
    import httpx

    clients = {side: httpx.Client(base_url=base, timeout=300) for side, (base, _) in sides.items()}
    out: dict[str, list[dict]] = {side: [] for side in sides}
    try:
        count = len(next(iter(sides.values()))[1])
        for index in range(count):
            times: dict[str, list[float]] = {side: [] for side in sides}
            sizes: dict[str, int] = {}
            for _ in range(loads + 1):
                for side, (_, pages_) in sides.items():
                    seconds, sizes[side] = _time_page(clients[side], pages_[index])
                    times[side].append(seconds)
            for side, (_, pages_) in sides.items():
                rest = times[side][1:]
                out[side].append(
                    {
                        "calls": [f"{c.method} {c.path[:160]}" for c in pages_[index]],
                        "loads": len(rest),
                        "first_s": times[side][0],
                        "p50_s": _percentile(rest, 50),
                        "p95_s": _percentile(rest, 95),
                        "bytes": sizes[side],
                    }
                )
    finally:
        for client in clients.values():
            client.close()
    return out


def _wait_healthy(base: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"mlflow server did not answer {base}/health within {timeout:.0f} s")


@contextmanager
def mlflow_server(python: Path, db: Path, port: int, env: dict[str, str], log: Path) -> Iterator[str]:
    """``mlflow server`` on the store, one worker, loopback; its process group is stopped afterwards."""
    command = [str(python.parent / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{db}"]
    command += ["--default-artifact-root", (db.parent / "mlartifacts").as_uri()]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    env = env | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no job runner: 8 idle pollers otherwise
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, proc)
        yield base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def time_browser(base: str, filled: dict[str, Any], loads: int, chromium: str, args: list[str]) -> dict:
    """Seconds from navigation to MLflow's experiment page until its runs table shows the newest run."""
    from playwright.sync_api import sync_playwright

    url = f"{base}/#/experiments/{filled['experiment_id']}/runs"
    times: list[float] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=args, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for _ in range(loads + 1):
            page.goto("about:blank")
            start = time.perf_counter()
            page.goto(url, wait_until="load")
            page.get_by_text(filled["newest_name"], exact=True).first.wait_for(
                state="visible", timeout=60_000
            )
            times.append(time.perf_counter() - start)
        browser.close()
    rest = times[1:]
    return {"url": url, "loads": len(rest), "p50_s": _percentile(rest, 50), "p95_s": _percentile(rest, 95)}


def _fill_store(python: Path, db: Path, sizes: dict[str, int], env: dict[str, str]) -> dict[str, Any]:
    start = time.perf_counter()
    proc = subprocess.run(
        [str(python), __file__, "fill", str(db), json.dumps(sizes)], capture_output=True, text=True, env=env
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the MLflow fill failed:\n{proc.stderr[-3000:]}")
    filled: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    filled["fill_s"]["total"] = time.perf_counter() - start
    return filled


def measure(
    ours: str,
    urls: dict[str, str],
    sizes: dict[str, int],
    free_port: Callable[[], int],
    browser: tuple[str, list[str]] | None = None,
) -> dict[str, Any]:
    """Fill MLflow's store in its environment, serve it, and time its UI's pages against the same
    mlfactory pages served at ``ours`` (taking turns); with ``browser`` (Chromium and its flags) also the
    experiment page in the browser."""
    from _common import anchor_env, anchor_environ, console

    python = anchor_env("mlflow", ["mlflow"])
    env = anchor_environ(python)
    keys = list(EQUIVALENT)
    with tempfile.TemporaryDirectory(prefix="mlflow-bench-ui-") as tmp:
        db = Path(tmp) / "mlflow.db"
        console.print("[dim]filling MLflow's store (in its own environment)...[/dim]")
        filled = _fill_store(python, db, sizes, env)
        console.print(f"[dim]  MLflow fill: {filled['fill_s']['total']:.1f} s; timing both UIs...[/dim]")
        with mlflow_server(python, db, free_port(), env, Path(tmp) / "server.log") as base:
            theirs = pages(filled)
            timed = time_side_by_side(
                {
                    "mlfactory": (ours, [[Call("GET", urls[k])] for k in keys]),
                    "mlflow": (base, [theirs[EQUIVALENT[k]] for k in keys]),
                },
                sizes["loads"],
            )
            result: dict[str, Any] = {
                "version": filled["version"],
                "server": "mlflow server, SQLite backend, --workers 1, 127.0.0.1, job execution off",
                "durability": "MLflow's default: rollback journal, synchronous FULL",
                "fill_method": filled["fill_method"],
                "fill_s": filled["fill_s"],
                "equivalent": EQUIVALENT,
                "pages": {EQUIVALENT[k]: timed["mlflow"][i] for i, k in enumerate(keys)},
                "mlfactory_http": {k: timed["mlfactory"][i] for i, k in enumerate(keys)},
            }
            result["ratios"] = {
                k: result["pages"][EQUIVALENT[k]]["p50_s"] / result["mlfactory_http"][k]["p50_s"]
                for k in keys
            }
            if browser:
                result["browser"] = time_browser(base, filled, min(sizes["loads"], 5), *browser)
    return result


def main() -> None:
    command, db, sizes = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
    if command != "fill":
        raise SystemExit(f"unknown command {command!r}: use fill DB SIZES_JSON")
    logging.disable(logging.WARNING)
    print(json.dumps(fill(db, sizes)))


if __name__ == "__main__":
    main()
