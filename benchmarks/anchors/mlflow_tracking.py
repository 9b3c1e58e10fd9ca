"""The MLflow side of benchmarks/tracking.py: run inside MLflow's own virtual environment, never ours.

A worker: it reads one JSON request per line on stdin and answers each with one repetition, printed on a
line of its own as ``RESULT {json}``. A request is
``{"sizes": {...}, "steps": 100, "url": "sqlite:///...db" or "postgresql+psycopg://...", "durability":
"equal" | "default", "root": "/tmp/..."}``; the answer is ``{"version": ..., "timings": {operation: seconds},
"settings": {...}}``. One long-lived worker lets the driver interleave MLflow's repetitions with
mlfactory's without paying MLflow's import for each. The store at ``url`` is empty (the driver makes and
drops it); opening it and its migrations are not timed.

``durability`` "equal" gives MLflow's SQLite connections the settings mlfactory's have (WAL journal,
``synchronous=NORMAL``); "default" leaves MLflow's own (a rollback journal, ``synchronous=FULL``).
"""

from __future__ import annotations

import json
import logging
import random
import statistics
import sys
import time
from pathlib import Path

import mlflow
import sqlalchemy
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

BATCH_LIMIT = 1000  # MLflow refuses more than 1,000 metrics in one log_batch call
FILTER = "metrics.accuracy > 0.5 and params.C = '1'"
DURABILITY = {"durability": "default"}  # what every new SQLite connection gets; set per request


@sqlalchemy.event.listens_for(sqlalchemy.engine.Engine, "connect")
def _pragmas(dbapi_conn, _record) -> None:
    if DURABILITY["durability"] != "equal" or "sqlite" not in type(dbapi_conn).__module__:
        return
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def timed_reads(fn, calls: int) -> float:
    """The median seconds of ``calls`` calls of ``fn`` in a row (as the driver times mlfactory's reads)."""
    return statistics.median(timed(fn)[0] for _ in range(calls))


def settings_of(client: MlflowClient) -> dict:
    """What the tracking database's connections actually run with (read back, not assumed)."""
    engine = client._tracking_client.store.engine
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            sync = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[
                conn.exec_driver_sql("PRAGMA synchronous").scalar()
            ]
            return {"dialect": "sqlite", "journal_mode": journal, "synchronous": sync}
        commit = conn.exec_driver_sql("SHOW synchronous_commit").scalar()
        return {"dialect": "postgresql", "driver": engine.dialect.driver, "synchronous_commit": commit}


def create_runs(client: MlflowClient, exp: str, sizes: dict, steps: int) -> None:
    rng = random.Random(0)
    for i in range(sizes["runs"]):
        run = client.create_run(exp, run_name=f"run-{i}")
        ts = int(time.time() * 1000)
        metrics = [
            Metric(key, rng.uniform(*bounds), ts, step)
            for step in range(steps)
            for key, bounds in (("accuracy", (0.3, 1.0)), ("f1", (0.3, 1.0)), ("loss", (0.0, 1.0)))
        ]
        params = [Param("C", str([0.1, 1, 10][i % 3])), Param("max_iter", "100"), Param("penalty", "l2")]
        client.log_batch(run.info.run_id, metrics=metrics[:BATCH_LIMIT], params=params)
        for start in range(BATCH_LIMIT, len(metrics), BATCH_LIMIT):
            client.log_batch(run.info.run_id, metrics=metrics[start : start + BATCH_LIMIT])
        client.set_terminated(run.info.run_id)


def one_repetition(sizes: dict, steps: int, url: str, root: Path) -> dict:
    mlflow.set_tracking_uri(url)
    mlflow.set_registry_uri(url)
    client = MlflowClient(url, url)
    exp = client.create_experiment("bench", artifact_location=(root / "artifacts").as_uri())
    client.search_experiments()  # database created and migrated before anything is timed
    out: dict = {"_settings": settings_of(client)}

    out["create_runs"], _ = timed(lambda: create_runs(client, exp, sizes, steps))

    def listing() -> list:
        return client.search_runs([exp], max_results=50_000)

    def searching() -> list:
        return client.search_runs([exp], FILTER, max_results=50_000)

    out["list_runs"] = timed_reads(listing, sizes["reads"])
    out["filter_runs"] = timed_reads(searching, sizes["reads"])
    out["_listed"], out["_matched"] = len(listing()), len(searching())

    with mlflow.start_run(experiment_id=exp) as run:

        def single() -> None:
            for i in range(sizes["single"]):
                mlflow.log_metric("loss", 1.0 / (i + 1), step=i)

        out["log_metric_single"], _ = timed(single)
        run_id = run.info.run_id

    batch_run = client.create_run(exp, run_name="batch").info.run_id

    def batch() -> None:
        ts = int(time.time() * 1000)
        metrics = [Metric(f"m{i % 100}", float(i), ts, i // 100) for i in range(sizes["batch"])]
        for start in range(0, len(metrics), BATCH_LIMIT):
            client.log_batch(batch_run, metrics=metrics[start : start + BATCH_LIMIT])

    out["log_metrics_batch"], _ = timed(batch)

    source = root / "model"
    source.mkdir()
    (source / "MLmodel").write_text("flavors: {}\n")

    def register() -> None:
        client.create_registered_model("bench-model")
        for _ in range(sizes["versions"]):
            client.create_model_version("bench-model", source=str(source), run_id=run_id)

    def move_alias() -> None:
        for i in range(sizes["versions"]):
            client.set_registered_model_alias("bench-model", "production", str(i % sizes["versions"] + 1))

    out["register_versions"], _ = timed(register)
    out["move_alias"], _ = timed(move_alias)
    client._tracking_client.store.engine.dispose()  # the driver drops the database next
    return out


def main() -> None:
    logging.disable(logging.WARNING)
    for line in sys.stdin:
        request = json.loads(line)
        DURABILITY["durability"] = request["durability"]
        timings = one_repetition(request["sizes"], request["steps"], request["url"], Path(request["root"]))
        print("RESULT " + json.dumps({"version": mlflow.__version__, "timings": timings}), flush=True)


if __name__ == "__main__":
    main()
