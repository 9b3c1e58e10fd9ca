"""The MLflow side of benchmarks/tracking.py: run inside MLflow's own virtual environment, never ours.

Usage: python mlflow_tracking.py '{"batch": 10000, "single": 1000, "runs": 500, "versions": 20, "repeats": 3}'
Prints one JSON object on the last line of stdout: {"version": ..., "timings": {operation: [seconds, ...]}}.
Each repetition uses a fresh SQLite tracking database in a temporary folder; opening it (and its migrations)
is not timed.
"""

from __future__ import annotations

import json
import logging
import random
import sys
import tempfile
import time
from pathlib import Path

import mlflow
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

BATCH_LIMIT = 1000  # MLflow refuses more than 1,000 metrics in one log_batch call
FILTER = "metrics.accuracy > 0.5 and params.C = '1'"


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def one_repetition(sizes: dict, root: Path) -> dict:
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(uri, uri)
    exp = client.create_experiment("bench", artifact_location=(root / "artifacts").as_uri())
    client.search_experiments()  # database created and migrated before anything is timed
    rng = random.Random(0)
    out: dict = {}

    def create_runs() -> None:
        for i in range(sizes["runs"]):
            run = client.create_run(exp, run_name=f"run-{i}")
            ts = int(time.time() * 1000)
            client.log_batch(
                run.info.run_id,
                metrics=[
                    Metric("accuracy", rng.uniform(0.3, 1.0), ts, 0),
                    Metric("f1", rng.uniform(0.3, 1.0), ts, 0),
                    Metric("loss", rng.uniform(0.0, 1.0), ts, 0),
                ],
                params=[
                    Param("C", str([0.1, 1, 10][i % 3])),
                    Param("max_iter", "100"),
                    Param("penalty", "l2"),
                ],
            )
            client.set_terminated(run.info.run_id)

    out["create_runs"], _ = timed(create_runs)
    out["list_runs"], listed = timed(lambda: client.search_runs([exp], max_results=50_000))
    out["filter_runs"], matched = timed(lambda: client.search_runs([exp], FILTER, max_results=50_000))
    out["_listed"], out["_matched"] = len(listed), len(matched)

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
    return out


def main() -> None:
    logging.disable(logging.WARNING)
    sizes = json.loads(sys.argv[1])
    timings: dict[str, list] = {}
    for _ in range(sizes["repeats"]):
        with tempfile.TemporaryDirectory(prefix="mlflow-bench-") as tmp:
            for op, seconds in one_repetition(sizes, Path(tmp)).items():
                timings.setdefault(op, []).append(seconds)
    print(json.dumps({"version": mlflow.__version__, "timings": timings}))


if __name__ == "__main__":
    main()
