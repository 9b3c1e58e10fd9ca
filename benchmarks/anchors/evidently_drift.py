"""Evidently's DataDriftPreset on the drift benchmark's Parquet files; runs in Evidently's own venv.

Usage: python evidently_drift.py REF.parquet CUR.parquet '{"column": "number" | "category", ...}'
Prints one JSON line: seconds (excluding reading the files), import seconds, peak RSS, flagged columns, the
rows of both frames and the columns Evidently checked (so the benchmark can confirm both tools did the same
work), and the threads its BLAS/OpenMP libraries run with (set through OMP_NUM_THREADS and friends).
"""

from __future__ import annotations

import json
import resource
import sys
import time

started = time.perf_counter()
import evidently  # noqa: E402
import pandas as pd  # noqa: E402
from evidently import DataDefinition, Dataset, Report  # noqa: E402
from evidently.presets import DataDriftPreset  # noqa: E402

import_seconds = time.perf_counter() - started


def native_threads() -> dict[str, int]:
    """Threads each loaded BLAS/OpenMP library runs with."""
    from threadpoolctl import threadpool_info  # scikit-learn's dependency, so in Evidently's venv

    return {
        f"{i['internal_api']}:{i['filepath'].rsplit('/', 1)[-1]}": i["num_threads"] for i in threadpool_info()
    }


def main() -> None:
    ref_path, cur_path, types_json = sys.argv[1:4]
    types = json.loads(types_json)
    ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    definition = DataDefinition(
        numerical_columns=[c for c, t in types.items() if t == "number"],
        categorical_columns=[c for c, t in types.items() if t != "number"],
    )
    start = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(cur, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition),
    )
    result = snapshot.dict()
    seconds = time.perf_counter() - start
    flagged, methods, columns = [], set(), []
    for metric in result.get("metrics", []):
        config = metric.get("config") or {}
        if not str(config.get("type", "")).endswith("ValueDrift"):
            continue
        method, threshold, value = str(config.get("method")), float(config["threshold"]), metric.get("value")
        methods.add(method)
        columns.append(config["column"])
        if isinstance(value, dict):
            value = value.get("value")
        # p-value methods drift below the threshold, distances at or above it
        drifted = float(value) < threshold if "p_value" in method else float(value) >= threshold
        if drifted:
            flagged.append(config["column"])
    print(
        json.dumps(
            {
                "version": evidently.__version__,
                "seconds": seconds,
                "import_seconds": import_seconds,
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "traced_peak_mib": None,
                "flagged": sorted(flagged),
                "methods": sorted(methods),
                "rows": {"reference": len(ref), "current": len(cur)},
                "columns": sorted(columns),
                "native_threads": native_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()
