"""Serving speed: mlfactory's server against the in-process floor and, optionally, MLflow and BentoML.

    .venv/bin/python benchmarks/serving.py                  # floor + `mlfactory serve`
    .venv/bin/python benchmarks/serving.py --with-anchors   # + `mlflow models serve` and a BentoML service
    .venv/bin/python benchmarks/serving.py --quick          # one model, 2 s runs (smoke test)

Two models on scikit-learn's breast-cancer data (30 numeric features): a StandardScaler + LogisticRegression
pipeline and a HistGradientBoostingClassifier. Each is trained, registered and promoted by mlfactory in a
temporary project; the anchors serve the very same fitted estimator (its skops bytes), each with one worker,
each in its own virtual environment under .bench-cache/anchors/. Every server of a model runs at once and
the load cases alternate between them for several rounds (figures are medians), so machine noise falls on
all of them alike. Every server listens on 127.0.0.1 only and every load run is bounded in time. Load
comes from `wrk` (closed loop, one thread) when installed, else from a bounded asyncio httpx client; ratios
are mlfactory ÷ the faster anchor (higher is better for mlfactory).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from _common import ROOT, anchor_env, anchor_environ, console, fmt_ratio, machine, median, write_json
from rich.table import Table
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from mlfactory import open_project

ANCHOR_DIR = ROOT / "benchmarks" / "anchors"
HOST = "127.0.0.1"  # never anything but loopback
MLFLOW_PACKAGES = ["mlflow"]
BENTOML_PACKAGES = ["bentoml>=1.4,<1.5", "scikit-learn", "pandas", "skops"]
TARGET_SINGLE, TARGET_BATCH, TARGET_P99_MS = 3.0, 2.0, 50.0

MODELS: dict[str, dict[str, Any]] = {
    "logreg": {
        "title": "StandardScaler + LogisticRegression",
        "short": "LR pipeline",
        "estimator": "sklearn.linear_model.LogisticRegression",
        "params": {"max_iter": 2000},
        "preprocess": True,
        "floor": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
    },
    "hgb": {
        "title": "HistGradientBoostingClassifier",
        "short": "HGB",
        "estimator": "sklearn.ensemble.HistGradientBoostingClassifier",
        "params": {"random_state": 0},
        "preprocess": False,
        "floor": lambda: HistGradientBoostingClassifier(random_state=0),
    },
}

# (key, rows per request, concurrency); concurrency of the 1,000-row case is set by --batch-concurrency
LOADS = [("single_c1", 1, 1), ("single_c16", 1, 16), ("batch", 1000, None)]

WRK_LUA = """\
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "status_errors": %d, "socket_errors": %d, ' ..
    '"p50_us": %.0f, "p90_us": %.0f, "p99_us": %.0f, "mean_us": %.1f, "max_us": %.0f}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
"""


# -- data and models ------------------------------------------------------------------------------------


def breast_cancer() -> pd.DataFrame:
    """The bundled breast-cancer data with snake_case column names and the label ``target``."""
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.copy()
    frame.columns = [re.sub(r"\W+", "_", c.strip()).lower() for c in frame.columns]
    return frame


@dataclass
class Prepared:
    """A model trained, registered and promoted by mlfactory, plus what the anchors need to serve it."""

    key: str
    name: str
    project: Path
    version: str
    skops_path: Path
    trusted_path: Path
    sample_csv: Path
    features: list[str]
    rows: list[dict[str, float]]  # request rows, in feature order
    expected: list[Any]  # the in-process predictions for ``rows``
    in_process: dict[str, float] = field(default_factory=dict)


def project_file(key: str, name: str, features: list[str]) -> dict[str, Any]:
    spec = MODELS[key]
    return {
        "name": f"bench-{key}",
        "description": "serving benchmark on scikit-learn's breast-cancer data",
        "sources": {"cancer": {"kind": "csv", "path": "data/breast_cancer.csv"}},
        "models": {
            name: {
                "source": "cancer",
                "label": "target",
                "features": {"numeric": features},
                "estimator": spec["estimator"],
                "params": spec["params"],
                "preprocess": spec["preprocess"],
                "split": {"strategy": "random", "test_size": 0.2},
                "metrics": ["accuracy", "roc_auc"],
            }
        },
    }


def prepare(key: str, frame: pd.DataFrame, workdir: Path) -> Prepared:
    """Create the project, ingest, train and promote through the SDK; export the model for the anchors."""
    name = f"cancer-{key}"
    features = [c for c in frame.columns if c != "target"]
    root = workdir / f"project-{key}"
    (root / "data").mkdir(parents=True)
    frame.to_csv(root / "data" / "breast_cancer.csv", index=False)
    (root / "mlfactory.yaml").write_text(yaml.safe_dump(project_file(key, name, features), sort_keys=False))
    with open_project(root) as project:
        project.ingest("cancer")
        trained = project.train(name)
        project.promote(name, trained.version.version, reason="serving benchmark")
        loaded = project.registry.load(f"{name}@production")
        skops_path = workdir / f"{key}.skops"
        skops_path.write_bytes(project.artifacts.get_bytes(loaded.version.artifact))
        trusted_path = workdir / f"{key}.trusted.json"
        trusted_path.write_text(json.dumps(list(loaded.version.signature.trusted_types)))
    sample_csv = workdir / f"{key}.sample.csv"
    frame[features].head(20).to_csv(sample_csv, index=False)
    rows = frame[features].to_dict(orient="records")
    expected = [v.item() for v in loaded.estimator.predict(frame[features])]
    return Prepared(
        key, name, root, loaded.version.ref, skops_path, trusted_path, sample_csv, features, rows, expected
    )


# -- in-process floor -----------------------------------------------------------------------------------


def per_call(fn: Callable[[], Any], budget: float, repeats: int) -> float:
    """Seconds per call of ``fn``: median over ``repeats`` loops of about ``budget`` seconds each."""
    fn()
    results = []
    for _ in range(repeats):
        n, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < budget:
            fn()
            n += 1
        results.append(elapsed / n)
    return median(results)


def measure_floor(prep: Prepared, frame: pd.DataFrame, budget: float, repeats: int) -> dict[str, float]:
    """The raw scikit-learn estimator (numpy and DataFrame input), and mlfactory's loaded model in process."""
    x, y = frame[prep.features], frame["target"].to_numpy()
    raw_np = MODELS[prep.key]["floor"]().fit(x.to_numpy(), y)  # the same estimator fitted on numpy ...
    raw_df = MODELS[prep.key]["floor"]().fit(x, y)  # ... and on a DataFrame (it then checks column names)
    one_np, one_df = x.to_numpy()[:1], x.iloc[:1]
    batch_np = np.resize(x.to_numpy(), (1000, x.shape[1]))
    batch_df = pd.DataFrame(batch_np, columns=prep.features)
    with open_project(prep.project) as project:
        served = project.registry.load(f"{prep.name}@production")

    def ms(fn: Callable[[], Any]) -> float:
        return per_call(fn, budget, repeats) * 1e3

    def rows_per_s(fn: Callable[[], Any]) -> float:
        return 1000 / per_call(fn, budget, repeats)

    return {
        "sklearn_numpy_1row_ms": ms(lambda: raw_np.predict(one_np)),
        "sklearn_frame_1row_ms": ms(lambda: raw_df.predict(one_df)),
        "sklearn_batch_rows_per_s": rows_per_s(lambda: raw_np.predict(batch_np)),
        "registered_frame_1row_ms": ms(lambda: served.estimator.predict(one_df)),
        "registered_batch_rows_per_s": rows_per_s(lambda: served.estimator.predict(batch_df)),
        "sdk_predict_1row_ms": ms(lambda: served.predict(one_df)),
        "sdk_predict_batch_rows_per_s": rows_per_s(lambda: served.predict(batch_df)),
    }


# -- servers --------------------------------------------------------------------------------------------


THREADS: int | None = None  # --threads: native thread pools (OpenMP, BLAS) of every server and the floor


def with_threads(env: dict[str, str]) -> dict[str, str]:
    """``env`` with the native thread-pool sizes set when --threads was given (the same for every server)."""
    if THREADS is not None:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(THREADS)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class ServerSpec:
    """How to start one server for one model, where to ask it, and how to read its answer."""

    tool: str
    command: list[str]
    env: dict[str, str]
    cwd: Path
    port: int
    ready_path: str
    predict_path: str
    make_body: Callable[[list[dict[str, float]]], bytes]
    read_predictions: Callable[[Any], list[Any]]
    startup_timeout: float = 120.0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{self.predict_path}"


class RunningServer:
    """A server subprocess in its own session, stopped (the whole group) when the block ends."""

    def __init__(self, spec: ServerSpec, log_path: Path) -> None:
        self.spec, self.log_path = spec, log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> RunningServer:
        import httpx

        with open(self.log_path, "wb") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                self.spec.command,
                cwd=self.spec.cwd,
                env=self.spec.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.spec.startup_timeout
        ready = f"http://{HOST}:{self.spec.port}{self.spec.ready_path}"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.spec.tool} exited during start-up: {self.tail()}")
            try:
                if httpx.get(ready, timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.__exit__(None, None, None)
        raise RuntimeError(
            f"{self.spec.tool} was not ready within {self.spec.startup_timeout:.0f} s: {self.tail()}"
        )

    def tail(self, chars: int = 2000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def __exit__(self, *exc: object) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.proc.pid, sig)  # the group of the process this script started
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue


def _json_body(key: str) -> Callable[[list[dict[str, float]]], bytes]:
    return lambda rows: json.dumps({key: rows}).encode()


def _mlfactory_predictions(answer: Any) -> list[Any]:
    preds = answer["predictions"]
    if preds and isinstance(preds[0], dict):  # one object per row
        return [p.get("prediction", p.get("label")) for p in preds]
    return list(preds)


def mlfactory_command() -> list[str] | None:
    exe = Path(sys.executable).with_name("mlfactory")
    if not exe.exists():
        found = shutil.which("mlfactory")
        if found is None:
            return None
        exe = Path(found)
    return [str(exe)]


def serve_available() -> str | None:
    """None when `mlfactory serve` exists, else why not."""
    cmd = mlfactory_command()
    if cmd is None:
        return "the mlfactory command is not installed"
    proc = subprocess.run([*cmd, "serve", "--help"], capture_output=True, text=True, timeout=60)
    return None if proc.returncode == 0 else "`mlfactory serve` is not available in this checkout yet"


def mlfactory_spec(prep: Prepared) -> ServerSpec:
    port = free_port()
    env = with_threads(dict(os.environ))
    return ServerSpec(
        tool="mlfactory",
        command=[
            *(mlfactory_command() or []),
            "--project",
            str(prep.project),
            "serve",
            "--host",
            HOST,
            "--port",
            str(port),
        ],
        env=env,
        cwd=prep.project,
        port=port,
        ready_path="/readyz",
        predict_path=f"/v1/models/{prep.name}/predict",
        make_body=_json_body("records"),
        read_predictions=_mlfactory_predictions,
        startup_timeout=60,
    )


def mlflow_spec(prep: Prepared, workdir: Path) -> ServerSpec:
    python = anchor_env("mlflow", MLFLOW_PACKAGES)
    env = with_threads(
        anchor_environ(python)
    )  # `mlflow models serve` starts uvicorn from PATH: its venv's bin goes first
    model_dir = workdir / f"mlflow-{prep.key}"
    if not model_dir.exists():
        subprocess.run(
            [
                str(python),
                str(ANCHOR_DIR / "mlflow_save_model.py"),
                str(prep.skops_path),
                str(prep.trusted_path),
                str(prep.sample_csv),
                str(model_dir),
            ],
            check=True,
            capture_output=True,
            env=env,
            cwd=workdir,
            timeout=600,
        )
    port = free_port()
    return ServerSpec(
        tool="mlflow",
        command=[
            str(python.with_name("mlflow")),
            "models",
            "serve",
            "-m",
            str(model_dir),
            "-h",
            HOST,
            "-p",
            str(port),
            "-w",
            "1",
            "--env-manager",
            "local",
        ],
        env=env,
        cwd=workdir,
        port=port,
        ready_path="/ping",
        predict_path="/invocations",
        make_body=_json_body("dataframe_records"),
        read_predictions=lambda a: list(a["predictions"]),
    )


def bentoml_spec(prep: Prepared, workdir: Path) -> ServerSpec:
    python = anchor_env("bentoml", BENTOML_PACKAGES)
    env = with_threads(anchor_environ(python))
    env.update(
        {
            "BENCH_MODEL_PATH": str(prep.skops_path),
            "BENCH_TRUSTED": prep.trusted_path.read_text(),
            "BENTOML_HOME": str(workdir / "bentoml-home"),
        }
    )
    port = free_port()
    return ServerSpec(
        tool="bentoml",
        command=[
            str(python.with_name("bentoml")),
            "serve",
            "bentoml_service:Classifier",
            "--host",
            HOST,
            "--port",
            str(port),
        ],
        env=env,
        cwd=ANCHOR_DIR,
        port=port,
        ready_path="/readyz",
        predict_path="/predict",
        make_body=_json_body("records"),
        read_predictions=lambda a: list(a["predictions"]),
    )


# -- load generation ------------------------------------------------------------------------------------


def wrk_version() -> str | None:
    exe = shutil.which("wrk")
    if exe is None:
        return None
    proc = subprocess.run([exe, "-v"], capture_output=True, text=True)
    match = re.search(r"wrk (?:\S*/)?(\d[\d.]*)", proc.stdout + proc.stderr)
    return f"wrk {match.group(1) if match else '?'}"


def run_wrk(url: str, body: Path, connections: int, duration: float, lua: Path) -> dict[str, Any]:
    cmd = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(lua),
        url,
    ]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env={**os.environ, "BENCH_BODY": str(body)},
        timeout=duration + 60,
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result: {proc.stdout[-1000:]} {proc.stderr[-1000:]}")
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    seconds = raw["duration_us"] / 1e6
    errors = raw["status_errors"] + raw["socket_errors"]
    return {
        "requests": raw["requests"],
        "errors": errors,
        "seconds": seconds,
        "rps": (raw["requests"] - raw["status_errors"]) / seconds,
        "p50_ms": raw["p50_us"] / 1e3,
        "p90_ms": raw["p90_us"] / 1e3,
        "p99_ms": raw["p99_us"] / 1e3,
    }


async def _drive_httpx(url: str, body: bytes, connections: int, duration: float) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    headers = {"Content-Type": "application/json"}
    async with httpx.AsyncClient(limits=limits, timeout=10.0) as client:
        start = time.perf_counter()
        deadline = start + duration

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    response = await client.post(url, content=body, headers=headers)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(connections)))
        seconds = time.perf_counter() - start
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
    return {
        "requests": len(latencies) + errors,
        "errors": errors,
        "seconds": seconds,
        "rps": len(latencies) / seconds,
        "p50_ms": q[49] * 1e3,
        "p90_ms": q[89] * 1e3,
        "p99_ms": q[98] * 1e3,
    }


@dataclass
class LoadGenerator:
    name: str
    lua: Path | None  # None: the asyncio httpx fallback

    def run(self, url: str, body_path: Path, connections: int, duration: float) -> dict[str, Any]:
        if not url.startswith(f"http://{HOST}:"):
            raise ValueError(f"refusing to send load anywhere but {HOST}: {url}")
        if self.lua is not None:
            return run_wrk(url, body_path, connections, duration, self.lua)
        return asyncio.run(_drive_httpx(url, body_path.read_bytes(), connections, duration))


def _start_checked(
    spec: ServerSpec, prep: Prepared, workdir: Path, stack: contextlib.ExitStack
) -> tuple[RunningServer, bool]:
    """Start a server (stopped when ``stack`` closes) and check its answers against the in-process model."""
    import httpx

    server = stack.enter_context(RunningServer(spec, workdir / f"{spec.tool}-{prep.key}.log"))
    check = httpx.post(
        spec.url,
        content=spec.make_body(prep.rows[:50]),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    if check.status_code != 200:
        raise RuntimeError(f"{spec.tool} answered {check.status_code}: {check.text[:300]}")
    got = spec.read_predictions(check.json())
    return server, [str(v) for v in got] == [str(v) for v in prep.expected[:50]]


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median throughput, with every round's throughput beside it."""
    ordered = sorted(runs, key=lambda r: r["rps"])
    return {**ordered[(len(ordered) - 1) // 2], "rounds_rps": [round(r["rps"], 1) for r in runs]}


def measure_servers(
    specs: list[tuple[str, Callable[[], ServerSpec]]],
    prep: Prepared,
    gen: LoadGenerator,
    args: argparse.Namespace,
    workdir: Path,
) -> dict[str, Any]:
    """Start every server at once, then run each load case on each server in turn, ``args.rounds`` times.

    Interleaving puts every server under the same machine noise; each figure is the median round.
    """
    bodies: dict[tuple[str, int], Path] = {}
    out: dict[str, Any] = {}
    live: dict[str, RunningServer] = {}
    with contextlib.ExitStack() as stack:
        for tool, make in specs:
            try:
                spec = make()
                server, agrees = _start_checked(spec, prep, workdir, stack)
            except Exception as exc:  # one server failing must not lose the others' figures
                out[tool] = {"failed": str(exc)}
                console.print(f"[red]{tool} on {prep.key} failed: {exc}[/red]")
                continue
            live[tool] = server
            out[tool] = {"agrees_with_in_process": agrees, "log_tail": "" if agrees else server.tail(600)}
            for rows in (1, 1000):
                path = workdir / f"{tool}-{prep.key}-{rows}.json"
                path.write_bytes(spec.make_body([prep.rows[i % len(prep.rows)] for i in range(rows)]))
                bodies[tool, rows] = path
            gen.run(spec.url, bodies[tool, 1], 4, min(2.0, args.duration))  # warm-up, not recorded
        runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for round_ in range(args.rounds):
            for key, rows, connections in LOADS:
                conc = connections or args.batch_concurrency
                for tool, server in live.items():
                    result = gen.run(server.spec.url, bodies[tool, rows], conc, args.duration)
                    result.update(
                        {"concurrency": conc, "rows_per_request": rows, "rows_per_s": result["rps"] * rows}
                    )
                    runs.setdefault((tool, key), []).append(result)
                    console.print(
                        f"[dim]  round {round_ + 1} {tool:9} {prep.key:6} {key:10} c={conc:<3} "
                        f"{result['rps']:9.1f} req/s  p50 {result['p50_ms']:.2f} ms  "
                        f"p99 {result['p99_ms']:.2f} ms  errors {result['errors']}[/dim]"
                    )
        for (tool, key), results in runs.items():
            out[tool][key] = _median_run(results)
    return out


# -- report ---------------------------------------------------------------------------------------------


def compare(servers: dict[str, Any]) -> dict[str, Any]:
    """mlfactory ÷ the faster anchor per figure, and whether the issue's targets are met."""
    ours = servers.get("mlfactory", {})
    anchors = {k: v for k, v in servers.items() if k != "mlfactory" and "single_c16" in v}
    if "single_c16" not in ours or not anchors:
        return {}
    ratios: dict[str, Any] = {}
    for key, figure in (("single_c1", "rps"), ("single_c16", "rps"), ("batch", "rows_per_s")):
        best = max(anchors, key=lambda a: anchors[a][key][figure])
        ratios[key] = {"ratio": ours[key][figure] / anchors[best][key][figure], "faster_anchor": best}
    p99 = ours["single_c16"]["p99_ms"]
    ratios["targets"] = {
        f"single_c16_at_least_{TARGET_SINGLE:.0f}x": ratios["single_c16"]["ratio"] >= TARGET_SINGLE,
        f"single_c16_p99_under_{TARGET_P99_MS:.0f}ms": p99 < TARGET_P99_MS,
        f"batch_rows_at_least_{TARGET_BATCH:.0f}x": ratios["batch"]["ratio"] >= TARGET_BATCH,
    }
    return ratios


FLOOR_ROWS = [
    ("sklearn_numpy_1row_ms", "scikit-learn, numpy, 1 row", "{:.3f} ms"),
    ("sklearn_frame_1row_ms", "scikit-learn, one-row DataFrame", "{:.3f} ms"),
    ("sklearn_batch_rows_per_s", "scikit-learn, numpy, 1,000-row batches", "{:,.0f} rows/s"),
    ("registered_frame_1row_ms", "registered estimator, one-row DataFrame", "{:.3f} ms"),
    ("registered_batch_rows_per_s", "registered estimator, 1,000-row DataFrame", "{:,.0f} rows/s"),
    ("sdk_predict_1row_ms", "mlfactory LoadedModel.predict, 1 row", "{:.3f} ms"),
    ("sdk_predict_batch_rows_per_s", "mlfactory LoadedModel.predict, 1,000 rows", "{:,.0f} rows/s"),
]


def print_floor(models: dict[str, Any]) -> None:
    table = Table(title="In process, no server (the floor)")
    table.add_column("predict")
    for data in models.values():
        table.add_column(data["short"], justify="right")
    for key, label, fmt in FLOOR_ROWS:
        table.add_row(label, *(fmt.format(data["in_process"][key]) for data in models.values()))
    console.print(table)


def print_servers(models: dict[str, Any], generator: str, batch_concurrency: int, rounds: int) -> None:
    table = Table(
        title=f"Through a server on {HOST}: load from {generator}, closed loop, "
        f"median of {rounds} interleaved rounds"
    )
    columns = [
        "model",
        "server",
        "1 row c=1 req/s",
        "p50/p99 ms",
        "1 row c=16 req/s",
        "p50/p99 ms",
        f"1k rows c={batch_concurrency} rows/s",
        "p50/p99 ms",
        "errors",
        "same answers",
    ]
    for col in columns:
        table.add_column(col, justify="left" if col in ("model", "server") else "right")
    notes = []
    for data in models.values():
        for tool, res in data["servers"].items():
            if "skipped" in res or "failed" in res:
                table.add_row(data["short"], tool, "skipped" if "skipped" in res else "[red]failed[/red]")
                notes.append(f"{data['short']} / {tool}: {res.get('skipped') or res.get('failed')}")
                continue
            cells = []
            for key, figure in (("single_c1", "rps"), ("single_c16", "rps"), ("batch", "rows_per_s")):
                cells += [f"{res[key][figure]:,.0f}", f"{res[key]['p50_ms']:.1f} / {res[key]['p99_ms']:.1f}"]
            errors = sum(res[k]["errors"] for k, _, _ in LOADS)
            agrees = "yes" if res["agrees_with_in_process"] else "[red]NO[/red]"
            table.add_row(data["short"], tool, *cells, str(errors), agrees)
        ratios = data.get("ratios")
        if ratios:
            cells = []
            for key, target in (("single_c1", None), ("single_c16", TARGET_SINGLE), ("batch", TARGET_BATCH)):
                cells += [fmt_ratio(ratios[key]["ratio"], target), f"vs {ratios[key]['faster_anchor']}"]
            table.add_row(data["short"], "[bold]mlfactory ÷ best[/bold]", *cells, "", "")
    console.print(table)
    for note in notes:
        console.print(f"[yellow]{note[:400]}[/yellow]")
    for data in models.values():
        if data.get("ratios"):
            marks = ", ".join(
                f"{k}: {'met' if v else 'NOT met'}" for k, v in data["ratios"]["targets"].items()
            )
            console.print(f"{data['title']}: {marks}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="one model, 2 s load runs (a smoke run)")
    parser.add_argument(
        "--with-anchors",
        action="store_true",
        help="also serve the same model with MLflow and BentoML (own venvs)",
    )
    parser.add_argument("--duration", type=float, help="seconds per load run (default 8, 2 with --quick)")
    parser.add_argument(
        "--rounds",
        type=int,
        help="times each load case runs on each server, interleaved (default 3, 1 with --quick)",
    )
    parser.add_argument("--batch-concurrency", type=int, default=2, help="connections for 1,000-row requests")
    parser.add_argument("--models", default=None, help="comma-separated subset of: " + ", ".join(MODELS))
    parser.add_argument("--no-wrk", action="store_true", help="use the asyncio httpx load generator")
    parser.add_argument(
        "--threads",
        type=int,
        help="limit native thread pools (OpenMP/BLAS) to N in every server and the floor (default: each "
        "tool's own default)",
    )
    parser.add_argument("--output", type=Path, help="where to write the JSON (default benchmarks/results/)")
    args = parser.parse_args(argv)
    global THREADS
    THREADS = args.threads
    args.duration = args.duration or (2.0 if args.quick else 8.0)
    args.rounds = args.rounds or (1 if args.quick else 3)
    keys = args.models.split(",") if args.models else (["logreg"] if args.quick else list(MODELS))
    budget, repeats = (0.1, 1) if args.quick else (0.5, 3)

    version = None if args.no_wrk else wrk_version()
    workdir = Path(tempfile.mkdtemp(prefix="mlfactory-serving-bench-"))
    if version is None:
        if not args.no_wrk:
            console.print(
                "[yellow]wrk is not installed; using the asyncio httpx client instead (it uses more "
                "CPU on the same cores). Install wrk with: apt-get install -y wrk[/yellow]"
            )
        generator = LoadGenerator("httpx (asyncio)", None)
    else:
        lua = workdir / "post.lua"
        lua.write_text(WRK_LUA)
        generator = LoadGenerator(version, lua)

    frame = breast_cancer()
    no_server = serve_available()
    result: dict[str, Any] = {
        "benchmark": "serving",
        "quick": args.quick,
        "machine": machine(),
        "load_generator": generator.name,
        "settings": {
            "duration_s": args.duration,
            "rounds": args.rounds,
            "batch_rows": 1000,
            "batch_concurrency": args.batch_concurrency,
            "single_concurrency": [1, 16],
            "prediction_log": "on (server default)",
            "wrk_threads": 1 if generator.lua else None,
            "native_threads": args.threads or "default",
        },
        "models": {},
    }
    try:
        for key in keys:
            console.print(
                f"[bold]{MODELS[key]['title']}[/bold]: training and promoting in a temporary project"
            )
            prep = prepare(key, frame, workdir)
            entry: dict[str, Any] = {
                "title": MODELS[key]["title"],
                "short": MODELS[key]["short"],
                "model": prep.version,
                "servers": {},
            }
            with threadpool_limits(limits=args.threads):
                entry["in_process"] = measure_floor(prep, frame, budget, repeats)
            specs: list[tuple[str, Callable[[], ServerSpec]]] = []
            if no_server is None:
                specs.append(("mlfactory", lambda p=prep: mlfactory_spec(p)))
            else:
                entry["servers"]["mlfactory"] = {"skipped": no_server}
            if args.with_anchors:
                specs.append(("mlflow", lambda p=prep: mlflow_spec(p, workdir)))
                specs.append(("bentoml", lambda p=prep: bentoml_spec(p, workdir)))
            entry["servers"].update(measure_servers(specs, prep, generator, args, workdir))
            entry["ratios"] = compare(entry["servers"])
            result["models"][key] = entry
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print_floor(result["models"])
    print_servers(result["models"], generator.name, args.batch_concurrency, args.rounds)
    path = write_json("serving", result, args.output)
    console.print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
