"""Tracking and registry speed: mlfactory on SQLite and PostgreSQL, optionally side by side with MLflow.

    .venv/bin/python benchmarks/tracking.py                  # mlfactory on SQLite (+ PostgreSQL if reachable)
    .venv/bin/python benchmarks/tracking.py --with-anchors   # + MLflow on the same backends, own cached venv
    .venv/bin/python benchmarks/tracking.py --quick          # small sizes, one repetition (smoke test)
    .venv/bin/python benchmarks/tracking.py --with-anchors --steps 1,10,100 --backend sqlite --repeats 3

Every repetition starts from an empty store (a new SQLite file, or a new PostgreSQL database that is dropped
afterwards); opening the store and its migrations are not timed. ``--steps N`` is how many steps of each
run's three metrics ``create_runs`` logs (the history that listing and filtering must not read). The reads
(listing and filtering, a few milliseconds each) are timed as the median of 5 calls in a row per repetition on
both sides, so one descheduling does not decide a repetition. With
anchors, the two tools take turns: each round runs one repetition of each, the tool going first alternating
from round to round, so a machine that slows down mid-run slows both alike. ``--sqlite-durability equal``
(the default) gives MLflow's SQLite connections mlfactory's settings (WAL, ``synchronous=NORMAL``);
``default`` leaves each tool its own. The settings each side actually ran with are read back from its
connections into the JSON. Reported figures are medians over the repetitions, and ratios are MLflow's time
divided by mlfactory's (higher is better for mlfactory).
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import (
    MLFLOW_PACKAGES,
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
TARGET = 10.0  # the aim: every operation at least 10x faster than MLflow
BACKENDS = ("sqlite", "postgresql")
METRIC_KEYS = (("accuracy", (0.3, 1.0)), ("f1", (0.3, 1.0)), ("loss", (0.0, 1.0)))

# "reads": calls of each read (list, filter) per repetition, their median kept: a single call of a few
# milliseconds is at the mercy of the scheduler on a loaded machine; the same on both sides
FULL = {"batch": 10_000, "single": 1_000, "runs": 500, "versions": 20, "repeats": 3, "reads": 5}
QUICK = {"batch": 500, "single": 50, "runs": 30, "versions": 5, "repeats": 1, "reads": 1}

# (key, label); the same keys are used by anchors/mlflow_tracking.py
OPERATIONS = [
    ("log_metrics_batch", "log {batch:,} metrics, batched"),
    ("log_metric_single", "log {single:,} metrics, one call each"),
    ("create_runs", "create {runs} runs (3 params, 3 metrics x {steps} steps)"),
    ("list_runs", "list {runs} runs"),
    ("filter_runs", "search {runs} runs with a filter"),
    ("register_versions", "register {versions} model versions"),
    ("move_alias", "move an alias {versions} times"),
]


# -- mlfactory ------------------------------------------------------------------------------------------


def create_runs(store: MetadataStore, sizes: dict[str, int], steps: int) -> None:
    """``runs`` runs, each with 3 params and 3 metrics at ``steps`` steps logged in one call (the values
    drawn in the order the MLflow side draws them, so both filters keep the same runs)."""
    rng = random.Random(0)
    for i in range(sizes["runs"]):
        params = {"C": [0.1, 1, 10][i % 3], "max_iter": 100, "penalty": "l2"}
        with start_run(store, f"run-{i}", params=params) as run:
            ts = time.time()
            run.log_metrics(
                [Metric(k, rng.uniform(*b), step, ts) for step in range(steps) for k, b in METRIC_KEYS]
            )


def timed_reads(fn: Callable[[], Any], calls: int) -> float:
    """The median seconds of ``calls`` calls of ``fn`` in a row."""
    return median([timed(fn) for _ in range(calls)])


def registry_operations(
    store: MetadataStore, artifacts_root: Path, run_id: str, sizes: dict[str, int]
) -> dict[str, float]:
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

    return {"register_versions": timed(register), "move_alias": timed(move_alias)}


def mlfactory_repetition(
    store: MetadataStore, artifacts_root: Path, sizes: dict[str, int], steps: int
) -> dict[str, Any]:
    """One pass over every operation on an empty store; returns seconds per operation."""
    out: dict[str, Any] = {"create_runs": timed(lambda: create_runs(store, sizes, steps))}
    out["list_runs"] = timed_reads(store.list_runs, sizes["reads"])
    out["filter_runs"] = timed_reads(lambda: search_runs(store, FILTER), sizes["reads"])
    out["_listed"], out["_matched"] = len(store.list_runs()), len(search_runs(store, FILTER))

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
    return out | registry_operations(store, artifacts_root, run_id, sizes)


def mlfactory_settings(store: MetadataStore) -> dict[str, Any]:
    """What mlfactory's connections actually run with (read back, not assumed)."""
    engine = store.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            sync = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[
                conn.exec_driver_sql("PRAGMA synchronous").scalar()
            ]
            return {"dialect": "sqlite", "journal_mode": journal, "synchronous": sync}
        commit = conn.exec_driver_sql("SHOW synchronous_commit").scalar()
        return {"dialect": "postgresql", "driver": engine.dialect.driver, "synchronous_commit": commit}


# -- the floor on PostgreSQL ----------------------------------------------------------------------------
# What a registration and an alias move write, each op one transaction and one commit, sent by bare psycopg
# to mlfactory's own tables: the least any client takes per op at the server's durability (a commit waits
# for its WAL flush), so MLflow's time divided by it is the most any tool can be faster than MLflow there.

FLOOR_REGISTER = (
    "INSERT INTO model_versions (name, version, status, run_id, artifact, flavor, signature, metrics, gates, "
    "profile, lineage, card, created_at) SELECT %(name)s::varchar, coalesce(max(version), 0) + 1, 'ready', "
    "NULL, %(artifact)s, 'sklearn', %(signature)s::json, %(metrics)s::json, '[]', '{}', '{}', %(card)s, "
    "now() FROM model_versions WHERE name = %(name)s RETURNING version"
)
FLOOR_EVENT = (
    "INSERT INTO events (time, kind, actor, model, payload, reason) "
    "VALUES (now(), %(kind)s, %(actor)s, %(name)s, %(payload)s::json, %(reason)s) RETURNING id"
)
FLOOR_READ_ALIAS = (
    "SELECT (SELECT version FROM aliases WHERE name = %(name)s AND alias = 'production'), archived_at, "
    "status, gates FROM model_versions WHERE name = %(name)s AND version = %(version)s"
)
FLOOR_NEW_ALIAS = "INSERT INTO aliases VALUES (%(name)s, 'production', %(version)s, now())"
FLOOR_SET_ALIAS = (
    "UPDATE aliases SET version = %(version)s, updated_at = now() "
    "WHERE name = %(name)s AND alias = 'production' AND version = %(read)s"
)


def postgres_floor(url: str, sizes: dict[str, int]) -> dict[str, float]:
    """Seconds for ``versions`` registrations and as many alias moves, written by bare psycopg."""
    import psycopg
    import sqlalchemy as sa

    conninfo = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    name = "floor-model"
    with psycopg.connect(conninfo) as conn:

        def register() -> None:
            for _ in range(sizes["versions"]):
                values = {"name": name, "artifact": "a" * 64, "signature": '{"columns": []}', "card": "#"}
                (version,) = conn.execute(
                    FLOOR_REGISTER, values | {"metrics": '{"accuracy": 0.9}'}
                ).fetchone()
                payload = f'{{"version": {version}, "status": "ready", "run": null}}'
                event = {"name": name, "kind": "model.registered", "actor": "train", "reason": "passed"}
                conn.execute(FLOOR_EVENT, event | {"payload": payload}).fetchone()
                conn.commit()

        def move_alias() -> None:
            for i in range(sizes["versions"]):
                version = i % sizes["versions"] + 1
                (read, *_) = conn.execute(FLOOR_READ_ALIAS, {"name": name, "version": version}).fetchone()
                write = FLOOR_NEW_ALIAS if read is None else FLOOR_SET_ALIAS
                conn.execute(write, {"name": name, "version": version, "read": read})
                payload = f'{{"alias": "production", "from": {read or "null"}, "to": {version}}}'
                event = {"name": name, "kind": "alias.set", "actor": "bench", "reason": "benchmark"}
                conn.execute(FLOOR_EVENT, event | {"payload": payload}).fetchone()
                conn.commit()

        return {"floor_register_versions": timed(register), "floor_move_alias": timed(move_alias)}


# -- empty stores ---------------------------------------------------------------------------------------


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
def empty_database(backend: str, tmp: Path, pg_url: str) -> Iterator[str]:
    """The URL of an empty database: a new SQLite file in ``tmp``, or a new PostgreSQL database on the
    server of ``pg_url``, dropped afterwards (nothing else on the server is touched)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'metadata.db'}"
        return
    import sqlalchemy as sa

    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()


def mlfactory_round(backend: str, sizes: dict[str, int], steps: int, pg_url: str) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="mlfactory-bench-") as tmp_name,
        empty_database(backend, Path(tmp_name), pg_url) as url,
    ):
        store = open_metadata_store(url)
        try:
            out = {
                **mlfactory_repetition(store, Path(tmp_name) / "artifacts", sizes, steps),
                "_settings": mlfactory_settings(store),
            }
        finally:
            store.close()
        return out | (postgres_floor(url, sizes) if backend == "postgresql" else {})


# -- MLflow ---------------------------------------------------------------------------------------------


class MlflowWorker:
    """anchors/mlflow_tracking.py running in MLflow's own environment, one repetition per request."""

    def __init__(self) -> None:
        python = anchor_env("mlflow", MLFLOW_PACKAGES)
        script = ROOT / "benchmarks" / "anchors" / "mlflow_tracking.py"
        self.proc = subprocess.Popen(
            [str(python), str(script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=anchor_environ(python),
            cwd=tempfile.gettempdir(),
        )

    def repetition(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith("RESULT "):
                return dict(json.loads(line.removeprefix("RESULT ")))
        raise RuntimeError(f"the MLflow anchor exited (code {self.proc.wait()}) before answering")

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def mlflow_round(
    worker: MlflowWorker, backend: str, sizes: dict[str, int], steps: int, pg_url: str, durability: str
) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="mlflow-bench-") as tmp_name,
        empty_database(backend, Path(tmp_name), pg_url) as url,
    ):
        request = {"sizes": sizes, "steps": steps, "url": url, "durability": durability, "root": tmp_name}
        answer = worker.repetition(request)
    return {**answer["timings"], "_version": answer["version"]}


# -- rounds ---------------------------------------------------------------------------------------------


def run_rounds(
    args: argparse.Namespace, sizes: dict[str, int], backends: list[str], steps_list: list[int]
) -> dict[tuple[int, str, str], list[dict[str, Any]]]:
    """Every repetition, keyed by (steps, backend, tool); with anchors, the tools alternate who goes first."""
    worker = MlflowWorker() if args.with_anchors else None
    out: dict[tuple[int, str, str], list[dict[str, Any]]] = {}
    try:
        for rnd in range(sizes["repeats"]):
            for steps in steps_list:
                for backend in backends:
                    tools = ["mlfactory", "mlflow"] if worker else ["mlfactory"]
                    for tool in tools if rnd % 2 == 0 else tools[::-1]:
                        result = (
                            mlfactory_round(backend, sizes, steps, args.postgres_url)
                            if tool == "mlfactory"
                            else mlflow_round(
                                worker, backend, sizes, steps, args.postgres_url, args.sqlite_durability
                            )  # type: ignore[arg-type]
                        )
                        out.setdefault((steps, backend, tool), []).append(result)
                console.print(f"[dim]  round {rnd + 1}/{sizes['repeats']}, {steps} steps per run: done[/dim]")
    finally:
        if worker is not None:
            worker.close()
    return out


# -- report ---------------------------------------------------------------------------------------------


def summarize(reps: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and every value per operation; the counts and settings of the first repetition."""
    out: dict[str, Any] = {}
    for op in reps[0]:
        if op.startswith("_"):
            out[op.lstrip("_")] = reps[0][op]
        else:
            values = [r[op] for r in reps]
            out[op] = {"median_s": median(values), "all_s": values}
    return out


def steps_section(
    reps: dict[tuple[int, str, str], list[dict[str, Any]]], steps: int, backends: dict[str, str | None]
) -> dict[str, Any]:
    """One steps setting's results: mlfactory per backend, MLflow per backend, and MLflow ÷ mlfactory."""
    section: dict[str, Any] = {"mlfactory": {}, "anchors": {}, "ratios": {}}
    for backend, skipped in backends.items():
        if skipped is not None:
            section["mlfactory"][backend] = {"skipped": skipped}
            continue
        ours = section["mlfactory"][backend] = summarize(reps[(steps, backend, "mlfactory")])
        if (steps, backend, "mlflow") not in reps:
            continue
        theirs = summarize(reps[(steps, backend, "mlflow")])
        section["anchors"][f"mlflow_{backend}"] = {
            "version": theirs.pop("version"),
            "settings": theirs.pop("settings"),
            "operations": theirs,
        }
        section["ratios"][backend] = {
            key: theirs[key]["median_s"] / ours[key]["median_s"] for key, _ in OPERATIONS
        }
    return section


def print_table(section: dict[str, Any], sizes: dict[str, int], steps: int) -> None:
    table = Table(title=f"{steps} steps per run: median seconds per operation (lower is better)")
    table.add_column("operation")
    columns: list[tuple[str, str]] = []
    for backend, data in section["mlfactory"].items():
        if "skipped" in data:
            console.print(f"[yellow]{backend} skipped: {data['skipped']}[/yellow]")
            continue
        table.add_column(f"mlfactory {backend}", justify="right")
        columns.append(("mlfactory", backend))
        if backend in section["ratios"]:
            version = section["anchors"][f"mlflow_{backend}"]["version"]
            table.add_column(f"MLflow {version} {backend}", justify="right")
            table.add_column(f"MLflow ÷ mlfactory (aim ≥ {TARGET:.0f}x)", justify="right")
            columns += [("mlflow", backend), ("ratio", backend)]
    for key, label in OPERATIONS:
        row = [label.format(**sizes, steps=steps)]
        for what, backend in columns:
            if what == "mlfactory":
                row.append(fmt_seconds(section["mlfactory"][backend][key]["median_s"]))
            elif what == "mlflow":
                row.append(
                    fmt_seconds(section["anchors"][f"mlflow_{backend}"]["operations"][key]["median_s"])
                )
            else:
                row.append(fmt_ratio(section["ratios"][backend][key], TARGET))
        table.add_row(*row)
    console.print(table)
    print_floor(section)
    for what, backend in columns:
        data = (
            section["mlfactory"][backend]
            if what == "mlfactory"
            else section["anchors"].get(f"mlflow_{backend}", {}).get("operations")
        )
        if what != "ratio" and data:
            console.print(
                f"[dim]{what} {backend}: filter kept {data['matched']} of {data['listed']} runs[/dim]"
            )


def print_floor(section: dict[str, Any]) -> None:
    """PostgreSQL's floor per registration and alias move, and MLflow's time divided by it: the most any
    client can be faster than MLflow there at the server's durability."""
    ours = section["mlfactory"].get("postgresql", {})
    theirs = section["anchors"].get("mlflow_postgresql", {}).get("operations")
    if "floor_register_versions" not in ours or not theirs:
        return
    for key in ("register_versions", "move_alias"):
        floor = ours[f"floor_{key}"]["median_s"]
        console.print(
            f"[dim]postgresql {key}: bare psycopg floor {fmt_seconds(floor)} (mlfactory "
            f"{fmt_seconds(ours[key]['median_s'])}, MLflow {fmt_seconds(theirs[key]['median_s'])}); "
            f"MLflow ÷ floor = {theirs[key]['median_s'] / floor:.1f}x, the most any client can reach[/dim]"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes and one repetition (a smoke run)")
    parser.add_argument("--with-anchors", action="store_true", help="also run MLflow (own venv), interleaved")
    parser.add_argument("--repeats", type=int, help="rounds (default 3, 1 with --quick)")
    parser.add_argument(
        "--steps", default="1", help="steps per run's metric, comma-separated (e.g. 1,10,100)"
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--sqlite-durability",
        choices=["equal", "default"],
        default="equal",
        help="equal: MLflow's SQLite gets mlfactory's WAL + synchronous=NORMAL; default: each its own",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("MLFACTORY_BENCH_POSTGRES_URL", DEFAULT_PG),
        help="PostgreSQL server to measure on (a temporary database is made and dropped); %(default)s",
    )
    parser.add_argument("--no-postgres", action="store_true", help="measure SQLite only (--backend sqlite)")
    parser.add_argument("--output", type=Path, help="where to write the JSON (default benchmarks/results/)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = dict(QUICK if args.quick else FULL)
    if args.repeats:
        sizes["repeats"] = args.repeats
    steps_list = [int(s) for s in args.steps.split(",")]
    skipped: dict[str, str | None] = {"sqlite": None}
    if args.backend != "sqlite" and not args.no_postgres:
        skipped["postgresql"] = postgres_unavailable(args.postgres_url)
    elif args.backend == "both":
        skipped["postgresql"] = "--no-postgres"
    if args.backend == "postgres":
        skipped.pop("sqlite")
    measured = [b for b, why in skipped.items() if why is None]
    reps = run_rounds(args, sizes, measured, steps_list)

    by_steps = {str(s): steps_section(reps, s, skipped) for s in steps_list}
    largest = by_steps[str(max(steps_list))]
    result: dict[str, Any] = {
        "benchmark": "tracking",
        "quick": args.quick,
        "sizes": sizes,
        "machine": machine(),
        "filter": FILTER,
        "settings": {
            "steps_per_run": steps_list,
            "backends": measured,
            "sqlite_durability": args.sqlite_durability,
            "interleaved": bool(args.with_anchors),
            "mlfactory": {b: largest["mlfactory"][b].get("settings") for b in measured},
            "mlflow": {b: largest["anchors"].get(f"mlflow_{b}", {}).get("settings") for b in measured},
        },
        "operations": {key: label.format(**sizes, steps=max(steps_list)) for key, label in OPERATIONS},
        "steps": by_steps,
        # the largest steps setting, as earlier versions of this file wrote it
        "mlfactory": largest["mlfactory"],
        "anchors": largest["anchors"],
        "ratios": largest["ratios"].get("sqlite", {}),
    }
    for s in steps_list:
        print_table(by_steps[str(s)], sizes, s)
    path = write_json("tracking", result, args.output)
    console.print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
