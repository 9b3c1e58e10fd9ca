"""Object storage and streaming: mlfactory's artifact store, prediction log and batch scoring, on a local disk
and on an S3-compatible server, side by side in one run.

    .venv/bin/python benchmarks/storage.py                  # full sizes (see below)
    .venv/bin/python benchmarks/storage.py --with-anchors   # + MLflow pyfunc batch predict (own venv)
    .venv/bin/python benchmarks/storage.py --quick          # small sizes, a smoke run (under 2 minutes)

Every figure is measured twice, on a temporary folder and on moto's standalone S3 server started by this
script on 127.0.0.1 (``python -m moto.server``, a process of its own, as the test suite starts it; dummy
credentials in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; the project file names it in
``stores.storage_options.endpoint_url``). moto keeps objects in its own process on the same two cores, so
the bucket figures are a loopback S3 with a real HTTP stack, not a cloud bucket's.

The project is the quickstart's (``mlfactory.quickstart.init_project``: generated emails, a feature service
and a TF-IDF + one-hot + LogisticRegression spam model), ingested, materialized, trained and promoted once
through ``mlfactory.open_project``. Then:

1. **Artifact store** (``open_artifact_store`` at a temporary folder and at ``s3://<bucket>/artifacts``):
   ``put_bytes``, ``get_bytes`` and ``verify`` of fresh random 1, 10 and 100 MB objects (MB/s, 10^6 bytes;
   medians of ``--repeats``, one fewer for 100 MB; each put stores new bytes, since equal bytes are stored
   once).
2. **Prediction log**, each step in a fresh process (so its peak RSS is its own): a
   ``PredictionLog`` opened with ``open_prediction_log`` appends the spam model's inputs as the server does
   (``Batch`` rows of the model's ten inputs, text included, from 65,536 generated emails cycled; new request
   ids, predictions and two-class probabilities per append) in appends of ``--log-batch`` rows, flushed every
   65,536 rows (what one flush interval holds at that rate), then closed: written rows/s. Then monitoring's
   read: a ``LogWindow`` over a time window holding every logged row (``groups()``, then ``chunks()`` of every
   input column, 65,536 rows a chunk, turned into pandas frames as drift checks take them): rows/s and
   peak RSS.
3. **Batch scoring**: ``mlfactory predict`` (a subprocess of the installed CLI, timed from start to exit,
   model loading included) over Parquet inputs of generated emails (SpamWorld, seed 11, dated after the
   training data, written 100,000 rows at a time in 65,536-row row groups, cached under
   ``.bench-cache/storage/``), from and to the local disk, and from and to the bucket. Rows/s (the CLI's
   own count over its own scoring time, and over the whole process) and the process's peak RSS (its
   ``VmHWM``, polled; not ``ru_maxrss``, which Linux carries from this process into its children), which
   should not grow with the input: the table shows it for each size.

With ``--with-anchors``: MLflow's pyfunc on ``--anchor-rows`` rows (1M; the largest size with --quick), as
``mlflow models predict`` does it (the whole input read into one pandas frame,
``mlflow.pyfunc.load_model(...).predict(frame)``), in MLflow's own venv. mlfactory's registered pipeline
cannot be loaded there, so an equivalent scikit-learn pipeline (the same steps and parameters, without the
feature store's three per-domain features, which MLflow has no way to look up) is trained in that venv on
the project's emails; mlfactory additionally joins those features point-in-time per batch and writes every
input column next to the predictions, MLflow only the predictions.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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

HOST = "127.0.0.1"  # never anything but loopback
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
DATA = ROOT / ".bench-cache" / "storage"
ANCHOR_DIR = ROOT / "benchmarks" / "anchors"
MODEL = "spam"
POOL_ROWS = 65_536  # distinct emails the prediction-log writer cycles through
FLUSH_ROWS = 65_536
MB = 1_000_000


# -- the S3 server --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 server on a free loopback port, with dummy credentials in the environment; yields its URL."""
    port = free_port()
    os.environ.update(S3_ENV)
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection((HOST, port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto's S3 server did not start on port {port}") from None
                time.sleep(0.1)
        yield f"http://{HOST}:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def make_bucket(endpoint: str) -> str:
    import boto3

    name = f"bench-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return f"s3://{name}"


# -- the project ----------------------------------------------------------------------------------------


def make_project(root: Path, endpoint: str) -> str:
    """The quickstart's project, told where the S3 server is, trained and promoted once; its version."""
    from mlfactory import open_project
    from mlfactory.quickstart import init_project

    init_project(root)
    config = yaml.safe_load((root / "mlfactory.yaml").read_text())
    config.setdefault("stores", {})["storage_options"] = {"endpoint_url": endpoint}
    (root / "mlfactory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    with open_project(root) as project:
        project.ingest("emails")
        project.features.materialize()
        trained = project.train(MODEL)
        project.promote(MODEL, trained.version.version, reason="storage benchmark")
        return str(trained.version.ref)


# -- 1. artifact store ----------------------------------------------------------------------------------


def bench_artifacts(root: Path, url: str, sizes_mb: list[int], repeats: int) -> dict[str, Any]:
    """put/get/verify MB/s per size for the store at ``url``, opened as the project opens its store."""
    from mlfactory import open_project
    from mlfactory.stores.artifacts import open_artifact_store

    with open_project(root) as project:
        options = project.config.stores.storage_options
    store = open_artifact_store(url, root, options)
    out: dict[str, Any] = {"store": store.describe(), "sizes": {}}
    for size in sizes_mb:
        runs: dict[str, list[float]] = {"put": [], "get": [], "verify": []}
        for _ in range(repeats if size < 100 else max(1, repeats - 1)):
            data = os.urandom(size * MB)
            start = time.perf_counter()
            digest = store.put_bytes(data)
            runs["put"].append(time.perf_counter() - start)
            start = time.perf_counter()
            got = store.get_bytes(digest)
            runs["get"].append(time.perf_counter() - start)
            if got != data:
                raise RuntimeError(f"{store.describe()} returned other bytes for {digest[:12]}")
            del got
            start = time.perf_counter()
            store.verify(digest)
            runs["verify"].append(time.perf_counter() - start)
        out["sizes"][str(size)] = {f"{op}_mb_s": size / median(seconds) for op, seconds in runs.items()} | {
            "seconds": runs
        }
        console.print(
            f"[dim]  artifacts {size:>4} MB on {store.describe()[:40]:40} "
            + "  ".join(f"{op} {size / median(s):7.1f} MB/s" for op, s in runs.items())
            + "[/dim]"
        )
    return out


# -- 2. prediction log (each step in its own process) ---------------------------------------------------


def _log_settings(root: Path, path: str) -> tuple[Any, Any]:
    from mlfactory.config import PredictionLogConfig
    from mlfactory.project import open_project

    with open_project(root) as project:
        loaded = project.loaded
    return loaded, PredictionLogConfig(path=path)


def _email_batches(names: list[str], rows_per_batch: int) -> list[Any]:
    """Batches of ``rows_per_batch`` rows of the model's inputs, from :data:`POOL_ROWS` generated emails."""
    import numpy as np
    import pandas as pd

    from mlfactory.inputs import Batch
    from mlfactory.quickstart.scaffold import START
    from mlfactory.quickstart.world import SpamWorld

    emails = SpamWorld(3).emails(POOL_ROWS, start=START, end=START + timedelta(days=1))
    rng = np.random.default_rng(3)
    columns: dict[str, np.ndarray] = {}
    for name in names:
        if name in emails.columns and pd.api.types.is_numeric_dtype(emails[name]):
            columns[name] = emails[name].to_numpy(dtype=np.float64)
        elif name in emails.columns:
            columns[name] = emails[name].to_numpy(dtype=object)
        else:  # the feature store's per-domain numbers
            columns[name] = rng.gamma(2.0, 5.0, POOL_ROWS)
    whole = Batch(names, columns=columns)
    return [whole.take(np.arange(i, i + rows_per_batch)) for i in range(0, POOL_ROWS, rows_per_batch)]


def child_log_write(root: Path, path: str, rows: int, batch_rows: int, names: list[str]) -> dict[str, Any]:
    import numpy as np

    from mlfactory.stores.predictions import open_prediction_log

    loaded, settings = _log_settings(root, path)
    batches = [b for b in _email_batches(names, batch_rows) if b.n == batch_rows]
    rng = np.random.default_rng(5)
    proba = rng.random((batch_rows, 1))
    probabilities = np.hstack([1 - proba, proba])
    predictions = (proba[:, 0] > 0.5).astype(np.int64)
    log = open_prediction_log(loaded, settings)
    done, pending, i = 0, 0, 0
    start = time.perf_counter()
    while done < rows:
        batch = batches[i % len(batches)]
        i += 1
        accepted = log.append(
            model=MODEL,
            version=1,
            route="production",
            time=time.time(),
            latency_ms=1.0,
            request_ids=log.ids.make(batch_rows),
            batch=batch,
            predictions=predictions,
            probabilities=probabilities,
        )
        if not accepted:
            raise RuntimeError("the prediction log dropped rows")
        done += batch_rows
        pending += batch_rows
        if pending >= FLUSH_ROWS:
            log.flush()
            pending = 0
    log.close()
    seconds = time.perf_counter() - start
    stats = log.stats()
    return {"rows": stats["written_rows"], "segments": stats["segments"], "seconds": seconds}


def child_log_read(root: Path, path: str, since: float) -> dict[str, Any]:
    from mlfactory.stores.predictions import LogWindow, Window, open_prediction_reader

    loaded, settings = _log_settings(root, path)
    reader = open_prediction_reader(loaded, settings)
    until = datetime.now(UTC) + timedelta(seconds=1)
    window = Window(seconds=until.timestamp() - since + 1, until=until)
    rows, chunks = 0, 0
    start = time.perf_counter()
    with LogWindow(reader, MODEL, window) as lw:
        groups = lw.groups()
        for group in groups:
            for frame, _proba in lw.chunks(group["version"], group["route"], lw.inputs):
                rows += len(frame)
                chunks += 1
    seconds = time.perf_counter() - start
    return {"rows": rows, "chunks": chunks, "seconds": seconds, "files": len(lw.files)}


def run_child(task: dict[str, Any]) -> dict[str, Any]:
    """Run one step (``task``) of this script in a new process: its JSON answer and its peak RSS."""
    run = run_measured([sys.executable, __file__, "--child", json.dumps(task)], ROOT)
    if run["returncode"] != 0:
        raise RuntimeError(f"{task['kind']} failed: {run['stderr'][-1500:]}")
    result: dict[str, Any] = json.loads(run["stdout"].strip().splitlines()[-1])
    return result  # with the peak the step read from its own VmHWM at its end


def child_main(task: dict[str, Any]) -> None:
    root = Path(task["root"])
    if task["kind"] == "log-write":
        result = child_log_write(root, task["path"], task["rows"], task["batch_rows"], task["names"])
    else:
        result = child_log_read(root, task["path"], task["since"])
    result["peak_rss_bytes"] = vm_hwm()
    print(json.dumps(result))


def bench_log(root: Path, path: str, rows: int, batch_rows: int, names: list[str]) -> dict[str, Any]:
    since = time.time()
    common = {"root": str(root), "path": path}
    write = run_child({**common, "kind": "log-write", "rows": rows, "batch_rows": batch_rows, "names": names})
    read = run_child({**common, "kind": "log-read", "since": since})
    if read["rows"] != write["rows"]:
        raise RuntimeError(f"the window read {read['rows']} rows of the {write['rows']} written to {path}")
    write["rows_per_s"] = write["rows"] / write["seconds"]
    read["rows_per_s"] = read["rows"] / read["seconds"]
    console.print(
        f"[dim]  prediction log {path[:50]:50} write {write['rows_per_s']:10,.0f} rows/s  "
        f"read {read['rows_per_s']:10,.0f} rows/s  read peak {read['peak_rss_bytes'] / 2**20:,.0f} MiB[/dim]"
    )
    return {"path": path, "write": write, "read": read}


# -- 3. batch scoring -----------------------------------------------------------------------------------


def input_file(rows: int) -> Path:
    """Generated emails dated after the training data, as Parquet, made once and cached."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlfactory.quickstart.scaffold import START
    from mlfactory.quickstart.world import SpamWorld

    path = DATA / f"emails_{rows}.parquet"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    console.print(f"[dim]  generating {rows:,} emails into {path} (once)...[/dim]")
    world, step, begin = SpamWorld(11), 100_000, START + timedelta(days=60)
    span = timedelta(days=30) / max(1, -(-rows // step))
    tmp = path.with_suffix(".tmp")
    writer: pq.ParquetWriter | None = None
    for i, first in enumerate(range(0, rows, step)):
        frame = world.emails(min(step, rows - first), start=begin + i * span, end=begin + (i + 1) * span)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        writer = writer or pq.ParquetWriter(tmp, table.schema)
        writer.write_table(table, row_group_size=65_536)
    assert writer is not None
    writer.close()
    tmp.replace(path)
    return path


def mlfactory_command() -> list[str]:
    exe = Path(sys.executable).with_name("mlfactory")
    found = str(exe) if exe.exists() else shutil.which("mlfactory")
    if found is None:
        raise RuntimeError("the mlfactory command is not installed (pip install -e . in the venv)")
    return [found]


def vm_hwm(pid: int | str = "self") -> int | None:
    """The peak resident memory of a process's own address space (``VmHWM``), in bytes; None once it is gone.

    Not ``ru_maxrss``: Linux carries that across ``fork`` and ``exec``, so a child of this large process
    would report this process's peak as its own.
    """
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def run_measured(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``command``: its output, wall seconds and peak RSS (its ``VmHWM``, read every 20 ms until it exits;
    a high-water mark, so only growth in its last 20 ms could be missed)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, vm_hwm(proc.pid) or 0)
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        return {
            "returncode": proc.returncode,
            "stdout": out.read().decode(errors="replace"),
            "stderr": err.read().decode(errors="replace"),
            "wall_s": seconds,
            "peak_rss_bytes": peak,
        }


def bench_score(root: Path, source: str, target: str, rows: int) -> dict[str, Any]:
    """`mlfactory predict` of ``source`` into ``target``: rows/s and peak RSS of the process."""
    command = [*mlfactory_command(), "--project", str(root), "predict", "--model", MODEL]
    run = run_measured([*command, "--input", source, "--output", target], root)
    if run["returncode"] != 0:
        raise RuntimeError(f"mlfactory predict failed: {(run['stderr'] or run['stdout'])[-1500:]}")
    scored = [line for line in run["stdout"].splitlines() if "rows read in" in line]
    words = scored[-1].split() if scored else []
    own_s = float(words[words.index("in") + 1]) if "in" in words else run["wall_s"]
    return {
        "rows": rows,
        "wall_s": run["wall_s"],
        "scoring_s": own_s,
        "rows_per_s": rows / own_s,
        "wall_rows_per_s": rows / run["wall_s"],
        "peak_rss_bytes": run["peak_rss_bytes"],
    }


def upload(local: Path, url: str, endpoint: str) -> None:
    import s3fs

    s3fs.S3FileSystem(endpoint_url=endpoint).put_file(str(local), url.removeprefix("s3://"))


def bench_scoring(root: Path, bucket: str, endpoint: str, sizes: list[int], workdir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"local": {}, "bucket": {}}
    for rows in sizes:
        source = input_file(rows)
        local = bench_score(root, str(source), str(workdir / f"scored_{rows}.parquet"), rows)
        (workdir / f"scored_{rows}.parquet").unlink(missing_ok=True)
        out["local"][str(rows)] = local
        url = f"{bucket}/input/emails_{rows}.parquet"
        upload(source, url, endpoint)
        remote = bench_score(root, url, f"{bucket}/scored/emails_{rows}.parquet", rows)
        out["bucket"][str(rows)] = remote
        for where, r in (("disk", local), ("bucket", remote)):
            console.print(
                f"[dim]  predict {rows:>10,} rows on {where:6} {r['rows_per_s']:9,.0f} rows/s "
                f"(whole process {r['wall_rows_per_s']:9,.0f})  peak {mib(r['peak_rss_bytes'])}[/dim]"
            )
    return out


def bench_mlflow(root: Path, rows: int, workdir: Path) -> dict[str, Any]:
    """MLflow pyfunc over the whole input in one frame, in MLflow's venv (see the module docstring)."""
    python = anchor_env("mlflow", MLFLOW_PACKAGES)
    env = anchor_environ(python)
    script = str(ANCHOR_DIR / "mlflow_batch_predict.py")
    model_dir = workdir / "mlflow-model"
    trained = subprocess.run(
        [str(python), script, "train", str(root / "data" / "emails.csv"), str(model_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    if trained.returncode != 0:
        raise RuntimeError(f"training the MLflow model failed: {trained.stderr[-1500:]}")
    output = workdir / "mlflow_scored.parquet"
    run = run_measured(
        [str(python), script, "predict", str(model_dir), str(input_file(rows)), str(output)], workdir, env
    )
    if run["returncode"] != 0:
        raise RuntimeError(f"MLflow predict failed: {run['stderr'][-1500:]}")
    result: dict[str, Any] = json.loads(run["stdout"].strip().splitlines()[-1])
    result.update(
        {
            "wall_s": run["wall_s"],
            "rows_per_s": rows / (result["read_s"] + result["predict_s"] + result["write_s"]),
            "wall_rows_per_s": rows / run["wall_s"],
        }
    )
    console.print(
        f"[dim]  MLflow pyfunc {rows:>10,} rows {result['rows_per_s']:9,.0f} rows/s  "
        f"peak {result['peak_rss_bytes'] / 2**20:,.0f} MiB[/dim]"
    )
    return result


# -- report ---------------------------------------------------------------------------------------------


def mib(value: float | None) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f} MiB"


def print_artifacts(result: dict[str, Any]) -> None:
    table = Table(title="Artifact store: MB/s (10^6 bytes), medians")
    table.add_column("size", justify="right")
    for where in ("disk", "bucket"):
        for op in ("put", "get", "verify"):
            table.add_column(f"{where} {op}", justify="right")
    disk, bucket = result["disk"]["sizes"], result["bucket"]["sizes"]
    for size in disk:
        cells = [
            f"{side[size][f'{op}_mb_s']:,.0f}" for side in (disk, bucket) for op in ("put", "get", "verify")
        ]
        table.add_row(f"{size} MB", *cells)
    console.print(table)


def print_log(result: dict[str, Any]) -> None:
    table = Table(title="Prediction log: server-style appends, then a monitoring window read in chunks")
    for col in ("where", "rows", "write rows/s", "segments", "write peak", "read rows/s", "read peak"):
        table.add_column(col, justify="left" if col == "where" else "right")
    for where, r in result.items():
        w, rd = r["write"], r["read"]
        table.add_row(
            where,
            f"{w['rows']:,}",
            f"{w['rows_per_s']:,.0f}",
            f"{w['segments']:,}",
            mib(w["peak_rss_bytes"]),
            f"{rd['rows_per_s']:,.0f}",
            mib(rd["peak_rss_bytes"]),
        )
    console.print(table)


def print_scoring(result: dict[str, Any], anchor: dict[str, Any] | None) -> None:
    table = Table(title="Batch scoring: `mlfactory predict` (a subprocess; peak RSS of that process)")
    for col in ("rows", "where", "rows/s (scoring)", "rows/s (whole process)", "seconds", "peak RSS"):
        table.add_column(col, justify="left" if col == "where" else "right")
    for where in ("local", "bucket"):
        for rows, r in result[where].items():
            table.add_row(
                f"{int(rows):,}",
                where,
                f"{r['rows_per_s']:,.0f}",
                f"{r['wall_rows_per_s']:,.0f}",
                f"{r['wall_s']:.1f}",
                mib(r["peak_rss_bytes"]),
            )
    if anchor and "rows_per_s" in anchor:
        table.add_row(
            f"{anchor['rows']:,}",
            f"MLflow {anchor['version']} pyfunc (whole frame)",
            f"{anchor['rows_per_s']:,.0f}",
            f"{anchor['wall_rows_per_s']:,.0f}",
            f"{anchor['wall_s']:.1f}",
            mib(anchor["peak_rss_bytes"]),
        )
    console.print(table)
    for where in ("local", "bucket"):
        sizes = sorted(result[where], key=int)
        if len(sizes) > 1:
            small, large = result[where][sizes[0]], result[where][sizes[-1]]
            growth = large["peak_rss_bytes"] / small["peak_rss_bytes"]
            console.print(
                f"{where}: peak RSS at {int(sizes[-1]):,} rows ÷ at {int(sizes[0]):,} rows = {growth:.2f}x "
                f"for {int(sizes[-1]) / int(sizes[0]):.0f}x the rows"
            )
    if anchor and "rows_per_s" in anchor:
        ours = result["local"].get(str(anchor["rows"]))
        if ours:
            console.print(
                f"mlfactory (local) ÷ MLflow on {anchor['rows']:,} rows: rows/s "
                f"{fmt_ratio(ours['rows_per_s'] / anchor['rows_per_s'])}, peak RSS "
                f"{fmt_ratio(ours['peak_rss_bytes'] / anchor['peak_rss_bytes'])}"
            )


# -- main -----------------------------------------------------------------------------------------------


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, one repetition (a smoke run)")
    parser.add_argument(
        "--with-anchors", action="store_true", help="also score the first size with MLflow pyfunc (own venv)"
    )
    parser.add_argument("--artifact-mb", type=int, nargs="+", help="artifact sizes in MB (default 1 10 100)")
    parser.add_argument("--repeats", type=int, help="artifact repetitions (default 3, 1 with --quick)")
    parser.add_argument(
        "--log-rows", type=int, help="rows logged and read back (default 10M, 100k with --quick)"
    )
    parser.add_argument("--log-batch", type=int, default=64, help="rows per append (default 64)")
    parser.add_argument(
        "--score-rows",
        type=int,
        nargs="+",
        help="input sizes to score (default 1M 10M; 10k 70k with --quick)",
    )
    parser.add_argument(
        "--anchor-rows", type=int, help="rows MLflow scores (default 1M; --quick: largest size)"
    )
    parser.add_argument("--skip", nargs="*", default=[], choices=["artifacts", "log", "scoring"])
    parser.add_argument("--output", type=Path, help="where to write the JSON (default benchmarks/results/)")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # one prediction-log step, in its own process
    args = parser.parse_args(argv)
    args.artifact_mb = args.artifact_mb or ([1, 10] if args.quick else [1, 10, 100])
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.log_rows = args.log_rows or (100_000 if args.quick else 10_000_000)
    args.score_rows = args.score_rows or ([10_000, 70_000] if args.quick else [1_000_000, 10_000_000])
    args.anchor_rows = args.anchor_rows or (max(args.score_rows) if args.quick else 1_000_000)
    if POOL_ROWS % args.log_batch:
        parser.error(f"--log-batch must divide {POOL_ROWS}")
    return args


def run(args: argparse.Namespace, workdir: Path, endpoint: str) -> dict[str, Any]:
    from mlfactory import open_project

    bucket = make_bucket(endpoint)
    root = workdir / "project"
    console.print("[bold]the quickstart project[/bold]: ingest, materialize, train, promote")
    version = make_project(root, endpoint)
    with open_project(root) as project:
        names = list(project.registry.load(f"{MODEL}@production").spec.names)
    result: dict[str, Any] = {
        "benchmark": "storage",
        "quick": args.quick,
        "machine": machine(),
        "settings": {
            "s3_server": f"moto {moto_version()} on {HOST} (own process)",
            "model": version,
            "inputs": names,
            "artifact_mb": args.artifact_mb,
            "repeats": args.repeats,
            "log_rows": args.log_rows,
            "log_batch_rows": args.log_batch,
            "log_flush_rows": FLUSH_ROWS,
            "score_rows": args.score_rows,
            "anchor_rows": args.anchor_rows if args.with_anchors else None,
        },
    }
    if "artifacts" not in args.skip:
        result["artifacts"] = {
            where: bench_artifacts(root, url, args.artifact_mb, args.repeats)
            for where, url in (("disk", str(workdir / "artifacts")), ("bucket", f"{bucket}/artifacts"))
        }
    if "log" not in args.skip:
        result["prediction_log"] = {
            where: bench_log(root, path, args.log_rows, args.log_batch, names)
            for where, path in (("disk", str(workdir / "predictions")), ("bucket", f"{bucket}/predictions"))
        }
    if "scoring" not in args.skip:
        result["scoring"] = bench_scoring(root, bucket, endpoint, args.score_rows, workdir)
        if args.with_anchors:
            try:
                result["anchors"] = {"mlflow": bench_mlflow(root, args.anchor_rows, workdir)}
            except Exception as exc:  # the anchor failing must not lose mlfactory's figures
                result["anchors"] = {"mlflow": {"failed": str(exc)}}
                console.print(f"[red]MLflow anchor failed: {exc}[/red]")
    return result


def moto_version() -> str:
    import moto

    return str(moto.__version__)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.child:
        child_main(json.loads(args.child))
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="mlfactory-storage-bench-"))
    try:
        with moto_server() as endpoint:
            result = run(args, workdir, endpoint)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if "artifacts" in result:
        print_artifacts(result["artifacts"])
    if "prediction_log" in result:
        print_log(result["prediction_log"])
    if "scoring" in result:
        print_scoring(result["scoring"], result.get("anchors", {}).get("mlflow"))
    path = write_json("storage", result, args.output)
    console.print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
