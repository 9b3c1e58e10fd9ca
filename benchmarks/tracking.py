"""Tracking and registry speed: mlfactory on SQLite and PostgreSQL, optionally side by side with MLflow.

    .venv/bin/python benchmarks/tracking.py                  # mlfactory on SQLite (+ PostgreSQL if reachable)
    .venv/bin/python benchmarks/tracking.py --with-anchors   # + MLflow on SQLite in its own cached venv
    .venv/bin/python benchmarks/tracking.py --quick          # small sizes, one repetition (smoke test)

Every repetition starts from an empty store (a new SQLite file, or a new PostgreSQL schema that is dropped
afterwards); opening the store and its migrations are not timed. Reported figures are medians over the
repetitions, and ratios are MLflow's time divided by mlfactory's (higher is better for mlfactory).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import (
    ROOT,
    anchor_env,
    anchor_environ,
    console,
    fmt_ratio,
    fmt_seconds,
    machine,
    median,
    timed,
    write_json,
)
from rich.table import Table

from mlfactory.entities import Metric, VersionStatus
from mlfactory.registry import Registry
from mlfactory.stores import LocalArtifactStore, MetadataStore, open_metadata_store
from mlfactory.tracking import search_runs, start_run

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
FILTER = "metrics.accuracy > 0.5 and params.C = 1"
TARGET = 5.0  # the aim: every operation at least 5x faster than MLflow
MLFLOW_PACKAGES = ["mlflow"]

FULL = {"batch": 10_000, "single": 1_000, "runs": 500, "versions": 20, "repeats": 3}
QUICK = {"batch": 500, "single": 50, "runs": 30, "versions": 5, "repeats": 1}

# (key, label); the same keys are used by anchors/mlflow_tracking.py
OPERATIONS = [
    ("log_metrics_batch", "log {batch:,} metrics, batched"),
    ("log_metric_single", "log {single:,} metrics, one call each"),
    ("create_runs", "create {runs} runs (3 params, 3 metrics)"),
    ("list_runs", "list {runs} runs"),
    ("filter_runs", "search {runs} runs with a filter"),
    ("register_versions", "register {versions} model versions"),
    ("move_alias", "move an alias {versions} times"),
]


# -- mlfactory ------------------------------------------------------------------------------------------


def mlfactory_repetition(store: MetadataStore, artifacts_root: Path, sizes: dict[str, int]) -> dict[str, Any]:
    """One pass over every operation on an empty store; returns seconds per operation."""
    rng = random.Random(0)
    out: dict[str, Any] = {}

    def create_runs() -> None:
        for i in range(sizes["runs"]):
            params = {"C": [0.1, 1, 10][i % 3], "max_iter": 100, "penalty": "l2"}
            with start_run(store, f"run-{i}", params=params) as run:
                scores = {"accuracy": rng.uniform(0.3, 1.0), "f1": rng.uniform(0.3, 1.0)}
                run.log_metrics({**scores, "loss": rng.uniform(0.0, 1.0)})

    out["create_runs"] = timed(create_runs)
    listed: list[Any] = []
    matched: list[Any] = []
    out["list_runs"] = timed(lambda: listed.extend(store.list_runs()))
    out["filter_runs"] = timed(lambda: matched.extend(search_runs(store, FILTER)))
    out["_listed"], out["_matched"] = len(listed), len(matched)

    with start_run(store, "single") as run:

        def single() -> None:
            for i in range(sizes["single"]):
                run.log_metric("loss", 1.0 / (i + 1), step=i)

        out["log_metric_single"] = timed(single)
        run_id = run.id

    with start_run(store, "batch") as run:

        def batch() -> None:
            ts = time.time()
            run.log_metrics([Metric(f"m{i % 100}", float(i), i // 100, ts) for i in range(sizes["batch"])])

        out["log_metrics_batch"] = timed(batch)

    artifacts = LocalArtifactStore(artifacts_root)
    digest = artifacts.put_bytes(b"a model's bytes")
    registry = Registry(store, artifacts)

    def register() -> None:
        for _ in range(sizes["versions"]):
            store.create_model_version(
                "bench-model",
                status=VersionStatus.READY,
                run_id=run_id,
                artifact=digest,
                flavor="sklearn",
                signature={"columns": []},
                metrics={"accuracy": 0.9},
                gates=[],
                profile={},
                lineage={},
                card="# bench-model v{version}\n",
            )

    def move_alias() -> None:
        for i in range(sizes["versions"]):
            registry.promote("bench-model", i % sizes["versions"] + 1, actor="bench", reason="benchmark")

    out["register_versions"] = timed(register)
    out["move_alias"] = timed(move_alias)
    return out


@contextmanager
def sqlite_store(tmp: Path) -> Iterator[MetadataStore]:
    store = open_metadata_store(f"sqlite:///{tmp / 'metadata.db'}")
    try:
        yield store
    finally:
        store.close()


def _with_search_path(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


def postgres_unavailable(url: str) -> str | None:
    """None when PostgreSQL answers at ``url``, else the reason it does not."""
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as c:
            c.exec_driver_sql("SELECT 1")
        engine.dispose()
    except Exception as exc:  # any failure means "skip PostgreSQL", with the reason shown
        return str(exc).strip().splitlines()[0]
    return None


@contextmanager
def postgres_store(url: str) -> Iterator[MetadataStore]:
    """A store in a fresh schema of its own, dropped afterwards: nothing else in the database is touched."""
    import sqlalchemy as sa

    schema = f"mlfactory_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url)
    with admin.begin() as c:
        c.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    store = None
    try:
        store = open_metadata_store(_with_search_path(url, schema))
        yield store
    finally:
        if store is not None:
            store.close()
        with admin.begin() as c:
            c.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def run_mlfactory(backend: str, sizes: dict[str, int], pg_url: str) -> dict[str, list[Any]]:
    timings: dict[str, list[Any]] = {}
    for rep in range(sizes["repeats"]):
        with tempfile.TemporaryDirectory(prefix="mlfactory-bench-") as tmp_name:
            tmp = Path(tmp_name)
            opener = sqlite_store(tmp) if backend == "sqlite" else postgres_store(pg_url)
            with opener as store:
                result = mlfactory_repetition(store, tmp / "artifacts", sizes)
        for op, value in result.items():
            timings.setdefault(op, []).append(value)
        console.print(f"[dim]  mlfactory {backend}: repetition {rep + 1}/{sizes['repeats']} done[/dim]")
    return timings


# -- MLflow ---------------------------------------------------------------------------------------------


def run_mlflow(sizes: dict[str, int]) -> dict[str, Any]:
    """Run anchors/mlflow_tracking.py in MLflow's own environment and return its JSON."""
    python = anchor_env("mlflow", MLFLOW_PACKAGES)
    script = ROOT / "benchmarks" / "anchors" / "mlflow_tracking.py"
    console.print("[dim]  MLflow on SQLite: running in its own environment...[/dim]")
    proc = subprocess.run(
        [str(python), str(script), json.dumps(sizes)],
        capture_output=True,
        text=True,
        env=anchor_environ(python),
        cwd=tempfile.gettempdir(),
        timeout=1800,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the MLflow anchor failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- report ---------------------------------------------------------------------------------------------


def summarize(timings: dict[str, list[Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for op, values in timings.items():
        if op.startswith("_"):
            out[op.lstrip("_")] = values[0]
        else:
            out[op] = {"median_s": median(values), "all_s": values}
    return out


def print_table(result: dict[str, Any], sizes: dict[str, int]) -> None:
    backends = result["mlfactory"]
    mlflow = result.get("anchors", {}).get("mlflow_sqlite")
    table = Table(title="Tracking and registry: median seconds per operation (lower is better)")
    table.add_column("operation")
    for name in backends:
        table.add_column(f"mlfactory {name}", justify="right")
    if mlflow:
        table.add_column(f"MLflow {mlflow['version']} sqlite", justify="right")
        table.add_column(f"MLflow ÷ mlfactory sqlite (aim ≥ {TARGET:.0f}x)", justify="right")
    for key, label in OPERATIONS:
        row = [label.format(**sizes)]
        for data in backends.values():
            row.append(fmt_seconds(data[key]["median_s"]) if "skipped" not in data else "skipped")
        if mlflow:
            row.append(fmt_seconds(mlflow["operations"][key]["median_s"]))
            row.append(fmt_ratio(result["ratios"].get(key), TARGET))
        table.add_row(*row)
    console.print(table)
    for name, data in backends.items():
        if "skipped" in data:
            console.print(f"[yellow]{name} skipped: {data['skipped']}[/yellow]")
        else:
            console.print(f"[dim]{name}: filter kept {data['matched']} of {data['listed']} runs[/dim]")
    if mlflow:
        console.print(
            f"[dim]MLflow: filter kept {mlflow['operations']['matched']} of "
            f"{mlflow['operations']['listed']} runs[/dim]"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes and one repetition (a smoke run)")
    parser.add_argument("--with-anchors", action="store_true", help="also run MLflow (SQLite), own venv")
    parser.add_argument("--repeats", type=int, help="repetitions per backend (default 3, 1 with --quick)")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("MLFACTORY_BENCH_POSTGRES_URL", DEFAULT_PG),
        help="PostgreSQL to measure on (a temporary schema is created and dropped); default %(default)s",
    )
    parser.add_argument("--no-postgres", action="store_true", help="measure SQLite only")
    parser.add_argument("--output", type=Path, help="where to write the JSON (default benchmarks/results/)")
    args = parser.parse_args(argv)

    sizes = dict(QUICK if args.quick else FULL)
    if args.repeats:
        sizes["repeats"] = args.repeats

    result: dict[str, Any] = {
        "benchmark": "tracking",
        "quick": args.quick,
        "sizes": sizes,
        "machine": machine(),
        "filter": FILTER,
        "mlfactory": {},
        "anchors": {},
        "ratios": {},
        "operations": {key: label.format(**sizes) for key, label in OPERATIONS},
    }
    result["mlfactory"]["sqlite"] = summarize(run_mlfactory("sqlite", sizes, args.postgres_url))
    reason = "--no-postgres" if args.no_postgres else postgres_unavailable(args.postgres_url)
    if reason is None:
        result["mlfactory"]["postgresql"] = summarize(run_mlfactory("postgresql", sizes, args.postgres_url))
    else:
        result["mlfactory"]["postgresql"] = {"skipped": reason}

    if args.with_anchors:
        anchor = run_mlflow(sizes)
        result["anchors"]["mlflow_sqlite"] = {
            "version": anchor["version"],
            "operations": summarize(anchor["timings"]),
        }
        ours = result["mlfactory"]["sqlite"]
        theirs = result["anchors"]["mlflow_sqlite"]["operations"]
        result["ratios"] = {key: theirs[key]["median_s"] / ours[key]["median_s"] for key, _ in OPERATIONS}

    print_table(result, sizes)
    path = write_json("tracking", result, args.output)
    console.print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
