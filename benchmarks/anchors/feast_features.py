"""The feature workload of benchmarks/features.py through Feast (run in Feast's own virtual environment).

Usage: python feast_features.py WORKDIR SIZES_JSON [online|pit] -> one JSON object on the last line of stdout.
``online`` (the default) times materialization and online lookups; ``pit`` times one point-in-time join and
writes its rows to WORKDIR/feast_pit.parquet (the label's ``row`` id and every feature), so the caller can
check them row by row against mlfactory's. Each mode is its own process: the caller interleaves ``pit``
rounds with its own. The data files are written by benchmarks/features.py (normalized feature tables and
labels as Parquet); this script only renames the timestamp columns to what Feast expects.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def open_store(work: Path) -> tuple[Any, dict[str, list[str]]]:
    """The Feast repository of the three views (applied again each run; the data files are rewritten)."""
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64

    repo = work / "feast_repo"
    (repo / "data").mkdir(parents=True, exist_ok=True)
    (repo / "feature_store.yaml").write_text(
        "project: bench\nregistry: data/registry.db\nprovider: local\n"
        "online_store:\n  type: sqlite\n  path: data/online.db\noffline_store:\n  type: file\n"
        "entity_key_serialization_version: 3\n"
    )
    entity = Entity(name="entity", join_keys=["k"], value_type=ValueType.INT64)
    views, names = [], {}
    for name in ("online_view", "pit_v0", "pit_v1"):
        src = work / f"{name}.parquet"
        frame = pd.read_parquet(src).rename(
            columns={"_event_ts": "event_timestamp", "_created_ts": "created"}
        )
        path = repo / "data" / f"{name}.parquet"
        frame.to_parquet(path)
        feats = [c for c in frame.columns if c not in ("k", "event_timestamp", "created")]
        names[name] = feats
        source = FileSource(
            name=f"{name}_src",
            path=str(path),
            timestamp_field="event_timestamp",
            created_timestamp_column="created",
        )
        views.append(
            FeatureView(
                name=name,
                entities=[entity],
                ttl=timedelta(days=3650 if name == "online_view" else 30),  # 30 d as on our side
                schema=[Field(name=f, dtype=Float64) for f in feats],
                source=source,
                online=True,
            )
        )
    store = FeatureStore(repo_path=str(repo))
    store.apply([entity, *views])
    return store, names


def online(store: Any, names: dict[str, list[str]], sizes: dict[str, int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    start, end = pd.Timestamp("2000-01-01", tz="UTC"), pd.Timestamp("2100-01-01", tz="UTC")
    t = time.perf_counter()
    store.materialize(start.to_pydatetime(), end.to_pydatetime(), feature_views=["online_view"])
    out["materialize_s"] = time.perf_counter() - t

    feats = [f"online_view:{f}" for f in names["online_view"]]
    n_ent = sizes["online_entities"]
    for batch, reps in ((1, sizes["lookups_1"]), (100, sizes["lookups_100"])):
        times = []
        for i in range(reps + 20):
            rows = [{"k": (i * 7919 + j * 104729) % n_ent} for j in range(batch)]
            t = time.perf_counter()
            store.get_online_features(features=feats, entity_rows=rows).to_dict()
            if i >= 20:
                times.append(time.perf_counter() - t)
        out[f"lookup_{batch}"] = {"p50": statistics.median(times), "p99": pct(times, 0.99)}
    return out


def pit(store: Any, names: dict[str, list[str]], work: Path) -> dict[str, Any]:
    labels = pd.read_parquet(work / "labels.parquet").rename(columns={"t": "event_timestamp"})
    pit_feats = [f"{v}:{f}" for v in ("pit_v0", "pit_v1") for f in names[v]]
    t = time.perf_counter()
    frame = store.get_historical_features(entity_df=labels, features=pit_feats).to_df()
    seconds = time.perf_counter() - t
    columns = ["row", *(f.split(":")[1] for f in pit_feats)]
    frame[columns].to_parquet(work / "feast_pit.parquet", index=False)
    import dask
    import dask.system

    scheduler = dask.config.get("scheduler", None) or "threads (dask's default for data frames)"
    return {
        "pit_s": seconds,
        "pit_rows": len(frame),
        "threads": dask.system.CPU_COUNT,
        "scheduler": scheduler,
    }


def main() -> None:
    work, sizes = Path(sys.argv[1]), json.loads(sys.argv[2])
    mode = sys.argv[3] if len(sys.argv) > 3 else "online"
    import feast

    store, names = open_store(work)
    out = online(store, names, sizes) if mode == "online" else pit(store, names, work)
    print(json.dumps({"version": feast.__version__, **out}))


if __name__ == "__main__":
    main()
