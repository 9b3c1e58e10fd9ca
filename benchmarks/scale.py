"""Work beyond one machine: parameter search, batch scoring and monitoring through the project's executor,
``compute: local`` and ``compute: ray`` side by side in one run, and from their per-core rates a sizing
table for a cluster.

    .venv/bin/python benchmarks/scale.py                 # 40 trials, 1M rows scored, 4M monitored
    .venv/bin/python benchmarks/scale.py --score-rows 10000000
    .venv/bin/python benchmarks/scale.py --quick         # 6 trials, 50k scored, 51,200 monitored (smoke)
    .venv/bin/python benchmarks/scale.py --with-anchors  # + the same rows through MLflow's spark_udf

Every step runs the installed ``mlfactory`` CLI as a subprocess (``--project DIR``), once with
``MLFACTORY_COMPUTE=local`` and once with ``MLFACTORY_COMPUTE=ray``, so it measures what a user's command
does, start-up included. The sides, on the same machine:

- **local**: ``LocalExecutor`` with its default workers, one ``spawn``-ed process per CPU of this machine
  (``os.cpu_count()``); batch scoring streams in the CLI's own process.
- **ray**: the CLI starts a one-node Ray here with as many CPUs as this machine has (the executor's
  default), runs the work as Ray tasks (search trials, monitoring slices) or Ray Data (batch scoring), and
  stops it before it exits. Ray's start and stop are inside the command's time; the rates below also use the
  work's own time where the product reports it. ``RAY_USAGE_STATS_ENABLED=0``; Ray's token authentication
  stays on (its default).
- Native threads: ``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS``/``MKL_NUM_THREADS`` = ``--threads`` (1) for
  every command, so one worker uses one core (Ray sets the same for its workers).

"Per core" divides by the CPUs the side was given (its workers or Ray CPUs), not by what the shared machine
let it use; a busy machine makes every per-core figure lower, so the sizing below errs towards more nodes.

The project is the quickstart's (``mlfactory.quickstart.init_project`` in a temporary folder) with the
model's feature service turned off (a model with one scores on this machine even with ``compute: ray``, so
the two sides would not differ), ingested, trained and promoted once. Then:

1. **Search**: ``mlfactory train spam`` with a ``search:`` block (``C`` loguniform 0.01-100, ``class_weight``
   choice of none and balanced, ``metric: f1``, 3 folds, ``--trials`` trials, seed 7) on a copy of the
   project per side. Trials/s over the search (from the first trial's start to the last trial's end, as the
   trials' runs record them) and over the whole command (data preparation, the winner's fit and the gates
   included).
2. **Batch scoring**: ``mlfactory predict --model spam@production --input <folder> --output <folder>`` over
   a folder of ``--files`` Parquet files of generated emails (SpamWorld seed 11, dated after the training
   data: ``benchmarks/storage.py``'s ``input_file`` of one file's rows, linked under a name per file).
   Rows/s by the CLI's own count (reading, checking, predicting, writing; on Ray also starting Ray and its
   actors, which the scoring connects to first) and over the whole command.
   With ``--with-anchors``, then the same input through MLflow's ``mlflow.pyfunc.spark_udf`` on a local
   Spark (``anchors/spark_udf.py`` in its own venv under ``.bench-cache/anchors/spark``: pyspark, MLflow and
   this project's scikit-learn from the package index; Java from ``PATH``). The model is the same: the
   pipeline ``anchors/mlflow_batch_predict.py`` builds (mlfactory's steps and parameters), fitted on the
   training part mlfactory's production model was fitted on, saved by MLflow with ``predict_proba`` as its
   pyfunc. Spark runs ``local[2]`` (two tasks, one Python worker each, one native thread each), driver memory
   2g, Arrow batches of 65,536 rows (``mlfactory predict``'s ``--batch-rows``), UI off, on 127.0.0.1, and
   writes every input column with the predicted class and probabilities, as mlfactory does. Rows/s from
   building the UDF to the write's return (the last file committed; the session's start-up is reported
   apart) and over the whole process. Before any figure is kept, both outputs must hold every row and
   agree on 1,000 sampled emails: the same predicted class, probabilities within 1e-6.
3. **Monitoring**: the project's prediction log filled with ``--monitor-rows`` rows by the server's writer
   (``PredictionLog``, as ``benchmarks/storage.py`` writes it: appends of 64 rows of the model's inputs), then
   ``mlfactory monitor run --model spam --window 1d --json`` on each side: rows/s over the whole command.
   Monitoring counts a window of more than one slice of the log (``PART_ROWS`` rows of files each) on the
   executor, and a smaller one in the CLI's process, so ``--quick``'s window shows no difference by design.
   The writer's own rows/s is the logging rate used for sizing (one process, one core).

The sizing table turns the per-core rates of ``--size-from`` (the Ray side by default: the path that spans
nodes) into cores and nodes of 8 and 32 cores for ``--daily-rows`` predictions a day scored, logged and
monitored, and for a nightly retrain of ``--retrain-trials`` trials finishing in ``--retrain-hours``,
with a headroom factor (``--headroom``, default 2: peaks and failures) on top of the average load.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from _common import ROOT, anchor_env, anchor_environ, console, machine, write_json
from rich.table import Table
from storage import input_file, mlfactory_command, run_child, run_measured

from mlfactory.stores.predictions.window import PART_ROWS

MODEL = "spam"
SIDES = ("local", "ray")
ANCHOR = "spark_udf"  # the --with-anchors side of batch scoring
SPARK_SCRIPT = ROOT / "benchmarks" / "anchors" / "spark_udf.py"
SPARK_PACKAGES = ["pyspark==4.3.0", "mlflow==3.17.2", "scikit-learn==1.9.1"]  # the project's scikit-learn
SPARK_CORES = 2  # master local[2]
BATCH_ROWS = 65_536  # `mlfactory predict`'s default --batch-rows; Spark's Arrow batches are set to the same
AGREEMENT_SAMPLE = 1_000  # distinct emails whose answers both sides must share
SPARK_SETTINGS = (
    f"mlflow.pyfunc.spark_udf (env_manager=local, predict_proba; {', '.join(SPARK_PACKAGES)}), master "
    f"local[{SPARK_CORES}], driver memory 2g, Arrow on, {BATCH_ROWS:,} rows per Arrow batch, UI off, bound "
    "to 127.0.0.1; the same pipeline fitted on the same training rows; all input columns + prediction + "
    "probabilities written as Parquet"
)
DATA = ROOT / ".bench-cache" / "scale"
NODE_SIZES = (8, 32)
SEARCH_SPACE = {"C": {"loguniform": [0.01, 100.0]}, "class_weight": {"choice": [None, "balanced"]}}
LOG_BATCH = 64
WORK_LABELS = {
    "score": "batch scoring",
    "log": "prediction logging (writer)",
    "monitor": "monitoring windows",
    "daily_total": "scored + logged + monitored",
    "retrain": "nightly search",
}


# -- the project ----------------------------------------------------------------------------------------


def edit_config(root: Path, change: Any) -> None:
    path = root / "mlfactory.yaml"
    config = yaml.safe_load(path.read_text())
    change(config["models"][MODEL])
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def make_project(root: Path) -> list[str]:
    """The quickstart's project without its feature service, trained and promoted once; the model's inputs."""
    from mlfactory import open_project
    from mlfactory.quickstart import init_project

    init_project(root)

    def no_feature_service(model: dict[str, Any]) -> None:
        model.pop("feature_service")
        model.pop("on_missing_features")

    edit_config(root, no_feature_service)
    with open_project(root) as project:
        project.ingest("emails")
        trained = project.train(MODEL)
        project.promote(MODEL, trained.version.version, reason="scale benchmark")
        return list(project.registry.load(f"{MODEL}@production").spec.names)


def environment(side: str, threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"MLFACTORY_COMPUTE": side, "RAY_USAGE_STATS_ENABLED": "0"})
    env.update({k: str(threads) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
    return env


def cli(root: Path, side: str, threads: int, *args: str) -> dict[str, Any]:
    """One ``mlfactory`` command on ``side``: its output, wall seconds and peak RSS; an error if it failed."""
    run = run_measured(
        [*mlfactory_command(), "--project", str(root), *args], root, environment(side, threads)
    )
    if run["returncode"] != 0:
        raise RuntimeError(
            f"mlfactory {' '.join(args)} on {side} failed: {(run['stderr'] or run['stdout'])[-2000:]}"
        )
    return run


@contextlib.contextmanager
def no_leftovers() -> Iterator[None]:
    """Warn when a Ray process that appeared during the block is still running a minute after it (the
    executor stops the Ray it started; another user's Ray starting meanwhile would be named too)."""
    before = ray_processes()
    yield
    deadline = time.monotonic() + 60
    while (left := ray_processes() - before) and time.monotonic() < deadline:
        time.sleep(0.5)
    if left:
        console.print(f"[red]Ray processes still running after the command: {sorted(left)}[/red]")


def ray_processes() -> set[int]:
    rows = subprocess.run(["ps", "-eo", "pid=,stat=,args="], capture_output=True, text=True, check=True)
    found = set()
    for line in rows.stdout.splitlines():
        pid, stat, args = line.split(maxsplit=2)
        if not stat.startswith("Z") and ("raylet" in args or "gcs_server" in args or "ray::" in args):
            found.add(int(pid))
    return found


# -- 1. search ------------------------------------------------------------------------------------------


def bench_search(base: Path, workdir: Path, side: str, trials: int, threads: int) -> dict[str, Any]:
    from mlfactory import open_project

    root = Path(shutil.copytree(base, workdir / f"search-{side}"))

    def searched(model: dict[str, Any]) -> None:
        model["search"] = {"space": SEARCH_SPACE, "metric": "f1", "trials": trials, "folds": 3, "seed": 7}

    edit_config(root, searched)
    with no_leftovers():
        run = cli(root, side, threads, "train", MODEL)
    with open_project(root) as project:
        runs = project.metadata.list_runs(name=MODEL)
    trial_runs = [r for r in runs if "search.trial" in r.tags]
    starts = [r.started_at.timestamp() - r.metrics.get("seconds", 0.0) for r in trial_runs]
    ends = [(r.ended_at or r.started_at).timestamp() for r in trial_runs]
    search_s = max(ends) - min(starts)
    done = sum(r.tags["search.state"] == "complete" for r in trial_runs)
    searched_rows = next(int(r.params["search.rows"]) for r in runs if "search.rows" in r.params)
    result = {
        "trials": len(trial_runs),
        "training_rows": searched_rows,  # the training part each trial cross-validates
        "complete": done,
        "search_s": search_s,
        "trials_per_s": len(trial_runs) / search_s,
        "trial_seconds_sum": sum(r.metrics.get("seconds", 0.0) for r in trial_runs),
        "wall_s": run["wall_s"],
        "wall_trials_per_s": len(trial_runs) / run["wall_s"],
    }
    console.print(
        f"[dim]  search on {side:5} {result['trials']} trials in {search_s:.1f} s "
        f"({result['trials_per_s']:.3f}/s; command {run['wall_s']:.1f} s)[/dim]"
    )
    return result


# -- 2. batch scoring -----------------------------------------------------------------------------------


def input_folder(rows: int, files: int) -> Path:
    """``files`` Parquet files of ``rows // files`` generated emails each (one generated file, linked)."""
    part = input_file(rows // files)
    folder = DATA / f"emails_{rows}x{files}"
    if not folder.exists():
        tmp = folder.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for i in range(files):
            os.link(part, tmp / f"part-{i:03d}.parquet")
        tmp.replace(folder)
    return folder


def scored_folder(workdir: Path, side: str, rows: int) -> Path:
    return workdir / f"scored-{side}-{rows}"


def bench_scoring(
    root: Path, workdir: Path, side: str, source: Path, rows: int, threads: int, *, keep: bool = False
) -> dict[str, Any]:
    """``mlfactory predict`` of ``source`` on ``side``; its output is removed unless ``keep``."""
    target = scored_folder(workdir, side, rows)
    with no_leftovers():
        run = cli(
            root,
            side,
            threads,
            "predict",
            "--model",
            f"{MODEL}@production",
            "--input",
            str(source),
            "--output",
            str(target),
        )
    if not keep:
        shutil.rmtree(target, ignore_errors=True)
    scored = [line for line in run["stdout"].splitlines() if "rows read in" in line]
    words = scored[-1].split() if scored else []
    own_s = float(words[words.index("in") + 1]) if "in" in words else run["wall_s"]
    result = {
        "rows": rows,
        "scoring_s": own_s,
        "rows_per_s": rows / own_s,
        "wall_s": run["wall_s"],
        "wall_rows_per_s": rows / run["wall_s"],
        "peak_rss_bytes": run["peak_rss_bytes"],
    }
    console.print(
        f"[dim]  predict on {side:5} {rows:,} rows {result['rows_per_s']:,.0f} rows/s "
        f"(command {run['wall_s']:.1f} s)[/dim]"
    )
    return result


# -- 2b. the anchor: MLflow's spark_udf on a local Spark ------------------------------------------------


def training_csv(root: Path, target: Path) -> Path:
    """The rows the production model was fitted on (the training part of the same split), as CSV."""
    from mlfactory import open_project
    from mlfactory.project.train import prepare

    with open_project(root) as project:
        p = prepare(project, MODEL, dataset=None, allow_invalid=False, feedback=None, max_rows=None)
    p.train.to_csv(target, index=False)
    return target


def spark_environ(python: Path, threads: int) -> dict[str, str]:
    """The anchor's environment: its venv first, Java found from ``java`` on PATH, Spark on loopback."""
    env = anchor_environ(python)
    java = shutil.which("java")
    if "JAVA_HOME" not in env and java:
        env["JAVA_HOME"] = str(Path(java).resolve().parents[1])
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    env.update({k: str(threads) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
    return env


def bench_spark(root: Path, workdir: Path, source: Path, rows: int, threads: int) -> dict[str, Any]:
    """The same model (the same pipeline fitted on the same training rows, in the anchor's venv) scored
    with ``spark_udf`` over the same input folder; its answers checked against the local side's output."""
    python = anchor_env("spark", SPARK_PACKAGES)
    env, script, model_dir = spark_environ(python, threads), str(SPARK_SCRIPT), workdir / "spark-model"
    train = [str(python), script, "train", str(training_csv(root, workdir / "train.csv")), str(model_dir)]
    trained = subprocess.run(train, capture_output=True, text=True, env=env, timeout=900)
    if trained.returncode != 0:
        raise RuntimeError(f"training the MLflow model failed: {trained.stderr[-1500:]}")
    target = scored_folder(workdir, ANCHOR, rows)
    run = run_measured(
        [str(python), script, "score", str(model_dir), str(source), str(target), str(BATCH_ROWS)],
        workdir,
        env,
    )
    if run["returncode"] != 0:
        raise RuntimeError(f"spark_udf scoring failed: {run['stderr'][-1500:]}")
    spark: dict[str, Any] = json.loads(run["stdout"].strip().splitlines()[-1])
    agreed = agreement(scored_folder(workdir, "local", rows), target, source, rows)
    shutil.rmtree(target, ignore_errors=True)
    result = {
        "rows": rows,
        **spark,
        "scoring_s": spark["job_s"],
        "rows_per_s": rows / spark["job_s"],
        "wall_s": run["wall_s"],
        "wall_rows_per_s": rows / run["wall_s"],
        "agreement": agreed,
    }
    console.print(
        f"[dim]  spark_udf local[{SPARK_CORES}] {rows:,} rows {result['rows_per_s']:,.0f} rows/s "
        f"(session {spark['session_s']:.1f} s; process {run['wall_s']:.1f} s); agrees with local on "
        f"{agreed['sampled']:,} emails, largest probability difference {agreed['max_proba_diff']:.1e}[/dim]"
    )
    return result


def agreement(ours: Path, theirs: Path, source: Path, rows: int) -> dict[str, Any]:
    """Both outputs hold every row, and for a seeded sample of the input's emails the same predicted class
    and class probabilities within 1e-6; an error naming the difference otherwise."""
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    ids = pq.read_table(min(source.glob("*.parquet")), columns=["message_id"]).column(0).to_numpy()
    picked = np.random.default_rng(0).choice(np.unique(ids), AGREEMENT_SAMPLE, replace=False)
    held = [ds.dataset(path, format="parquet") for path in (ours, theirs)]
    counts = [d.count_rows() for d in held]
    probas = sorted(c for c in held[0].schema.names if c.startswith("proba_"))
    frames = [
        d.to_table(columns=["message_id", "prediction", *probas], filter=pc.field("message_id").isin(picked))
        .to_pandas()
        .drop_duplicates("message_id")
        .set_index("message_id")
        .sort_index()
        for d in held
    ]
    a, b = frames
    same_class = bool(len(a) == len(b) == len(picked) and (a["prediction"] == b["prediction"]).all())
    diff = float(np.abs(a[probas].to_numpy() - b[probas].to_numpy()).max()) if len(a) == len(b) else np.inf
    if counts != [rows, rows] or not same_class or diff > 1e-6:
        raise RuntimeError(
            f"spark_udf's output differs from mlfactory's: rows {counts} (expected {rows}), same predicted "
            f"class on the sample {same_class}, largest probability difference {diff:.3g} (allowed 1e-6)"
        )
    return {
        "sampled": len(picked),
        "rows_written": counts[1],
        "same_class": same_class,
        "max_proba_diff": diff,
    }


# -- 3. monitoring --------------------------------------------------------------------------------------


def fill_log(root: Path, rows: int, names: list[str]) -> dict[str, Any]:
    """The project's own prediction log, written by the server's writer in a process of its own."""
    task = {
        "kind": "log-write",
        "root": str(root),
        "path": str(root / ".mlfactory" / "predictions"),
        "rows": rows,
        "batch_rows": LOG_BATCH,
        "names": names,
    }
    write = run_child(task)
    write["rows_per_s"] = write["rows"] / write["seconds"]
    console.print(f"[dim]  prediction log: {write['rows']:,} rows at {write['rows_per_s']:,.0f} rows/s[/dim]")
    return write


def bench_monitor(root: Path, side: str, threads: int) -> dict[str, Any]:
    with no_leftovers():
        run = cli(root, side, threads, "monitor", "run", "--model", MODEL, "--window", "1d", "--json")
    reports = json.loads(run["stdout"][run["stdout"].index("[") :])
    rows = sum(int(r["rows"]) for r in reports)
    result = {
        "rows": rows,
        "reports": len(reports),
        "slices": -(-rows // PART_ROWS),  # a worker's share; one slice is counted in the CLI's process
        "wall_s": run["wall_s"],
        "rows_per_s": rows / run["wall_s"],
    }
    console.print(
        f"[dim]  monitor on {side:5} {rows:,} rows ({result['slices']} slice(s) of the log) "
        f"in {run['wall_s']:.1f} s[/dim]"
    )
    return result


# -- sizing ---------------------------------------------------------------------------------------------


def sizing(result: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Cores and nodes for the daily predictions and the nightly retrain, from per-core rates."""
    side, cores = args.size_from, result["settings"]["cores"][args.size_from]
    score = result["scoring"][side][str(args.score_rows)]["rows_per_s"] / cores
    monitor = result["monitoring"][side]["rows_per_s"] / cores
    log = result["monitoring"]["log_write"]["rows_per_s"]  # one writer process: one core
    trial_core_s = cores / result["search"][side]["trials_per_s"]
    day = 86_400.0
    needs = {
        "score": args.daily_rows / score / day,
        "log": args.daily_rows / log / day,
        "monitor": args.daily_rows / monitor / day,
    }
    needs["daily_total"] = sum(needs.values())
    needs["retrain"] = args.retrain_trials * trial_core_s / (args.retrain_hours * 3600)
    rows = {}
    for work, average in needs.items():
        cores_needed = average * args.headroom
        rows[work] = {
            "average_cores": average,
            "cores": cores_needed,
            **{f"nodes_{n}": max(1, math.ceil(cores_needed / n)) for n in NODE_SIZES},
        }
    return {
        "from_side": side,
        "per_core": {
            "score_rows_per_s": score,
            "log_rows_per_s": log,
            "monitor_rows_per_s": monitor,
            "trial_core_s": trial_core_s,
        },
        "daily_rows": args.daily_rows,
        "retrain_trials": args.retrain_trials,
        "retrain_hours": args.retrain_hours,
        "headroom": args.headroom,
        "work": rows,
    }


# -- report ---------------------------------------------------------------------------------------------


def table_rows(result: dict[str, Any]) -> list[list[str]]:
    """One row per measured work and side: rate, rate per CPU given, rate over the whole command."""
    cores, rows = result["settings"]["cores"], []
    for side, s in result.get("search", {}).items():
        rate, size = s["trials_per_s"], f"{s['trials']} trials"
        rows.append(["search trials/s", side, cores[side], size, rate, s["wall_trials_per_s"], s["wall_s"]])
    for side, by_rows in result.get("scoring", {}).items():
        for n, r in by_rows.items():
            size = f"{int(n):,} rows"
            rows.append(
                [
                    "predict rows/s",
                    side,
                    cores[side],
                    size,
                    r["rows_per_s"],
                    r["wall_rows_per_s"],
                    r["wall_s"],
                ]
            )
    monitoring = result.get("monitoring", {})
    for side in SIDES:
        if side in monitoring:
            m = monitoring[side]
            rows.append(
                [
                    "monitor rows/s",
                    side,
                    cores[side],
                    f"{m['rows']:,} rows",
                    None,
                    m["rows_per_s"],
                    m["wall_s"],
                ]
            )
    if "log_write" in monitoring:
        w = monitoring["log_write"]
        rows.append(
            ["log write rows/s", "writer", 1, f"{w['rows']:,} rows", w["rows_per_s"], None, w["seconds"]]
        )
    return [
        [
            work,
            side,
            str(n),
            size,
            rate_text(rate),
            rate_text(rate / n if rate else (wall / n if wall else None)),
            rate_text(wall),
            f"{seconds:.1f}",
        ]
        for work, side, n, size, rate, wall, seconds in rows
    ]


def rate_text(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.3f}" if value < 10 else f"{value:,.0f}"


def print_tables(result: dict[str, Any]) -> None:
    table = Table(title="side by side in one run (per core = ÷ the CPUs the side was given)")
    for col in ("work", "side", "CPUs", "size", "rate (work)", "per core", "rate (command)", "command s"):
        table.add_column(col, justify="left" if col in ("work", "side") else "right")
    for row in table_rows(result):
        table.add_row(*row)
    console.print(table)
    if ANCHOR in result.get("scoring", {}):
        print_anchor(result)
    if "monitoring" in result:
        slices = result["monitoring"]["ray"]["slices"]
        console.print(
            f"monitoring: the window is {slices} slice(s) of the log ({PART_ROWS:,} rows each); "
            + ("counted in the CLI's process on both sides" if slices < 2 else "counted on the executor")
            + "; its rate is over the whole command (the CLI reports no time of its own)"
        )
    if "sizing" in result:
        print_sizing(result["sizing"])


def print_anchor(result: dict[str, Any]) -> None:
    """mlfactory's scoring rate per core over spark_udf's, by the work's own time and over the command."""
    cores, scored = result["settings"]["cores"], result["scoring"]
    (rows, spark), *_ = scored[ANCHOR].items()

    def ratio(side: str, key: str) -> str:
        return f"{scored[side][rows][key] / cores[side] / (spark[key] / cores[ANCHOR]):.1f}x"

    agreed = spark["agreement"]
    per_core = ", ".join(
        f"on {side} {ratio(side, 'rows_per_s')} (command {ratio(side, 'wall_rows_per_s')})" for side in SIDES
    )
    console.print(
        f"spark_udf ({result['settings'][ANCHOR]}): agreed with local on {agreed['sampled']:,} sampled "
        f"emails (largest probability difference {agreed['max_proba_diff']:.1e}); mlfactory's rows/s per "
        f"core over spark_udf's: {per_core}"
    )


def print_sizing(s: dict[str, Any]) -> None:
    pc = s["per_core"]
    table = Table(
        title=f"Sizing: {s['daily_rows']:,.0f} predictions a day and a nightly {s['retrain_trials']}-trial "
        f"search in {s['retrain_hours']:g} h, from the {s['from_side']} side's per-core rates, "
        f"headroom {s['headroom']:g}x"
    )
    for col in (
        "work",
        "per-core rate",
        "average cores",
        "cores with headroom",
        *(f"{n}-core nodes" for n in NODE_SIZES),
    ):
        table.add_column(col, justify="left" if col == "work" else "right")
    rates = {
        "score": f"{pc['score_rows_per_s']:,.0f} rows/s",
        "log": f"{pc['log_rows_per_s']:,.0f} rows/s",
        "monitor": f"{pc['monitor_rows_per_s']:,.0f} rows/s",
        "daily_total": "",
        "retrain": f"{pc['trial_core_s']:.1f} core-s/trial",
    }
    for work, row in s["work"].items():
        table.add_row(
            WORK_LABELS[work],
            rates[work],
            f"{row['average_cores']:,.1f}",
            f"{row['cores']:,.1f}",
            *(str(row[f"nodes_{n}"]) for n in NODE_SIZES),
        )
    console.print(table)


# -- main -----------------------------------------------------------------------------------------------


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="6 trials, 50k rows scored, 51,200 monitored")
    parser.add_argument("--trials", type=int, help="search trials per side (default 40; 6 with --quick)")
    parser.add_argument("--score-rows", type=int, help="rows scored per side (default 1M; 50k with --quick)")
    parser.add_argument(
        "--files", type=int, default=8, help="Parquet files the rows are split into (default 8)"
    )
    parser.add_argument(
        "--monitor-rows", type=int, help="rows logged and monitored (default 4M; 51,200 with --quick)"
    )
    parser.add_argument("--threads", type=int, default=1, help="native threads per process (default 1)")
    parser.add_argument(
        "--with-anchors",
        action="store_true",
        help="also score the same rows with MLflow's spark_udf on a local Spark (own venv; Java needed)",
    )
    parser.add_argument("--skip", nargs="*", default=[], choices=["search", "scoring", "monitoring"])
    parser.add_argument(
        "--size-from", choices=SIDES, default="ray", help="the side sizing uses (default ray)"
    )
    parser.add_argument("--daily-rows", type=float, default=1e9, help="predictions a day (default 1e9)")
    parser.add_argument("--retrain-trials", type=int, default=100, help="nightly search trials (default 100)")
    parser.add_argument(
        "--retrain-hours", type=float, default=1.0, help="the retrain's time budget (default 1 h)"
    )
    parser.add_argument(
        "--headroom", type=float, default=2.0, help="cores provisioned ÷ average need (default 2)"
    )
    parser.add_argument("--output", type=Path, help="where to write the JSON (default benchmarks/results/)")
    args = parser.parse_args(argv)
    args.trials = args.trials or (6 if args.quick else 40)
    args.score_rows = args.score_rows or (50_000 if args.quick else 1_000_000)
    args.monitor_rows = args.monitor_rows or (51_200 if args.quick else 4_000_000)
    if args.score_rows % args.files:
        parser.error(f"--score-rows must be a multiple of --files ({args.files})")
    if args.monitor_rows % LOG_BATCH:
        parser.error(f"--monitor-rows must be a multiple of {LOG_BATCH}")
    return args


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    cpus = os.cpu_count() or 1
    base = workdir / "project"
    console.print("[bold]the quickstart project[/bold] (no feature service): ingest, train, promote")
    names = make_project(base)
    result: dict[str, Any] = {
        "benchmark": "scale",
        "quick": args.quick,
        "machine": machine(),
        "settings": {
            "cores": {"local": cpus, "ray": cpus, **({ANCHOR: SPARK_CORES} if args.with_anchors else {})},
            "local": f"LocalExecutor, {cpus} spawned worker processes; scoring streams in the CLI's process",
            "ray": f"Ray started by the CLI on this machine, num_cpus={cpus}, token auth on, usage stats off",
            **({ANCHOR: SPARK_SETTINGS} if args.with_anchors else {}),
            "native_threads": args.threads,
            "trials": args.trials,
            "search_space": SEARCH_SPACE,
            "folds": 3,
            "score_rows": args.score_rows,
            "files": args.files,
            "monitor_rows": args.monitor_rows,
            "inputs": names,
        },
    }
    if "search" not in args.skip:
        console.print(f"[bold]search[/bold]: {args.trials} trials per side")
        result["search"] = {
            side: bench_search(base, workdir, side, args.trials, args.threads) for side in SIDES
        }
    if "scoring" not in args.skip:
        result["scoring"] = scoring(args, base, workdir)
    if "monitoring" not in args.skip:
        console.print(f"[bold]monitoring[/bold]: {args.monitor_rows:,} logged rows")
        result["monitoring"] = {"log_write": fill_log(base, args.monitor_rows, names)}
        result["monitoring"].update({side: bench_monitor(base, side, args.threads) for side in SIDES})
    if not args.skip:
        result["sizing"] = sizing(result, args)
    return result


def scoring(args: argparse.Namespace, base: Path, workdir: Path) -> dict[str, Any]:
    """Batch scoring on each side, one after the other on the same input; with ``--with-anchors`` then the
    same rows through ``spark_udf``, checked against the local side's output."""
    console.print(f"[bold]batch scoring[/bold]: {args.score_rows:,} rows in {args.files} files")
    source, rows, keep = input_folder(args.score_rows, args.files), args.score_rows, args.with_anchors
    by_side = {
        side: bench_scoring(base, workdir, side, source, rows, args.threads, keep=keep and side == "local")
        for side in SIDES
    }
    if args.with_anchors:
        by_side[ANCHOR] = bench_spark(base, workdir, source, rows, args.threads)
    return {side: {str(rows): found} for side, found in by_side.items()}


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    workdir = Path(tempfile.mkdtemp(prefix="mlfactory-scale-bench-"))
    try:
        result = run(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    path = write_json("scale", result, args.output)
    print_tables(result)
    console.print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
