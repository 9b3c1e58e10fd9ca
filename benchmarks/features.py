"""Feature store benchmark: online lookups, point-in-time training-set retrieval, materialization.

    .venv/bin/python benchmarks/features.py                 # full sizes (1 M labels, 2 views x 10 features)
    .venv/bin/python benchmarks/features.py --quick         # small sizes, a smoke run
    .venv/bin/python benchmarks/features.py --with-anchors  # + the same workload through Feast (own venv)

Measured in-process: online lookup p50/p99 for 1 and 100 entities on SQLite and Redis (the raw store read and
the serving lookup with per-row status), materialization rows/s, and the point-in-time join (labels x views)
with its peak memory for 2 and 4 views, each join run in a fresh process so peaks do not mix. Timings are
printed and written to benchmarks/results/features.json; nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, anchor_env, anchor_environ, console, fmt_ratio, fmt_seconds, machine, write_json

FEAST_PACKAGES = ["feast==0.67.0"]
REDIS_URL = "redis://127.0.0.1:6379/0"
T0 = pd.Timestamp("2026-01-01", tz="UTC")
FULL = {
    "entities": 100_000,
    "rows_per_entity": 10,
    "labels": 1_000_000,
    "features": 10,
    "online_entities": 10_000,
    "lookups_1": 2000,
    "lookups_100": 500,
    "anchor_scale": 10,
    "server_rows": 3000,
    "server_requests_1": 2000,
    "server_requests_100": 500,
}
QUICK = {
    "entities": 2_000,
    "rows_per_entity": 5,
    "labels": 20_000,
    "features": 10,
    "online_entities": 1_000,
    "lookups_1": 200,
    "lookups_100": 50,
    "anchor_scale": 1,
    "server_rows": 1000,
    "server_requests_1": 200,
    "server_requests_100": 50,
}


def feature_table(path: Path, entities: int, rows_per_entity: int, names: list[str], seed: int) -> None:
    """Normalized feature rows: ``rows_per_entity`` per entity over 60 days, created = event time."""
    rng = np.random.default_rng(seed)
    n = entities * rows_per_entity
    k = np.repeat(np.arange(entities, dtype=np.int64), rows_per_entity)
    hours = np.cumsum(
        rng.integers(1, 60 * 24 // rows_per_entity, size=(entities, rows_per_entity)), axis=1
    ).ravel()
    event = T0 + pd.to_timedelta(hours, unit="h")
    frame = pd.DataFrame({"k": k, "_event_ts": event.as_unit("us"), "_created_ts": event.as_unit("us")})
    for name in names:
        frame[name] = rng.normal(size=n)
    frame.to_parquet(path, index=False)


def labels_table(path: Path, n: int, entities: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = T0 + pd.to_timedelta(rng.integers(0, 70 * 24 * 3600, n), unit="s")
    pd.DataFrame(
        {
            "row": np.arange(n, dtype=np.int64),  # who is who when two tools' joined rows are compared
            "k": rng.integers(0, entities, n),
            "t": t.as_unit("us"),
            "label": rng.integers(0, 2, n),
        }
    ).to_parquet(path, index=False)


# -- point-in-time join, one fresh process per configuration ----------------------------------------


def pit_child(work: Path, n_views: int, backfills: bool) -> dict[str, Any]:
    import duckdb

    from mlfactory.features import ViewTable, point_in_time_join

    views = [
        ViewTable(
            name=f"v{i}",
            path=work / f"pit_v{i}.parquet",
            join_keys=("k",),
            features=tuple(f"{'abcd'[i]}{j}" for j in range(10)),
            ttl_seconds=30 * 86400,
            backfills=backfills,
        )
        for i in range(n_views)
    ]
    start = time.perf_counter()
    rows = point_in_time_join(
        work / "labels.parquet", "t", views, work / f"out{n_views}.parquet", workdir=work
    )
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    checksum = float(pd.read_parquet(work / f"out{n_views}.parquet", columns=["a0"])["a0"].fillna(0).sum())
    threads = int(duckdb.connect().execute("SELECT current_setting('threads')").fetchall()[0][0])
    return {
        "seconds": seconds,
        "rows": rows,
        "peak_rss_bytes": peak,
        "checksum": checksum,
        "threads": threads,
    }


def run_pit(work: Path, n_views: int, backfills: bool) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child-pit", str(work), str(n_views), str(int(backfills))],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def prepare_pit(work: Path, sizes: dict[str, int], n_views: int, seed: int = 1) -> None:
    work.mkdir(parents=True, exist_ok=True)
    for i in range(n_views):
        feature_table(
            work / f"pit_v{i}.parquet",
            sizes["entities"],
            sizes["rows_per_entity"],
            [f"{'abcd'[i]}{j}" for j in range(sizes["features"])],
            seed + i,
        )
    labels_table(work / "labels.parquet", sizes["labels"], sizes["entities"], seed + 10)


# -- online store --------------------------------------------------------------------------------------------


def percentiles(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
    }


def bench_online(store: Any, work: Path, sizes: dict[str, int]) -> dict[str, Any]:
    from mlfactory.features import ViewTable, lookup, materialize_view
    from mlfactory.features.spec import ServiceSpec, ViewSpec

    names = tuple(f"f{j}" for j in range(sizes["features"]))
    table = ViewTable(
        name="online_view",
        path=work / "online_view.parquet",
        join_keys=("k",),
        features=names,
        ttl_seconds=None,
        backfills=False,
    )
    store.clear("online_view")
    result = materialize_view(table, "bench", store)
    out: dict[str, Any] = {
        "materialize_s": result.seconds,
        "materialized_entities": result.entities_written,
        "materialize_rows_per_s": result.rows_read / result.seconds,
    }
    spec = ServiceSpec(
        name="s",
        views=(
            ViewSpec(
                name="online_view",
                join_keys=("k",),
                features=dict.fromkeys(names, "number"),
                ttl_seconds=None,
                defaults={},
                code_version="bench",
            ),
        ),
        on_missing="defaults",
    )
    n_ent = sizes["online_entities"]
    for batch, reps in ((1, sizes["lookups_1"]), (100, sizes["lookups_100"])):
        raw, served = [], []
        for i in range(reps + 20):
            ids = [(i * 7919 + j * 104729) % n_ent for j in range(batch)]
            t = time.perf_counter()
            got = store.read("online_view", [str(k) for k in ids])
            t1 = time.perf_counter()
            lk = lookup(spec, store, {"k": ids}, batch)
            t2 = time.perf_counter()
            assert all(g is not None for g in got) and lk.statuses.count("present") == batch
            if i >= 20:
                raw.append(t1 - t)
                served.append(t2 - t1)
        out[f"read_{batch}"] = percentiles(raw)
        out[f"lookup_{batch}"] = percentiles(served)
    store.clear("online_view")
    return out


def bench_materialize_full(store: Any, work: Path, sizes: dict[str, int]) -> dict[str, Any]:
    from mlfactory.features import ViewTable, materialize_view

    table = ViewTable(
        name="pit_v0",
        path=work / "pit" / "pit_v0.parquet",
        join_keys=("k",),
        features=tuple(f"a{j}" for j in range(sizes["features"])),
        ttl_seconds=None,
        backfills=False,
    )
    store.clear("pit_v0")
    r = materialize_view(table, "bench", store)
    store.clear("pit_v0")
    return {
        "rows": r.rows_read,
        "entities": r.entities_written,
        "seconds": r.seconds,
        "rows_per_s": r.rows_read / r.seconds,
    }


# -- through the server ------------------------------------------------------------------------------


def _server_project(root: Path, rows: int) -> list[dict[str, Any]]:
    """The quickstart project (feature service on): ingested, materialized, trained and promoted as ``spam``,
    plus ``spam_plain``: the very same fitted model registered without its feature service, so the same
    vector costs one plain predict. Returns request rows (entity key + request-time values) with the
    online values of their features under ``_features``."""
    from mlfactory.features import ServiceSpec, enrich_records
    from mlfactory.project import open_project
    from mlfactory.quickstart import init_project

    init_project(root, rows=rows)
    with open_project(root, env={}, actor="bench") as project:
        project.ingest("emails")
        project.features.materialize(actor="bench")
        mv = project.train("spam").version
        project.promote("spam", mv.version, reason="bench", force=True)
        plain_sig = replace(mv.signature, feature_service=None, entity_keys=()).to_json()
        plain = project.metadata.create_model_version(
            "spam_plain",
            status=mv.status,
            run_id=mv.run_id,
            artifact=mv.artifact,
            flavor=mv.flavor,
            signature=plain_sig,
            metrics=mv.metrics,
            gates=[g.to_json() for g in mv.gates],
            profile=mv.profile,
            lineage=mv.lineage.to_json(),
            card=mv.card,
            actor="bench",
        )
        project.promote("spam_plain", plain.version, reason="bench", force=True)
        spec = ServiceSpec.from_signature(mv.signature)
        assert spec is not None
        emails = pd.read_csv(root / "data" / "emails.csv")
        request = [c.name for c in mv.signature.inputs if c.source == "request"]
        records = emails[request].tail(2000).to_dict(orient="records")
        full, statuses = enrich_records(records, spec, project.features.online)
        assert set(statuses) == {"present"}
    for rec, done in zip(records, full, strict=True):
        rec["_features"] = {f: done[f] for f in spec.features}
    return records


def _serve(root: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    from mlfactory.server.run import free_port

    port = free_port()
    exe = Path(sys.executable).with_name("mlfactory")
    proc = subprocess.Popen(
        [str(exe), "--project", str(root), "serve", "--port", str(port)],
        env={**os.environ, **env, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.terminate()
    raise RuntimeError(f"`mlfactory serve` on {url} did not become ready")


def bench_server(
    root: Path, records: list[dict[str, Any]], env: dict[str, str], reps: dict[int, int]
) -> dict[str, Any]:
    """Per-request latency (closed loop, one connection) of ``spam`` (lookup + predict, the request carries
    no feature values) against ``spam_plain`` (the same model and vector, the request carries the values)."""
    import httpx

    proc, url = _serve(root, env)
    out: dict[str, Any] = {}
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            for batch, n in reps.items():
                times: dict[str, list[float]] = {"lookup": [], "plain": []}
                for i in range(n + 20):
                    rows = [records[(i * 31 + j) % len(records)] for j in range(batch)]
                    keyed = orjson.dumps(
                        {"records": [{k: v for k, v in r.items() if k != "_features"} for r in rows]}
                    )
                    full = orjson.dumps(
                        {
                            "records": [
                                {**{k: v for k, v in r.items() if k != "_features"}, **r["_features"]}
                                for r in rows
                            ]
                        }
                    )
                    answers = {}
                    for kind, model, body in (("lookup", "spam", keyed), ("plain", "spam_plain", full)):
                        t = time.perf_counter()
                        r = client.post(
                            f"/v1/models/{model}/predict",
                            content=body,
                            headers={"content-type": "application/json"},
                        )
                        elapsed = time.perf_counter() - t
                        r.raise_for_status()
                        answers[kind] = r.json()
                        if i >= 20:
                            times[kind].append(elapsed)
                    assert answers["lookup"]["probabilities"] == answers["plain"]["probabilities"]
                    assert set(answers["lookup"]["feature_status"]) == {"present"}
                out[f"server_{batch}"] = {k: percentiles(v) for k, v in times.items()}
    finally:
        proc.terminate()
        proc.wait(30)
    return out


def run_server_bench(work: Path, sizes: dict[str, int], redis: bool) -> dict[str, Any]:
    root = work / "server_project"
    records = _server_project(root, sizes["server_rows"])
    reps = {1: sizes["server_requests_1"], 100: sizes["server_requests_100"]}
    result = {"sqlite": bench_server(root, records, {}, reps)}
    if redis:
        from mlfactory.project import open_project

        url = f"{REDIS_URL}?prefix=mlfbench.server.{int(time.time())}."
        env = {"MLFACTORY_STORES__ONLINE": url}
        with open_project(root, env=env, actor="bench") as project:
            project.features.materialize(actor="bench")
            try:
                result["redis"] = bench_server(root, records, env, reps)
            finally:
                for view in project.features.repo.views:
                    project.features.online.clear(view)
    return result


# -- Feast ------------------------------------------------------------------------------------------


def run_feast(work: Path, sizes: dict[str, int], mode: str) -> dict[str, Any]:
    """One Feast process in its own venv: ``online`` (materialize + lookups) or ``pit`` (one join)."""
    python = anchor_env("feast", FEAST_PACKAGES)
    script = ROOT / "benchmarks" / "anchors" / "feast_features.py"
    proc = subprocess.run(
        [str(python), str(script), str(work), json.dumps(sizes), mode],
        capture_output=True,
        text=True,
        env=anchor_environ(python),
        cwd=work,
        timeout=7200,
    )
    if proc.returncode:
        raise RuntimeError(f"the Feast anchor failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def prepare_anchor(work: Path, sizes: dict[str, int], scale: int) -> dict[str, int]:
    """The point-in-time workload at 1/``scale`` of the full size for Feast (its file store is pandas)."""
    small = {**sizes, "entities": sizes["entities"] // scale, "labels": sizes["labels"] // scale}
    prepare_pit(work, small, 2)
    return small


def compare_joins(ours: Path, feast: Path) -> dict[str, Any]:
    """The two tools' joined rows matched by the label's ``row`` id: rows each returned that the other did
    not, and feature values that differ on the rows both returned (NaN equal to NaN, no tolerance: both read
    the same float64 values)."""
    a = pd.read_parquet(ours).set_index("row")
    b = pd.read_parquet(feast).set_index("row")
    features = [c for c in b.columns if c in a.columns]
    common = a.index.intersection(b.index)
    left, right = a.loc[common, features].to_numpy(), b.loc[common, features].to_numpy()
    differ = ~((left == right) | (np.isnan(left) & np.isnan(right)))
    rows = np.flatnonzero(differ.any(axis=1))
    return {
        "rows_ours": len(a),
        "rows_feast": len(b),
        "only_ours": len(a.index.difference(b.index)),
        "only_feast": len(b.index.difference(a.index)),
        "values_compared": int(differ.size),
        "values_differ": int(differ.sum()),
        "rows_differ_examples": [int(r) for r in common[rows[:5]]],
        "only_ours_examples": [int(r) for r in a.index.difference(b.index)[:5]],
    }


def pit_rounds(work: Path, sizes: dict[str, int], rounds: int) -> dict[str, Any]:
    """Interleaved rounds of the 2-view join, each tool in a fresh process, the order alternating per round
    so a load swing hits both sides; the outputs of the first round are compared row by row."""
    ours: list[float] = []
    feast: list[float] = []
    check: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    for r in range(rounds):
        for side in ("ours", "feast") if r % 2 == 0 else ("feast", "ours"):
            if side == "ours":
                got = run_pit(work, 2, False)
                ours.append(got["seconds"])
                settings["mlfactory"] = {"engine": "DuckDB", "threads": got["threads"], "memory_limit": "2GB"}
            else:
                got = run_feast(work, sizes, "pit")
                feast.append(got["pit_s"])
                settings["feast"] = {
                    "engine": "dask",
                    "threads": got["threads"],
                    "scheduler": got["scheduler"],
                }
        if r == 0:
            check = compare_joins(work / "out2.parquet", work / "feast_pit.parquet")
    ratios = [f / o for f, o in zip(feast, ours, strict=True)]
    return {
        "rounds": rounds,
        "ours_s": ours,
        "feast_s": feast,
        "ratio_per_round": ratios,
        "ratio_median": statistics.median(ratios),
        "settings": settings,
        "check": check,
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child-pit":
        print(json.dumps(pit_child(Path(argv[1]), int(argv[2]), argv[3] == "1")))
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--with-anchors", action="store_true", help="also run Feast 0.67 in its own venv")
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis online store")
    parser.add_argument("--no-server", action="store_true", help="skip the through-the-server rows")
    parser.add_argument("--only-server", action="store_true", help="only the through-the-server rows")
    parser.add_argument(
        "--anchor-scale",
        type=int,
        help="run Feast's point-in-time join at 1/N of the full size (default 10 full, 1 quick; 1 = full)",
    )
    parser.add_argument("--pit-rounds", type=int, default=3, help="interleaved join rounds against Feast")
    parser.add_argument("--output", type=Path, help="where to write the JSON (default benchmarks/results/)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    result: dict[str, Any] = {
        "benchmark": "features",
        "quick": args.quick,
        "sizes": sizes,
        "machine": machine(),
        "mlfactory": {},
        "anchors": {},
        "ratios": {},
    }
    from mlfactory.features import open_online_store

    with tempfile.TemporaryDirectory(prefix="mlf-bench-features-") as tmp:
        work = Path(tmp)
        if args.only_server:
            with console.status("through the server: lookup + predict vs a plain predict…"):
                result["mlfactory"]["server"] = run_server_bench(work, sizes, not args.no_redis)
            print_server_table(result["mlfactory"]["server"])
            path = write_json("features_server", result, args.output)
            console.print(f"[dim]results written to {path}[/dim]")
            return 0
        with console.status("generating data…"):
            feature_table(
                work / "online_view.parquet",
                sizes["online_entities"],
                1,
                [f"f{j}" for j in range(sizes["features"])],
                7,
            )
            prepare_pit(work / "pit", sizes, 4)
        stores: dict[str, Any] = {"sqlite": open_online_store(f"sqlite:///{work / 'online.db'}")}
        if not args.no_redis:
            try:
                stores["redis"] = open_online_store(f"{REDIS_URL}?prefix=mlfbench.{int(time.time())}.")
            except Exception as exc:  # the benchmark still runs without Redis
                console.print(f"[yellow]Redis skipped: {exc}[/]")
        for name, store in stores.items():
            with console.status(f"online store {name}…"):
                result["mlfactory"][f"online_{name}"] = bench_online(store, work, sizes)
                result["mlfactory"][f"materialize_full_{name}"] = bench_materialize_full(store, work, sizes)
            store.close()
        if not args.no_server:
            with console.status("through the server: lookup + predict vs a plain predict…"):
                result["mlfactory"]["server"] = run_server_bench(work, sizes, "redis" in stores)
        for n_views, backfills in ((2, False), (2, True), (4, False)):
            with console.status(
                f"point-in-time join, {n_views} views{' (backfill-safe path)' if backfills else ''}…"
            ):
                result["mlfactory"][f"pit_{n_views}_views{'_backfill' if backfills else ''}"] = run_pit(
                    work / "pit", n_views, backfills
                )
        if args.with_anchors:
            anchor_work = work / "anchor"
            scale = args.anchor_scale or sizes["anchor_scale"]
            small = prepare_anchor(anchor_work, sizes, scale)
            (anchor_work / "online_view.parquet").write_bytes((work / "online_view.parquet").read_bytes())
            with console.status("Feast online store (its own venv)…"):
                feast = run_feast(anchor_work, small, "online")
            rounds = args.pit_rounds
            with console.status(f"point-in-time join at 1/{scale} size, {rounds} interleaved rounds…"):
                joined = pit_rounds(anchor_work, small, rounds)
            result["anchors"]["feast"] = {**feast, "pit": joined, "pit_sizes": small}
            sq = result["mlfactory"]["online_sqlite"]
            result["ratios"] = {
                "lookup_1_p50": feast["lookup_1"]["p50"] / sq["lookup_1"]["p50"],
                "lookup_100_p50": feast["lookup_100"]["p50"] / sq["lookup_100"]["p50"],
                "lookup_1_p99": feast["lookup_1"]["p99"] / sq["lookup_1"]["p99"],
                "lookup_100_p99": feast["lookup_100"]["p99"] / sq["lookup_100"]["p99"],
                "materialize": feast["materialize_s"] / sq["materialize_s"],
                "pit_join": joined["ratio_median"],
            }
    print_table(result)
    path = write_json("features", result, args.output)
    console.print(f"[dim]results written to {path}[/dim]")
    return 0


def print_table(result: dict[str, Any]) -> None:
    from rich.table import Table

    ours, feast, ratios = result["mlfactory"], result["anchors"].get("feast"), result["ratios"]
    s = result["sizes"]
    t = Table(title=f"feature store ({'quick' if result['quick'] else 'full'} sizes)", title_justify="left")
    for col in ("measure", "mlfactory sqlite", "mlfactory redis", "Feast (sqlite)", "Feast / ours"):
        t.add_column(col, justify="left" if col == "measure" else "right")
    red = ours.get("online_redis", {})
    sq = ours["online_sqlite"]
    for batch in (1, 100):
        for p in ("p50", "p99"):
            t.add_row(
                f"online lookup, {batch} entit{'y' if batch == 1 else 'ies'}, {p} (serving path)",
                fmt_seconds(sq[f"lookup_{batch}"][p]),
                fmt_seconds(red.get(f"lookup_{batch}", {}).get(p)),
                fmt_seconds(feast[f"lookup_{batch}"][p]) if feast else "-",
                fmt_ratio(ratios.get(f"lookup_{batch}_{p}"), 2 if batch == 1 else 10),
            )
        t.add_row(
            f"  raw store read, {batch}, p50",
            fmt_seconds(sq[f"read_{batch}"]["p50"]),
            fmt_seconds(red.get(f"read_{batch}", {}).get("p50")),
            "",
            "",
        )
    t.add_row(
        f"materialize {s['online_entities']:,} entities x {s['features']} features",
        fmt_seconds(sq["materialize_s"]),
        fmt_seconds(red.get("materialize_s")),
        fmt_seconds(feast["materialize_s"]) if feast else "-",
        fmt_ratio(ratios.get("materialize")),
    )
    full = ours["materialize_full_sqlite"]
    t.add_row(
        f"materialize {full['rows']:,} rows -> {full['entities']:,} entities, rows/s",
        f"{full['rows_per_s']:,.0f}",
        f"{ours.get('materialize_full_redis', {}).get('rows_per_s', 0):,.0f}",
        "",
        "",
    )
    for key, label in (
        ("pit_2_views", "2 views"),
        ("pit_2_views_backfill", "2 views, backfill-safe path"),
        ("pit_4_views", "4 views"),
    ):
        r = ours[key]
        t.add_row(
            f"point-in-time join {s['labels']:,} labels, {label} x {s['features']} features, "
            f"{s['entities']:,} entities",
            fmt_seconds(r["seconds"]),
            "",
            "",
            "",
        )
        t.add_row(f"  peak memory ({label})", f"{r['peak_rss_bytes'] / 2**20:,.0f} MiB", "", "", "")
    if feast:
        small, joined = feast["pit_sizes"], feast["pit"]
        check = joined["check"]
        t.add_row(
            f"point-in-time join at Feast size ({small['labels']:,} labels, 2 views, "
            f"{small['entities']:,} entities), median of {joined['rounds']} interleaved rounds",
            fmt_seconds(statistics.median(joined["ours_s"])),
            "",
            fmt_seconds(statistics.median(joined["feast_s"])),
            fmt_ratio(ratios.get("pit_join"), 10),
        )
        t.add_row(
            "  ratio per round",
            "",
            "",
            "",
            " ".join(f"{r:.1f}x" for r in joined["ratio_per_round"]),
        )
        ours_set, feast_set = joined["settings"]["mlfactory"], joined["settings"]["feast"]
        t.add_row(
            "  engine and threads",
            f"DuckDB, {ours_set['threads']} threads",
            "",
            f"dask, {feast_set['threads']} threads",
            "",
        )
        t.add_row(
            "  rows returned (values differing on shared rows)",
            f"{check['rows_ours']:,}",
            "",
            f"{check['rows_feast']:,}",
            f"{check['values_differ']:,} of {check['values_compared']:,}",
        )
    console.print(t)
    print_server_table(ours.get("server"))


def print_server_table(server: dict[str, Any] | None) -> None:
    """Through ``mlfactory serve`` (one process, one connection, closed loop): lookup + predict against a
    plain predict of the same model and vector."""
    from rich.table import Table

    if not server:
        return
    t = Table(title="through the server: lookup + predict vs plain predict", title_justify="left")
    for col in ("store", "entities", "pct", "plain predict", "lookup + predict", "added"):
        t.add_column(col, justify="left" if col in ("store", "pct") else "right")
    for store, res in server.items():
        for batch in (1, 100):
            row = res[f"server_{batch}"]
            for p in ("p50", "p99"):
                plain, looked = row["plain"][p], row["lookup"][p]
                t.add_row(
                    store,
                    str(batch),
                    p,
                    fmt_seconds(plain),
                    fmt_seconds(looked),
                    f"{fmt_seconds(looked - plain)} ({(looked / plain - 1) * 100:+.0f}%)",
                )
    console.print(t)


if __name__ == "__main__":
    raise SystemExit(main())
