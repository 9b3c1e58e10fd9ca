"""Serving speed: mlfactory's server against the in-process floor and, optionally, MLflow and BentoML.

    .venv/bin/python benchmarks/serving.py                  # floor + `mlfactory serve` (log on and off)
    .venv/bin/python benchmarks/serving.py --with-anchors   # + `mlflow models serve` and a BentoML service
    .venv/bin/python benchmarks/serving.py --quick          # one model, 2 s runs (smoke test)
    .venv/bin/python benchmarks/serving.py --baseline-src DIR   # + the server of another source tree

Three models: on scikit-learn's breast-cancer data (30 numeric features) a StandardScaler +
LogisticRegression pipeline and a HistGradientBoostingClassifier, and the quickstart's spam model
(LogisticRegression over numeric, categorical and two text columns; built without its feature service so
every server answers from the same fitted pipeline). Each is trained, registered and promoted by mlfactory in
a temporary project; the anchors serve the very same fitted estimator (its skops bytes), each with one
worker, each in its own virtual environment under .bench-cache/anchors/. BentoML's API is batchable (its
adaptive batching, as its documentation recommends for throughput), as mlfactory micro-batches.

Fair settings: every server and the floor get the same native threads (OMP/OpenBLAS/MKL variables, plus
mlfactory's ``server.batching.native_threads`` and threadpoolctl in the BentoML service): 1 unless
--threads N; each side's settings are in the table and the JSON. mlfactory alone writes a prediction log, so
it runs twice: as configured (log on) and with ``server.prediction_log.enabled: false`` (log off).

Every server of a model runs at once and the load cases alternate between them for several rounds (figures
are medians), so machine noise falls on all of them alike. Every server listens on 127.0.0.1 only and every
load run is bounded in time. Load comes from `wrk` (closed loop, one thread) when installed, else from a
bounded asyncio httpx client; ratios are mlfactory ÷ the faster anchor (higher is better for mlfactory).
mlfactory also takes 1,000- and 10,000-row requests as JSON and as an Arrow IPC stream, reported as a share
of the in-process floor (the faster of scikit-learn's predict_proba and mlfactory's own predict path on
rows already in memory). Every run also records the server's CPU per request (user + system time of all its
processes, from /proc): rates move with whatever else the machine runs, CPU per request hardly does, so
mlfactory's log on minus log off is what the prediction log costs.

In process, the registered model is also exported to ONNX (mlfactory.registry.onnx, with the onnx extra)
and timed in ONNX Runtime (intra-op threads: --threads) beside the model itself on the same rows, 1 row and
1,000 rows per call, both asked for classes and probabilities.
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
from _common import (
    MLFLOW_PACKAGES,
    ROOT,
    anchor_env,
    anchor_environ,
    console,
    fmt_ratio,
    machine,
    median,
    write_json,
)
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
    "spam": {
        "title": "quickstart spam model (LogisticRegression over numbers, categories and text)",
        "short": "spam LR",
    },
}
ANCHORS = ("mlflow", "bentoml")
ARROW = "application/vnd.apache.arrow.stream"


@dataclass(frozen=True)
class LoadCase:
    """One kind of load: rows per request, connections (None: --batch-concurrency), body format, and
    whether only mlfactory's servers take it (the anchors have no Arrow endpoint)."""

    key: str
    rows: int
    concurrency: int | None
    fmt: str = "json"
    ours_only: bool = False


LOADS = [LoadCase("single_c1", 1, 1), LoadCase("single_c16", 1, 16), LoadCase("batch", 1000, None)]
LARGE = [
    LoadCase("batch_arrow", 1000, None, "arrow", True),
    LoadCase("batch10k_json", 10_000, None, "json", True),
    LoadCase("batch10k_arrow", 10_000, None, "arrow", True),
]

WRK_LUA = """\
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = os.getenv("BENCH_CTYPE")

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
    frame: pd.DataFrame  # request rows (inputs only, in the model's order)
    expected: list[Any]  # the in-process predictions for ``frame``
    in_process: dict[str, float] = field(default_factory=dict)

    @property
    def rows(self) -> list[dict[str, Any]]:
        return json.loads(self.frame.to_json(orient="records"))  # plain JSON values (null for missing)

    def take(self, n: int) -> pd.DataFrame:
        """``n`` request rows, cycling through the data."""
        return self.frame.iloc[np.arange(n) % len(self.frame)].reset_index(drop=True)


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


def spam_project(root: Path) -> tuple[str, pd.DataFrame]:
    """The quickstart project without its feature service (so every server answers from the same fitted
    pipeline and the same request columns); returns the model's name and the request rows."""
    from mlfactory.quickstart import init_project

    init_project(root, rows=3000)
    config = yaml.safe_load((root / "mlfactory.yaml").read_text())
    config.pop("features", None)
    model = config["models"]["spam"]
    for key in ("feature_service", "on_missing_features", "policy", "gates"):
        model.pop(key, None)
    (root / "mlfactory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    inputs = [c for kind in model["features"].values() for c in kind]
    emails = pd.read_csv(root / "data" / "emails.csv")
    return "spam", emails[inputs].dropna().reset_index(drop=True)


def cancer_project(key: str, frame: pd.DataFrame, root: Path) -> tuple[str, pd.DataFrame]:
    """A project serving one breast-cancer model; returns the model's name and the request rows."""
    name = f"cancer-{key}"
    features = [c for c in frame.columns if c != "target"]
    (root / "data").mkdir(parents=True)
    frame.to_csv(root / "data" / "breast_cancer.csv", index=False)
    (root / "mlfactory.yaml").write_text(yaml.safe_dump(project_file(key, name, features), sort_keys=False))
    return name, frame[features]


def export_skops(estimator: Any, stem: Path) -> tuple[Path, Path]:
    """The fitted estimator as a plain skops file (mlfactory's artifact may be its own packed format) and
    the JSON list of the types loading it must trust, for the anchors."""
    import skops.io as sio

    data = sio.dumps(estimator)
    skops_path, trusted_path = stem.with_suffix(".skops"), stem.with_suffix(".trusted.json")
    skops_path.write_bytes(data)
    trusted_path.write_text(json.dumps(sio.get_untrusted_types(data=data)))
    return skops_path, trusted_path


def prepare(key: str, frame: pd.DataFrame, workdir: Path) -> Prepared:
    """Create the project, ingest, train and promote through the SDK; export the model for the anchors."""
    root = workdir / f"project-{key}"
    root.mkdir(parents=True)
    name, requests = spam_project(root) if key == "spam" else cancer_project(key, frame, root)
    with open_project(root) as project:
        (source,) = project.config.sources
        project.ingest(source)
        trained = project.train(name)
        project.promote(name, trained.version.version, reason="serving benchmark")
        loaded = project.registry.load(f"{name}@production")
    skops_path, trusted_path = export_skops(loaded.estimator, workdir / key)
    requests = requests[[c.name for c in loaded.version.signature.inputs]]
    sample_csv = workdir / f"{key}.sample.csv"
    requests.head(20).to_csv(sample_csv, index=False)
    expected = [v.item() for v in loaded.estimator.predict(requests)]
    return Prepared(
        key, name, root, loaded.version.ref, skops_path, trusted_path, sample_csv, requests, expected
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


def onnx_floor(
    served: Any,
    one: pd.DataFrame,
    batch: pd.DataFrame,
    ms: Callable[[Callable[[], Any]], float],
    rows_per_s: Callable[[Callable[[], Any]], float],
) -> dict[str, float]:
    """The registered model as an ONNX graph in ONNX Runtime (intra-op threads: --threads, else 1, as the
    server's batching.native_threads) beside the model itself, both asked for classes and probabilities of
    the same rows in turn; nothing without the onnx extra or when the model has no converter."""
    from mlfactory.errors import MLFactoryError
    from mlfactory.estimators.predicting import predict_rows

    try:
        from mlfactory.registry.onnx import OnnxRunner, convert

        graph = convert(served.estimator, served.version.signature, served.version.ref)
        runner = OnnxRunner(graph, threads=THREADS or 1)
    except (ImportError, MLFactoryError) as exc:
        console.print(f"[yellow]no ONNX rows for {served.version.ref}: {exc}[/yellow]")
        return {}
    one_cols = {c: one[c].to_numpy() for c in one.columns}
    batch_cols = {c: batch[c].to_numpy() for c in batch.columns}
    return {
        "native_both_1row_ms": ms(lambda: predict_rows(served.estimator, one)),
        "onnx_both_1row_ms": ms(lambda: runner.predict(one_cols)),
        "native_both_batch_rows_per_s": rows_per_s(lambda: predict_rows(served.estimator, batch)),
        "onnx_both_batch_rows_per_s": rows_per_s(lambda: runner.predict(batch_cols)),
    }


def _floor_key(what: str, label: str) -> str:
    return f"{what}_1row_ms" if label == "1row" else f"{what}_{label}_rows_per_s"


def served_floor(
    served: Any, sizes: dict[str, pd.DataFrame], ms: Callable[[Callable[[], Any]], float]
) -> dict[str, Any]:
    """mlfactory's own predict path (what the server calls once rows are checked: the compiled numeric or
    mixed-column path where there is one) on rows already checked, 1, 1,000 and 10,000 rows per call."""
    from mlfactory.config import BatchingConfig
    from mlfactory.inputs.payloads import frame_payload
    from mlfactory.serving.served import ServedVersion

    version = ServedVersion(served, BatchingConfig(enabled=False, native_threads=THREADS))
    out: dict[str, Any] = {"compiled_path": version._fast is not None or version._fast_columns is not None}
    for label, frame in sizes.items():
        batch = version.spec.check(frame_payload(frame, version.spec), max_rows=len(frame))
        per = ms(lambda b=batch: version.predict_batch(b))
        out[_floor_key("served", label)] = per if label == "1row" else len(frame) / per * 1e3
    return out


def sklearn_floor(
    prep: Prepared, served: Any, sizes: dict[str, pd.DataFrame], ms: Callable[[Callable[[], Any]], float]
) -> dict[str, float]:
    """scikit-learn's predict_proba, 1, 1,000 and 10,000 rows per call: on numpy for the numeric models (an
    estimator fitted on numpy, as a user who drops column names would), on a DataFrame for the spam model
    (its pipeline selects columns by name)."""
    out: dict[str, float] = {}
    if "floor" in MODELS[prep.key]:
        x = prep.frame.to_numpy()
        y = np.asarray(served.estimator.predict(prep.frame))
        raw = MODELS[prep.key]["floor"]().fit(x, y)
        calls = {label: (lambda a=f.to_numpy(): raw.predict_proba(a)) for label, f in sizes.items()}
    else:
        calls = {label: (lambda f=f: served.estimator.predict_proba(f)) for label, f in sizes.items()}
    for label, fn in calls.items():
        per = ms(fn)
        out[_floor_key("sklearn_proba", label)] = per if label == "1row" else len(sizes[label]) / per * 1e3
    return out


def measure_floor(prep: Prepared, budget: float, repeats: int) -> dict[str, Any]:
    """The raw scikit-learn estimator, mlfactory's loaded model and its serving path, in process."""
    with open_project(prep.project) as project:
        served = project.registry.load(f"{prep.name}@production")

    def ms(fn: Callable[[], Any]) -> float:
        return per_call(fn, budget, repeats) * 1e3

    def rows_per_s(fn: Callable[[], Any]) -> float:
        return 1000 / per_call(fn, budget, repeats)

    one_df, batch_df = prep.take(1), prep.take(1000)
    sizes = {"1row": one_df, "batch": batch_df, "10k": prep.take(10_000)}
    out: dict[str, Any] = {
        **sklearn_floor(prep, served, sizes, ms),
        **served_floor(served, sizes, ms),
        "registered_frame_1row_ms": ms(lambda: served.estimator.predict(one_df)),
        "registered_batch_rows_per_s": rows_per_s(lambda: served.estimator.predict(batch_df)),
        "sdk_predict_1row_ms": ms(lambda: served.predict(one_df)),
        "sdk_predict_batch_rows_per_s": rows_per_s(lambda: served.predict(batch_df)),
    }
    if "floor" in MODELS[prep.key]:
        out.update(onnx_floor(served, one_df, batch_df, ms, rows_per_s))
    for label in ("batch", "10k"):  # what a server's large requests are measured against
        out[f"floor_{label}_rows_per_s"] = max(
            out[_floor_key("sklearn_proba", label)], out[_floor_key("served", label)]
        )
    return out


# -- servers --------------------------------------------------------------------------------------------


THREADS = 1  # --threads: native thread pools (OpenMP, BLAS) of every server and the floor
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def with_threads(env: dict[str, str]) -> dict[str, str]:
    """``env`` with the native thread-pool sizes set to --threads (the same for every server)."""
    for var in (*THREAD_VARS, "BENCH_THREADS"):
        env[var] = str(THREADS)
    return env


def thread_settings(tool: str) -> dict[str, Any]:
    """What limits a server's native threads, as recorded beside its figures."""
    settings: dict[str, Any] = dict.fromkeys(THREAD_VARS, THREADS)
    if tool.startswith(("mlfactory", "baseline")):
        settings["server.batching.native_threads"] = THREADS
    elif tool == "bentoml":
        settings["threadpoolctl limits"] = THREADS
    return settings


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
    make_body: Callable[[list[dict[str, Any]]], bytes]
    read_predictions: Callable[[Any], list[Any]]
    startup_timeout: float = 120.0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{self.predict_path}"


class RunningServer:
    """A server subprocess in its own session, stopped (the whole group) when the block ends, when its
    start fails or is interrupted, and when this script is stopped by SIGTERM or SIGINT
    (:func:`stop_on_signals`)."""

    live: set[RunningServer] = set()  # every server started and not yet stopped, for the signal handler

    def __init__(self, spec: ServerSpec, log_path: Path) -> None:
        self.spec, self.log_path = spec, log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> RunningServer:
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
        RunningServer.live.add(self)
        try:
            return self._wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def _wait_ready(self) -> RunningServer:
        import httpx

        assert self.proc is not None
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
        raise RuntimeError(
            f"{self.spec.tool} was not ready within {self.spec.startup_timeout:.0f} s: {self.tail()}"
        )

    @property
    def pid(self) -> int:
        """The server's process (the root of every process it starts)."""
        assert self.proc is not None
        return self.proc.pid

    def tail(self, chars: int = 2000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def __exit__(self, *exc: object) -> None:
        RunningServer.live.discard(self)
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


def tree_cpu_s(root: int) -> float:
    """CPU seconds (user + system) the live processes under ``root`` have used so far: a server and every
    process it started, whatever process group or session they moved to (BentoML's workers start their
    own); 0 without /proc."""
    children: dict[int, list[int]] = {}
    ticks: dict[int, int] = {}
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else ():
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        pid = int(entry.name)  # fields after the name: state, ppid, ...; utime 11, stime 12
        children.setdefault(int(fields[1]), []).append(pid)
        ticks[pid] = int(fields[11]) + int(fields[12])
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += ticks.get(pid, 0)
        todo.extend(children.get(pid, ()))
    return total / os.sysconf("SC_CLK_TCK")


def stop_on_signals() -> None:
    """SIGTERM and SIGINT stop every server this script started (each in its own session, so a signal to
    this process alone never reaches them), then end the script with the usual 128 + signal status."""

    def stop(signum: int, _frame: object) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        for server in list(RunningServer.live):
            server.__exit__(None, None, None)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


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


def mlfactory_spec(prep: Prepared, tool: str = "mlfactory", source: Path | None = None) -> ServerSpec:
    """`mlfactory serve` on the model's project: ``tool`` ending in ``-nolog`` turns the prediction log off;
    ``source`` runs the server of another source tree (--baseline-src) on the same project."""
    port = free_port()
    env = with_threads(dict(os.environ))
    env["MLFACTORY_SERVER__BATCHING__NATIVE_THREADS"] = str(THREADS)
    if tool.endswith("-nolog"):
        env["MLFACTORY_SERVER__PREDICTION_LOG__ENABLED"] = "false"
    if source is not None:
        env["PYTHONPATH"] = str(source)
    return ServerSpec(
        tool=tool,
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
        read_predictions=lambda a: [row["prediction"] for row in a],
    )


# -- load generation ------------------------------------------------------------------------------------


def wrk_version() -> str | None:
    exe = shutil.which("wrk")
    if exe is None:
        return None
    proc = subprocess.run([exe, "-v"], capture_output=True, text=True)
    match = re.search(r"wrk (?:\S*/)?(\d[\d.]*)", proc.stdout + proc.stderr)
    return f"wrk {match.group(1) if match else '?'}"


def run_wrk(url: str, body: Path, ctype: str, connections: int, duration: float, lua: Path) -> dict[str, Any]:
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
        env={**os.environ, "BENCH_BODY": str(body), "BENCH_CTYPE": ctype},
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


async def _drive_httpx(
    url: str, body: bytes, ctype: str, connections: int, duration: float
) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    headers = {"Content-Type": ctype}
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

    def run(self, url: str, body: tuple[Path, str], connections: int, duration: float) -> dict[str, Any]:
        """Load ``url`` with ``body`` (a file and its content type) for ``duration`` seconds."""
        if not url.startswith(f"http://{HOST}:"):
            raise ValueError(f"refusing to send load anywhere but {HOST}: {url}")
        path, ctype = body
        if self.lua is not None:
            return run_wrk(url, path, ctype, connections, duration, self.lua)
        return asyncio.run(_drive_httpx(url, path.read_bytes(), ctype, connections, duration))


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


def arrow_body(frame: pd.DataFrame) -> bytes:
    """``frame`` as an Arrow IPC stream, the body mlfactory's native endpoint takes as ``ARROW``."""
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def write_bodies(spec: ServerSpec, prep: Prepared, cases: list[LoadCase], workdir: Path) -> dict[str, Any]:
    """Each case's request body for ``spec`` as a file and its content type."""
    bodies: dict[str, tuple[Path, str]] = {}
    for case in cases:
        path = workdir / f"{spec.tool}-{prep.key}-{case.key}.body"
        frame = prep.take(case.rows)
        if case.fmt == "arrow":
            path.write_bytes(arrow_body(frame))
            bodies[case.key] = (path, ARROW)
        else:
            path.write_bytes(spec.make_body(json.loads(frame.to_json(orient="records"))))
            bodies[case.key] = (path, "application/json")
    return bodies


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median throughput, with every round's throughput beside it, and the median of the
    rounds' server CPU per request."""
    ordered = sorted(runs, key=lambda r: r["rps"])
    return {
        **ordered[(len(ordered) - 1) // 2],
        "rounds_rps": [round(r["rps"], 1) for r in runs],
        "cpu_ms_per_request": median([r["cpu_ms_per_request"] for r in runs]),
    }


def cases_for(tool: str, args: argparse.Namespace) -> list[LoadCase]:
    """The load cases a server takes: the anchors only those every server answers."""
    ours = tool.startswith(("mlfactory", "baseline"))
    return [c for c in (*LOADS, *args.large) if ours or not c.ours_only]


def start_servers(
    specs: list[tuple[str, Callable[[], ServerSpec]]],
    prep: Prepared,
    args: argparse.Namespace,
    workdir: Path,
    stack: contextlib.ExitStack,
) -> tuple[dict[str, Any], dict[str, tuple[RunningServer, dict[str, Any]]]]:
    """Start every server (one failing must not lose the others' figures): their records, and the live ones
    with their bodies."""
    out: dict[str, Any] = {}
    live: dict[str, tuple[RunningServer, dict[str, Any]]] = {}
    for tool, make in specs:
        try:
            spec = make()
            server, agrees = _start_checked(spec, prep, workdir, stack)
        except Exception as exc:
            out[tool] = {"failed": str(exc), "threads": thread_settings(tool)}
            console.print(f"[red]{tool} on {prep.key} failed: {exc}[/red]")
            continue
        live[tool] = (server, write_bodies(spec, prep, cases_for(tool, args), workdir))
        out[tool] = {
            "agrees_with_in_process": agrees,
            "threads": thread_settings(tool),
            "log_tail": "" if agrees else server.tail(600),
        }
    return out, live


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
    with contextlib.ExitStack() as stack:
        out, live = start_servers(specs, prep, args, workdir, stack)
        for server, bodies in live.values():
            gen.run(server.spec.url, bodies["single_c1"], 4, min(2.0, args.duration))  # warm-up
        runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for round_ in range(args.rounds):
            for case in (*LOADS, *args.large):
                conc = case.concurrency or args.batch_concurrency
                for tool, (server, bodies) in live.items():
                    if case.key not in bodies:
                        continue
                    cpu_before = tree_cpu_s(server.pid)
                    result = gen.run(server.spec.url, bodies[case.key], conc, args.duration)
                    cpu = (tree_cpu_s(server.pid) - cpu_before) * 1000 / max(result["requests"], 1)
                    result.update(
                        {
                            "concurrency": conc,
                            "rows_per_request": case.rows,
                            "format": case.fmt,
                            "rows_per_s": result["rps"] * case.rows,
                            "cpu_ms_per_request": cpu,
                        }
                    )
                    runs.setdefault((tool, case.key), []).append(result)
                    console.print(
                        f"[dim]  round {round_ + 1} {tool:16} {prep.key:6} {case.key:14} c={conc:<3} "
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
    anchors = {k: v for k, v in servers.items() if k in ANCHORS and "single_c16" in v}
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
    ("sklearn_proba_1row_ms", "scikit-learn predict_proba, 1 row", "{:.3f} ms"),
    ("sklearn_proba_batch_rows_per_s", "scikit-learn predict_proba, 1,000 rows", "{:,.0f} rows/s"),
    ("sklearn_proba_10k_rows_per_s", "scikit-learn predict_proba, 10,000 rows", "{:,.0f} rows/s"),
    ("served_1row_ms", "mlfactory serving path, checked rows, 1 row", "{:.3f} ms"),
    ("served_batch_rows_per_s", "mlfactory serving path, 1,000 rows", "{:,.0f} rows/s"),
    ("served_10k_rows_per_s", "mlfactory serving path, 10,000 rows", "{:,.0f} rows/s"),
    ("compiled_path", "  (compiled path)", "{}"),
    ("registered_frame_1row_ms", "registered estimator predict, one-row DataFrame", "{:.3f} ms"),
    ("registered_batch_rows_per_s", "registered estimator predict, 1,000-row DataFrame", "{:,.0f} rows/s"),
    ("sdk_predict_1row_ms", "mlfactory LoadedModel.predict, 1 row", "{:.3f} ms"),
    ("sdk_predict_batch_rows_per_s", "mlfactory LoadedModel.predict, 1,000 rows", "{:,.0f} rows/s"),
    ("native_both_1row_ms", "model, classes + probabilities, 1 row", "{:.3f} ms"),
    ("onnx_both_1row_ms", "ONNX Runtime, classes + probabilities, 1 row", "{:.3f} ms"),
    ("native_both_batch_rows_per_s", "model, classes + probabilities, 1,000 rows", "{:,.0f} rows/s"),
    ("onnx_both_batch_rows_per_s", "ONNX Runtime, classes + probabilities, 1,000 rows", "{:,.0f} rows/s"),
]


def print_floor(models: dict[str, Any]) -> None:
    table = Table(title=f"In process, no server (the floor), native threads {THREADS}")
    table.add_column("predict")
    for data in models.values():
        table.add_column(data["short"], justify="right")
    for key, label, fmt in FLOOR_ROWS:
        cells = [data["in_process"].get(key) for data in models.values()]
        table.add_row(label, *("—" if v is None else fmt.format(v) for v in cells))
    console.print(table)


def _threads_cell(res: dict[str, Any]) -> str:
    """Native threads and what sets them: the variables, plus the server's own setting where it has one."""
    settings = res.get("threads", {})
    how = ["env"] + [k.split(".")[-1].split()[0] for k in settings if k not in THREAD_VARS]
    return f"{settings.get('OMP_NUM_THREADS', '?')} ({', '.join(how)})"


def server_label(tool: str) -> str:
    return tool.replace("-nolog", " (log off)") if tool.endswith("-nolog") else tool


def _server_row(short: str, tool: str, res: dict[str, Any], table: Table, notes: list[str]) -> None:
    if "skipped" in res or "failed" in res:
        table.add_row(short, server_label(tool), "skipped" if "skipped" in res else "[red]failed[/red]")
        notes.append(f"{short} / {tool}: {res.get('skipped') or res.get('failed')}")
        return
    cells = []
    for key, figure in (("single_c1", "rps"), ("single_c16", "rps"), ("batch", "rows_per_s")):
        cells += [f"{res[key][figure]:,.0f}", f"{res[key]['p50_ms']:.1f} / {res[key]['p99_ms']:.1f}"]
    errors = sum(res[c.key]["errors"] for c in LOADS)
    agrees = "yes" if res["agrees_with_in_process"] else "[red]NO[/red]"
    table.add_row(short, server_label(tool), _threads_cell(res), *cells, str(errors), agrees)


def print_servers(models: dict[str, Any], generator: str, batch_concurrency: int, rounds: int) -> None:
    table = Table(
        title=f"Through a server on {HOST}: load from {generator}, closed loop, "
        f"median of {rounds} interleaved rounds"
    )
    columns = [
        "model",
        "server",
        "native threads",
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
        table.add_column(col, justify="left" if col in ("model", "server", "native threads") else "right")
    notes: list[str] = []
    for data in models.values():
        for tool, res in data["servers"].items():
            _server_row(data["short"], tool, res, table, notes)
        ratios = data.get("ratios")
        if ratios:
            cells = []
            for key, target in (("single_c1", None), ("single_c16", TARGET_SINGLE), ("batch", TARGET_BATCH)):
                cells += [fmt_ratio(ratios[key]["ratio"], target), f"vs {ratios[key]['faster_anchor']}"]
            table.add_row(data["short"], "[bold]mlfactory ÷ best[/bold]", "", *cells, "", "")
    console.print(table)
    for note in notes:
        console.print(f"[yellow]{note[:400]}[/yellow]")
    for data in models.values():
        if data.get("ratios"):
            marks = ", ".join(
                f"{k}: {'met' if v else 'NOT met'}" for k, v in data["ratios"]["targets"].items()
            )
            console.print(f"{data['title']}: {marks}")


def floor_shares(entry: dict[str, Any]) -> None:
    """Each large-request figure of mlfactory's servers as a share of the in-process floor, in place."""
    for res in entry["servers"].values():
        for case in (LOADS[2], *LARGE):
            if case.key in res:
                floor = entry["in_process"][f"floor_{'10k' if case.rows == 10_000 else 'batch'}_rows_per_s"]
                res[case.key]["share_of_floor"] = res[case.key]["rows_per_s"] / floor


def print_large(models: dict[str, Any], batch_concurrency: int, large: list[LoadCase]) -> None:
    cases = [LOADS[2], *large]
    table = Table(
        title=f"Large requests to mlfactory, c={batch_concurrency}: rows/s (share of the in-process floor), "
        "p99 ms"
    )
    for col in ("model", "server", *(f"{c.rows:,} rows {c.fmt}" for c in cases)):
        table.add_column(col, justify="left" if col in ("model", "server") else "right")
    for data in models.values():
        for tool, res in data["servers"].items():
            if not all(c.key in res for c in cases):
                continue
            cells = [
                f"{res[c.key]['rows_per_s']:,.0f} ({res[c.key]['share_of_floor']:.0%}), "
                f"{res[c.key]['p99_ms']:.0f}"
                for c in cases
            ]
            table.add_row(data["short"], server_label(tool), *cells)
    console.print(table)


def print_cpu(models: dict[str, Any], cases: list[LoadCase]) -> None:
    """Server CPU per request (every process of the server, median of the rounds): unlike rates, it hardly
    moves with other load on the machine, so log on minus log off is what the prediction log costs."""
    table = Table(title="Server CPU per request, ms (user + system, every process of the server; median)")
    for col in ("model", "server", *(c.key for c in cases)):
        table.add_column(col, justify="left" if col in ("model", "server") else "right")
    for data in models.values():
        servers = data["servers"]
        for tool, res in servers.items():
            cells = [f"{res[c.key]['cpu_ms_per_request']:.2f}" if c.key in res else "—" for c in cases]
            table.add_row(data["short"], server_label(tool), *cells)
        for tool in ("mlfactory", "baseline"):
            on, off = servers.get(tool, {}), servers.get(f"{tool}-nolog", {})
            cells = [
                f"{on[c.key]['cpu_ms_per_request'] - off[c.key]['cpu_ms_per_request']:+.2f}"
                if c.key in on and c.key in off
                else "—"
                for c in cases
            ]
            if any(cell != "—" for cell in cells):
                table.add_row(data["short"], f"{server_label(tool)}: log on − off", *cells)
    console.print(table)


def print_report(models: dict[str, Any], generator: LoadGenerator, args: argparse.Namespace) -> None:
    """Every table of the run: the floor, the servers, the large requests and the CPU per request."""
    print_floor(models)
    print_servers(models, generator.name, args.batch_concurrency, args.rounds)
    print_large(models, args.batch_concurrency, args.large)
    print_cpu(models, [*LOADS, *args.large])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
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
        default=1,
        help="native threads (OpenMP/BLAS) of every server and the floor (default 1, the same for all)",
    )
    parser.add_argument(
        "--baseline-src",
        type=Path,
        help="also run the server of this source tree (its src/ folder, on PYTHONPATH), log on and off",
    )
    parser.add_argument("--output", type=Path, help="where to write the JSON (default benchmarks/results/)")
    args = parser.parse_args(argv)
    args.duration = args.duration or (2.0 if args.quick else 8.0)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.large = LARGE[:1] if args.quick else LARGE  # --quick: the 1,000-row Arrow case only
    return args


def load_generator(args: argparse.Namespace, workdir: Path) -> LoadGenerator:
    version = None if args.no_wrk else wrk_version()
    if version is None:
        if not args.no_wrk:
            console.print(
                "[yellow]wrk is not installed; using the asyncio httpx client instead (it uses more "
                "CPU on the same cores). Install wrk with: apt-get install -y wrk[/yellow]"
            )
        return LoadGenerator("httpx (asyncio)", None)
    lua = workdir / "post.lua"
    lua.write_text(WRK_LUA)
    return LoadGenerator(version, lua)


def server_specs(
    prep: Prepared, args: argparse.Namespace, workdir: Path
) -> list[tuple[str, Callable[[], ServerSpec]]]:
    """mlfactory with its log on and off (and the baseline tree's, if given), then the anchors."""
    specs: list[tuple[str, Callable[[], ServerSpec]]] = []
    for tool in ("mlfactory", "mlfactory-nolog"):
        specs.append((tool, lambda t=tool: mlfactory_spec(prep, t)))
    if args.baseline_src is not None:
        for tool in ("baseline", "baseline-nolog"):
            specs.append((tool, lambda t=tool: mlfactory_spec(prep, t, args.baseline_src)))
    if args.with_anchors:
        specs.append(("mlflow", lambda: mlflow_spec(prep, workdir)))
        specs.append(("bentoml", lambda: bentoml_spec(prep, workdir)))
    return specs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_signals()
    global THREADS
    THREADS = args.threads
    keys = args.models.split(",") if args.models else (["logreg"] if args.quick else list(MODELS))
    budget, repeats = (0.1, 1) if args.quick else (0.5, 3)
    workdir = Path(tempfile.mkdtemp(prefix="mlfactory-serving-bench-"))
    generator = load_generator(args, workdir)
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
            "prediction_log": "mlfactory: on (server default); mlfactory-nolog: off",
            "wrk_threads": 1 if generator.lua else None,
            "native_threads": THREADS,
            "bentoml_batching": "batchable=True (adaptive batching)",
            "baseline_src": str(args.baseline_src) if args.baseline_src else None,
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
            with threadpool_limits(limits=THREADS):
                entry["in_process"] = measure_floor(prep, budget, repeats)
            if no_server is None:
                entry["servers"] = measure_servers(
                    server_specs(prep, args, workdir), prep, generator, args, workdir
                )
            else:
                entry["servers"]["mlfactory"] = {"skipped": no_server}
            floor_shares(entry)
            entry["ratios"] = compare(entry["servers"])
            result["models"][key] = entry
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print_report(result["models"], generator, args)
    path = write_json("serving", result, args.output)
    console.print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
