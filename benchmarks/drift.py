"""Data drift: mlfactory against a per-column scipy loop and (with --with-anchors) Evidently, side by side.

    .venv/bin/python benchmarks/drift.py                   # 100k and 1M rows × 20 numeric + 5 categorical
    .venv/bin/python benchmarks/drift.py --with-anchors    # + Evidently 0.7 DataDriftPreset in its own venv
    .venv/bin/python benchmarks/drift.py --rows 20000 --with-anchors --rounds 3 --threads 1
    .venv/bin/python benchmarks/drift.py --quick           # 20k rows (smoke run)
    .venv/bin/python benchmarks/drift.py --log-rows 1000,1000000   # monitoring over a prediction log only

Seeded reference and current frames share 25 columns; 5 of them drift in the current frame (3 numeric: two
mean shifts of 0.5 standard deviations and a 1.6× spread; 2 categorical: a new value on 20 % of rows and a
swap of frequencies). Both frames are written once to Parquet under ``.bench-cache/drift/``; every tool runs
in its own subprocess that reads them, so peak memory (max RSS) is per tool. Times exclude reading the files.

mlfactory runs twice: ``in memory`` (profile the reference, then check the current frame: the same work as
the others) and ``streaming`` (the stored reference profile against the current file read in 64k-row
chunks: what monitoring does once a model version exists; its memory does not grow with the window).

Against Evidently (``--with-anchors``) the two run interleaved: ``--rounds`` rounds (default 3), the tool
that goes first alternating from round to round, so a load swing on a shared machine hits both sides rather
than one. Each round's JSON, its ratio and the medians are kept. Both processes get the same native-thread
setting (``--threads``, default mlfactory's ``monitoring.native_threads``, 1) through OMP_NUM_THREADS,
OPENBLAS_NUM_THREADS and MKL_NUM_THREADS, and each reports the threads its BLAS/OpenMP libraries actually
run with, the rows of both frames and the columns it checked; the run fails if the two measured different
rows or columns.

``--log-rows`` measures what ``mlfactory monitor run`` does instead: the quickstart's spam model (six
numbers, two categories, two text columns) is trained once, each size gets a copy of its project whose
prediction log the server's writer fills with that many rows (65,536 generated emails, cycled), and a fresh
process imports mlfactory, opens the project and runs ``Project.monitor`` over the log, as the command does.
It reports the process's seconds (start to exit, imports included), the monitor call's, the CPU seconds the
process used (on a busy machine the fairer number) and its peak RSS. Beside it the command itself runs
(``mlfactory monitor run --model spam --window …`` in the project's folder, a fresh process), with its own
seconds, CPU and peak RSS: ``--rounds`` rounds of both (default 3), alternating which goes first; the table
shows medians, the JSON keeps every round. Modules are compiled once, as an installed mlfactory's are, by an
untimed first run (see :func:`bytecode_env`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    ROOT,
    anchor_env,
    anchor_environ,
    console,
    fmt_ratio,
    fmt_seconds,
    machine,
    median,
    write_json,
)

DATA = ROOT / ".bench-cache" / "drift"
EVIDENTLY_PACKAGES = ["evidently==0.7.23", "pandas<3", "pyarrow"]
NUMERIC, CATEGORICAL = 20, 5
DRIFTED = ["num_00", "num_01", "num_02", "cat_00", "cat_01"]
LEVELS = [f"level_{i}" for i in range(8)]


def make_frames(rows: int, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded reference and current frames; the current one drifts in :data:`DRIFTED`."""
    rng = np.random.default_rng(seed)
    p = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.07, 0.05, 0.03])

    def frame(drift: bool) -> pd.DataFrame:
        cols: dict[str, Any] = {}
        for i in range(NUMERIC):
            x = rng.normal(10.0 * i, 1.0 + i % 3, size=rows)
            if drift and i in (0, 1):
                x += 0.5 * (1.0 + i % 3)
            if drift and i == 2:
                x = 10.0 * i + (x - 10.0 * i) * 1.6
            cols[f"num_{i:02d}"] = x
        for j in range(CATEGORICAL):
            probs = p[::-1] if drift and j == 1 else p
            values = np.array(LEVELS, dtype=object)[rng.choice(len(LEVELS), size=rows, p=probs)]
            if drift and j == 0:
                values[rng.random(rows) < 0.2] = "new_level"
            cols[f"cat_{j:02d}"] = values
        return pd.DataFrame(cols)

    return frame(False), frame(True)


def types() -> dict[str, str]:
    return {
        **{f"num_{i:02d}": "number" for i in range(NUMERIC)},
        **{f"cat_{j:02d}": "category" for j in range(CATEGORICAL)},
    }


def ensure_data(rows: int) -> tuple[Path, Path]:
    DATA.mkdir(parents=True, exist_ok=True)
    ref, cur = DATA / f"ref_{rows}_rg64k.parquet", DATA / f"cur_{rows}_rg64k.parquet"
    if not (ref.exists() and cur.exists()):
        a, b = make_frames(rows)
        # row groups of 64k rows, like the prediction log's small segments: a reader holds one at a time
        a.to_parquet(ref, index=False, row_group_size=65_536)
        b.to_parquet(cur, index=False, row_group_size=65_536)
    return ref, cur


# -- workers: each runs in its own process -------------------------------------------------------------------


def _peak_rss_mib() -> float:
    """This process's peak RSS: VmHWM on Linux (``ru_maxrss`` keeps the peak of the process that forked
    it, here the one that wrote a million-row log), ``ru_maxrss`` elsewhere."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure(fn: Any) -> tuple[Any, float, float]:
    """(result, seconds of the first, untraced call, traced peak MiB of a second call).

    tracemalloc slows every allocation, so time and Python-level peak memory come from separate calls."""
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return out, seconds, peak / 2**20


def worker_mlfactory(ref_path: Path, cur_path: Path) -> dict[str, Any]:
    from mlfactory.monitoring import build_reference, drift_against

    ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)

    def run() -> dict[str, Any]:
        reference = build_reference(ref, types())
        chunks = (cur.iloc[i : i + 65_536] for i in range(0, len(cur), 65_536))
        return drift_against(reference, chunks)

    result, seconds, traced = _measure(run)
    return {
        "seconds": seconds,
        "traced_peak_mib": traced,
        "flagged": result["dataset"]["columns"],
        "methods": sorted({c["method"] for c in result["columns"]}),
        "rows": {"reference": len(ref), "current": int(result["rows"])},
        "columns": sorted(c["column"] for c in result["columns"]),
        "native_threads": _native_threads(),
    }


def _native_threads() -> dict[str, int]:
    """Threads each loaded BLAS/OpenMP library runs with (what the thread setting actually did)."""
    from threadpoolctl import threadpool_info

    return {f"{i['internal_api']}:{Path(i['filepath']).name}": i["num_threads"] for i in threadpool_info()}


def worker_profile(ref_path: Path, out: Path) -> dict[str, Any]:
    from mlfactory.monitoring import build_reference

    ref = pd.read_parquet(ref_path)
    reference, seconds, traced = _measure(lambda: build_reference(ref, types()))
    out.write_text(json.dumps(reference))
    return {"seconds": seconds, "traced_peak_mib": traced}


def worker_stream(profile: Path, cur_path: Path) -> dict[str, Any]:
    from mlfactory.monitoring import drift_against
    from mlfactory.monitoring.compare import read_chunks

    reference = json.loads(profile.read_text())
    result, seconds, traced = _measure(lambda: drift_against(reference, read_chunks(cur_path)))
    return {"seconds": seconds, "traced_peak_mib": traced, "flagged": result["dataset"]["columns"]}


def worker_monitor(root: Path, marker: Path) -> dict[str, Any]:
    """``Project.monitor`` over the project's whole log, as ``mlfactory monitor run --window`` runs it."""
    from mlfactory.project import open_project

    written = json.loads(marker.read_text())
    start = time.perf_counter()
    with open_project(root) as project:
        seconds = time.time() - written["time"] + 3600  # a time window holding every logged row
        reports = project.monitor(LOG_MODEL, seconds=seconds)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "monitor_seconds": time.perf_counter() - start,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "rows": sum(r.rows for r in reports),
        "drifted": sorted(c.column for r in reports for c in r.columns if c.drifted),
    }


def worker_scipy(ref_path: Path, cur_path: Path) -> dict[str, Any]:
    from scipy import stats

    ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)

    def run() -> list[str]:
        flagged = []
        for name, kind in types().items():
            if kind == "number":
                p = stats.ks_2samp(ref[name].to_numpy(), cur[name].to_numpy()).pvalue
            else:
                a, b = ref[name].value_counts(), cur[name].value_counts()
                table = pd.concat([a, b], axis=1).fillna(0).to_numpy().T
                p = stats.chi2_contingency(table)[1]
            if p < 0.05:
                flagged.append(name)
        return flagged

    flagged, seconds, traced = _measure(run)
    return {"seconds": seconds, "traced_peak_mib": traced, "flagged": flagged}


WORKERS = {
    "mlfactory": worker_mlfactory,
    "scipy": worker_scipy,
    "stream": worker_stream,
    "profile": worker_profile,
    "monitor": worker_monitor,
}


def _worker_main(mode: str, a: str, b: str) -> None:
    out = WORKERS[mode](Path(a), Path(b))
    out["peak_rss_mib"] = _peak_rss_mib()
    print(json.dumps(out))


def _spawn(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 3600) -> dict[str, Any]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def thread_env(threads: int | None, base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default this process's environment) with the native-thread variables set to ``threads``
    (None: left as they are, the libraries' defaults)."""
    env = dict(os.environ if base is None else base)
    if threads is not None:
        env.update({name: str(threads) for name in THREAD_VARIABLES})
    return env


def run_worker(mode: str, a: Path, b: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    return _spawn([sys.executable, __file__, "--worker", mode, str(a), str(b)], env=env)


def run_evidently(ref: Path, cur: Path, threads: int | None) -> dict[str, Any]:
    python = anchor_env("evidently", EVIDENTLY_PACKAGES)
    script = ROOT / "benchmarks" / "anchors" / "evidently_drift.py"
    env = thread_env(threads, anchor_environ(python))
    return _spawn([str(python), str(script), str(ref), str(cur), json.dumps(types())], env=env)


def _same_work(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Did both tools check the same rows and columns? Raises when not: their times would not compare."""
    check = {
        "rows": a["rows"],
        "columns": len(a["columns"]),
        "same_rows": a["rows"] == b["rows"],
        "same_columns": a["columns"] == b["columns"],
    }
    if not (check["same_rows"] and check["same_columns"]):
        raise RuntimeError(f"mlfactory and Evidently measured different data: {a['rows']} / {b['rows']}")
    return check


def compare_evidently(ref: Path, cur: Path, rounds: int, threads: int | None) -> dict[str, Any]:
    """mlfactory (profile + check) and Evidently, interleaved: ``rounds`` rounds, alternating which goes
    first, each with the same native-thread setting. Every round is kept; times and the ratio as medians."""
    env = thread_env(threads)
    per_round = []
    for r in range(rounds):
        order = ["mlfactory", "evidently"] if r % 2 == 0 else ["evidently", "mlfactory"]
        out: dict[str, Any] = {"round": r + 1, "order": order}
        for tool in order:
            console.print(f"[dim]  round {r + 1}/{rounds}: {tool}…[/dim]")
            out[tool] = (
                run_worker("mlfactory", ref, cur, env)
                if tool == "mlfactory"
                else (run_evidently(ref, cur, threads))
            )
        out["ratio"] = out["evidently"]["seconds"] / out["mlfactory"]["seconds"]
        out["check"] = _same_work(out["mlfactory"], out["evidently"])
        per_round.append(out)
    return {
        "rounds": per_round,
        "settings": {"threads": threads, "thread_variables": list(THREAD_VARIABLES), "rounds": rounds},
        "ratios": [r["ratio"] for r in per_round],
        "median_ratio": median([r["ratio"] for r in per_round]),
        "median_seconds": {
            tool: median([r[tool]["seconds"] for r in per_round]) for tool in ("mlfactory", "evidently")
        },
    }


# -- monitoring over a prediction log (--log-rows) ----------------------------------------------------------

LOG_DATA = DATA / "log"
LOG_MODEL = "spam"
LOG_POOL = 65_536  # distinct generated emails the writer cycles through
LOG_BATCH = 4_096


def quickstart_project() -> Path:
    """The quickstart project with its spam model trained (version 1), made once under the cache."""
    root = LOG_DATA / "quickstart"
    if (root / ".trained").exists():
        return root
    from mlfactory.project import open_project
    from mlfactory.quickstart.scaffold import init_project

    init_project(root, force=True, seed=7)
    with open_project(root, env={}, actor="bench") as project:
        project.ingest("emails")
        project.features.materialize(actor="bench")
        project.train(LOG_MODEL)
    (root / ".trained").write_text("1")
    return root


def _email_batches(names: list[str]) -> list[Any]:
    """The model's inputs for :data:`LOG_POOL` generated emails, in batches of :data:`LOG_BATCH` rows (the
    feature store's per-domain numbers drawn at random)."""
    from datetime import timedelta

    from mlfactory.inputs import Batch
    from mlfactory.quickstart.scaffold import START
    from mlfactory.quickstart.world import SpamWorld

    emails = SpamWorld(3).emails(LOG_POOL, start=START, end=START + timedelta(days=1))
    rng = np.random.default_rng(3)
    columns: dict[str, np.ndarray] = {}
    for name in names:
        if name in emails.columns and pd.api.types.is_numeric_dtype(emails[name]):
            columns[name] = emails[name].to_numpy(dtype=np.float64)
        elif name in emails.columns:
            columns[name] = emails[name].to_numpy(dtype=object)
        else:
            columns[name] = rng.gamma(2.0, 5.0, LOG_POOL)
    whole = Batch(names, columns=columns)
    return [whole.take(np.arange(i, i + LOG_BATCH)) for i in range(0, LOG_POOL, LOG_BATCH)]


def logged_project(rows: int) -> tuple[Path, Path]:
    """A copy of the quickstart project whose prediction log holds ``rows`` rows of its model (made once),
    and the marker noting when they were written."""
    import shutil

    from mlfactory.project import open_project
    from mlfactory.stores.predictions import open_prediction_log

    root, marker = LOG_DATA / f"rows_{rows}", LOG_DATA / f"rows_{rows}.json"
    if marker.exists():
        return root, marker
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(quickstart_project(), root)
    with open_project(root) as project:
        loaded = project.loaded
        names = project.metadata.get_model_version(LOG_MODEL, 1).signature.input_names
    batches = _email_batches(names)
    rng = np.random.default_rng(5)
    spam = rng.random(LOG_BATCH)
    probabilities, predictions = np.column_stack([1 - spam, spam]), (spam > 0.5).astype(np.int64)
    log, done = open_prediction_log(loaded), 0
    while done < rows:
        n = min(LOG_BATCH, rows - done)
        batch = batches[(done // LOG_BATCH) % len(batches)].take(np.arange(n))
        stamp = time.time()
        ids = log.ids.make(n)
        log.append(
            model=LOG_MODEL,
            version=1,
            route="production",
            time=stamp,
            latency_ms=1.0,
            request_ids=ids,
            batch=batch,
            predictions=predictions[:n],
            probabilities=probabilities[:n],
        )
        done += n
        if done % 65_536 < LOG_BATCH:
            log.flush()
    log.close()
    if log.stats()["written_rows"] != rows:
        raise RuntimeError(f"the prediction log holds {log.stats()['written_rows']} rows, not {rows}")
    marker.write_text(json.dumps({"rows": rows, "time": time.time()}))
    return root, marker


def bytecode_env() -> dict[str, str]:
    """This environment with Python's bytecode cached under the bench cache, for the monitoring worker.

    An installed mlfactory has its modules compiled once; an environment that sets PYTHONDONTWRITEBYTECODE
    (as some containers do) makes every fresh process compile mlfactory's own sources again (about a tenth
    of a second on the monitoring path) where the command would read them compiled. The cache is filled
    by :func:`warm_bytecode`."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(ROOT / ".bench-cache" / "pycache")
    return env


def warm_bytecode(rows: int) -> None:
    """One untimed monitoring run, which compiles every module the timed runs import into the cache."""
    root, marker = logged_project(rows)
    run_worker("monitor", root, marker, env=bytecode_env())


COMMAND = "from mlfactory.cli.main import main; main()"


def log_window(marker: Path) -> str:
    """A ``--window`` holding every row logged for ``marker``: from an hour before they were written."""
    written = json.loads(marker.read_text())["time"]
    return f"{int(time.time() - written + 3600)}s"


def run_command(root: Path, marker: Path) -> dict[str, Any]:
    """``mlfactory monitor run`` itself in a fresh process inside the project: its seconds from start to
    exit, and the CPU seconds and peak RSS of that one child (``os.wait4``; ``RUSAGE_CHILDREN`` would mix in
    the earlier, larger children's peak)."""
    cmd = [sys.executable, "-c", COMMAND, "monitor", "run", "--model", LOG_MODEL]
    cmd += ["--window", log_window(marker), "--json"]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=root, env=bytecode_env())
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"mlfactory monitor run failed:\n{err.read()[-3000:]}")
        out.seek(0)
        reports = json.loads(out.read())
    return {
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "rows": sum(r["rows"] for r in reports),
    }


def _medians(rounds: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, float]:
    return {k: median([r[k] for r in rounds]) for k in keys}


def bench_log(rows: int, rounds: int) -> dict[str, Any]:
    """``rounds`` rounds of ``Project.monitor`` in a fresh process and of the command, alternating which
    goes first; medians of each, and every round kept."""
    root, marker = logged_project(rows)
    console.print(f"[dim]{rows:,} logged rows: Project.monitor and the command, {rounds} rounds…[/dim]")
    sdk: list[dict[str, Any]] = []
    cli: list[dict[str, Any]] = []
    for i in range(rounds):
        for side in ("sdk", "cli") if i % 2 == 0 else ("cli", "sdk"):
            if side == "cli":
                cli.append(run_command(root, marker))
                continue
            start = time.perf_counter()
            out = run_worker("monitor", root, marker, env=bytecode_env())
            sdk.append({**out, "process_seconds": time.perf_counter() - start})
    seen = {r["rows"] for r in sdk + cli}
    if seen != {rows}:
        raise RuntimeError(f"monitoring saw {sorted(seen)} rows of {rows}")
    timed = ("process_seconds", "monitor_seconds", "cpu_seconds", "peak_rss_mib")
    command = {**_medians(cli, ("seconds", "cpu_seconds", "peak_rss_mib")), "rounds": cli}
    return {
        "rows": rows,
        "drifted": sdk[0]["drifted"],
        **_medians(sdk, timed),
        "rounds": sdk,
        "command": command,
    }


def print_log_table(results: list[dict[str, Any]]) -> None:
    from rich.table import Table

    t = Table(
        title="monitoring over the prediction log (quickstart spam model, 2 text columns; medians)",
        title_justify="left",
        header_style="bold",
    )
    columns = ("logged rows", "process", "Project.monitor", "CPU", "peak RSS")
    for c in (*columns, "command", "command CPU", "command RSS", "drifted"):
        t.add_column(c)
    for r in results:
        cmd = r["command"]
        t.add_row(
            f"{r['rows']:,}",
            fmt_seconds(r["process_seconds"]),
            fmt_seconds(r["monitor_seconds"]),
            fmt_seconds(r["cpu_seconds"]),
            f"{r['peak_rss_mib']:.0f} MiB",
            fmt_seconds(cmd["seconds"]),
            fmt_seconds(cmd["cpu_seconds"]),
            f"{cmd['peak_rss_mib']:.0f} MiB",
            ", ".join(r["drifted"]) or "none",
        )
    console.print(t)


# -- main ----------------------------------------------------------------------------------------------------


def bench_size(rows: int, with_anchors: bool, rounds: int, threads: int | None) -> dict[str, Any]:
    ref, cur = ensure_data(rows)
    out: dict[str, Any] = {"rows": rows}
    console.print(f"[dim]{rows:,} rows: mlfactory…[/dim]")
    out["mlfactory"] = run_worker("mlfactory", ref, cur)
    profile = DATA / f"profile_{rows}.json"
    out["mlfactory_profile"] = run_worker("profile", ref, profile)
    out["mlfactory_stream"] = run_worker("stream", profile, cur)
    console.print(f"[dim]{rows:,} rows: scipy loop…[/dim]")
    out["scipy"] = run_worker("scipy", ref, cur)
    if with_anchors:
        console.print(f"[dim]{rows:,} rows: mlfactory and Evidently (own venv), interleaved…[/dim]")
        versus = compare_evidently(ref, cur, rounds, threads)
        last = versus["rounds"][-1]
        # the table's Evidently row: median seconds, the last round's other figures
        out["evidently"] = {**last["evidently"], "seconds": versus["median_seconds"]["evidently"]}
        out["versus_evidently"] = versus
        out["speedup_vs_evidently"] = versus["median_ratio"]
        out["same_flags_as_evidently"] = sorted(last["evidently"]["flagged"]) == sorted(
            last["mlfactory"]["flagged"]
        )
    out["speedup_vs_scipy"] = out["scipy"]["seconds"] / out["mlfactory"]["seconds"]
    return out


def print_table(results: list[dict[str, Any]]) -> None:
    from rich.table import Table

    t = Table(
        title="data drift, 20 numeric + 5 categorical columns, 5 drifted",
        title_justify="left",
        header_style="bold",
    )
    for c in ("rows", "tool", "time", "peak RSS", "traced peak", "flagged columns", "vs mlfactory"):
        t.add_column(c)
    for r in results:
        base = r["mlfactory"]["seconds"]
        rows = [
            ("mlfactory (profile + check)", r["mlfactory"]),
            ("mlfactory: profile only", r["mlfactory_profile"]),
            ("mlfactory: streaming check", r["mlfactory_stream"]),
            ("scipy loop (KS / chi²)", r["scipy"]),
        ]
        if "evidently" in r:
            rows.append((f"Evidently {r['evidently'].get('version', '')}", r["evidently"]))
        for name, m in rows:
            flagged = m.get("flagged")
            t.add_row(
                f"{r['rows']:,}",
                name,
                fmt_seconds(m["seconds"]),
                f"{m['peak_rss_mib']:.0f} MiB",
                f"{m['traced_peak_mib']:.0f} MiB" if m.get("traced_peak_mib") is not None else "-",
                "-" if flagged is None else (", ".join(sorted(flagged)) or "none"),
                _vs_mlfactory(name, m, r, base),
            )
    console.print(t)
    console.print(f"drifted by construction: {', '.join(DRIFTED)}")
    for r in results:
        if "versus_evidently" in r:
            print_rounds(r["rows"], r["versus_evidently"])


def _vs_mlfactory(name: str, m: dict[str, Any], r: dict[str, Any], base: float) -> str:
    """A tool's time over mlfactory's; Evidently's is the median of its interleaved rounds' ratios."""
    if name.startswith("mlfactory ("):
        return "1.0x"
    if name.startswith("Evidently") and "speedup_vs_evidently" in r:
        return f"{fmt_ratio(r['speedup_vs_evidently'])} (median of rounds)"
    return fmt_ratio(m["seconds"] / base)


def print_rounds(rows: int, versus: dict[str, Any]) -> None:
    """The interleaved rounds against Evidently: each round's order, times and ratio, then the medians."""
    from rich.table import Table

    settings = versus["settings"]
    t = Table(
        title=f"{rows:,} rows, mlfactory vs Evidently interleaved ({settings['rounds']} rounds, native "
        f"threads {settings['threads']} via {', '.join(settings['thread_variables'])})",
        title_justify="left",
        header_style="bold",
    )
    for c in ("round", "first", "mlfactory", "Evidently", "Evidently / mlfactory", "rows × columns"):
        t.add_column(c)
    for r in versus["rounds"]:
        check = r["check"]
        t.add_row(
            str(r["round"]),
            r["order"][0],
            fmt_seconds(r["mlfactory"]["seconds"]),
            fmt_seconds(r["evidently"]["seconds"]),
            fmt_ratio(r["ratio"]),
            f"{check['rows']['reference']:,} + {check['rows']['current']:,} × {check['columns']}, same",
        )
    medians = versus["median_seconds"]
    t.add_row(
        "median",
        "",
        fmt_seconds(medians["mlfactory"]),
        fmt_seconds(medians["evidently"]),
        fmt_ratio(versus["median_ratio"]),
        "",
    )
    console.print(t)
    last = versus["rounds"][-1]
    console.print(
        f"native threads seen: mlfactory {last['mlfactory']['native_threads']}, "
        f"Evidently {last['evidently']['native_threads']}"
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        _worker_main(*argv[1:4])
        return 0
    from mlfactory.config.monitoring import MonitoringConfig

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--with-anchors", action="store_true", help="also run Evidently in its own cached venv"
    )
    parser.add_argument("--quick", action="store_true", help="20k rows only (smoke run)")
    parser.add_argument("--rows", type=int, nargs="*", help="row counts (default 100000 1000000)")
    parser.add_argument(
        "--output", type=Path, help="where to write the JSON (default benchmarks/results/drift.json)"
    )
    parser.add_argument(
        "--log-rows",
        help="comma-separated logged rows, e.g. 1000,1000000: time monitoring over the prediction log only",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="interleaved rounds against Evidently, or of Project.monitor and the command with --log-rows "
        "(default 3)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=MonitoringConfig().native_threads,
        help="native (BLAS/OpenMP) threads for both tools against Evidently; default mlfactory's "
        "monitoring.native_threads (1); 0 leaves the libraries' defaults",
    )
    args = parser.parse_args(argv)
    if args.log_rows:
        sizes = [int(n) for n in args.log_rows.split(",")]
        warm_bytecode(min(sizes))
        logged = [bench_log(n, max(1, args.rounds)) for n in sizes]
        print_log_table(logged)
        path = write_json(
            "drift_log", {"benchmark": "drift_log", "machine": machine(), "results": logged}, args.output
        )
        console.print(f"results written to {path}")
        return 0
    sizes = args.rows or ([20_000] if args.quick else [100_000, 1_000_000])
    threads = args.threads or None
    results = [bench_size(n, args.with_anchors, max(1, args.rounds), threads) for n in sizes]
    print_table(results)
    path = write_json(
        "drift",
        {
            "benchmark": "drift",
            "quick": args.quick,
            "machine": machine(),
            "columns": {"numeric": NUMERIC, "categorical": CATEGORICAL, "drifted": DRIFTED},
            "results": results,
        },
        args.output,
    )
    console.print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
