"""Prediction log upkeep: compaction never loses or doubles a row, even while a writer and a reader run;
retention drops whole days past the limit, and nothing else."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlfactory.config import PredictionLogConfig
from mlfactory.inputs import Batch
from mlfactory.stores.fs import StorageLocation, open_location
from mlfactory.stores.predictions import FIXED_TYPES, PredictionLog, PredictionReader
from mlfactory.stores.predictions.layout import ROLLUP_PREFIX, day_dir, model_dir, segment_name
from mlfactory.stores.predictions.upkeep import compact, prune


@pytest.fixture(params=["folder", "bucket", "azure"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> StorageLocation:
    """The log's root: a local folder, or a prefix in a bucket on the loopback S3 server or in a container on
    the loopback Azure Blob server."""
    if request.param == "folder":
        return open_location(str(tmp_path / "log"), tmp_path)
    bucket = request.getfixturevalue({"bucket": "s3_bucket", "azure": "azure_container"}[request.param])
    return open_location(f"{bucket.url}/log", tmp_path, bucket.storage_options)


def _write(log: PredictionLog, model: str, n: int, version: int = 1) -> list[str]:
    """Log ``n`` rows of ``model`` and write them as one segment; returns their ids."""
    ids = log.ids.make(n)
    log.append(
        model=model,
        version=version,
        route="production",
        time=datetime.now(UTC).timestamp(),
        latency_ms=1.0,
        request_ids=ids,
        batch=Batch(["x"], matrix=np.arange(n, dtype=float).reshape(n, 1)),
        predictions=np.arange(n) % 2,
        probabilities=np.tile([0.4, 0.6], (n, 1)),
    )
    assert log.flush() == n
    return ids


def _names(files: list[Path | str]) -> list[str]:
    return [str(f).rsplit("/", 1)[-1] for f in files]


def test_compaction_merges_each_day_once_and_again_with_newer_segments(where: StorageLocation) -> None:
    log = PredictionLog(where)
    spam = [i for n in (3, 4, 5, 6) for i in _write(log, "spam", n)]
    ham = _write(log, "ham", 2)
    before = log.query(model="spam")

    first = compact(log.tree)  # the covered segments stay for the grace period, and are skipped
    assert [(r.model, r.inputs, r.rows) for r in first.rollups] == [("spam", 4, 18)]  # ham: one file
    assert first.removed == 0 and len(log.tree.names(log.tree.path("model=spam", day_dir(date.today())))) == 5
    [rollup] = log.files("spam")
    assert _names([rollup])[0].startswith(ROLLUP_PREFIX)
    after = log.query(model="spam")
    assert sorted(after["request_id"]) == sorted(spam) and len(after) == len(before)
    assert after.drop(columns=[]).equals(before)  # same rows, values and types, in the same order
    assert log.query(model="ham")["request_id"].tolist() == ham

    newer = _write(log, "spam", 7)
    second = compact(log.tree, grace=0)  # merges the rollup with the newer segment, then removes inputs
    assert [(r.inputs, r.rows) for r in second.rollups] == [(2, 25)] and second.removed == 6
    [merged] = log.files("spam")
    assert log.tree.names(log.tree.path("model=spam", day_dir(date.today()))) == _names([merged])
    assert sorted(log.query(model="spam")["request_id"]) == sorted(spam + newer)
    if where.local:  # the rollup keeps the log's column types
        schema = pq.read_schema(merged)
        assert all(schema.field(c).type == t for c, t in FIXED_TYPES.items() if c in schema.names)
    assert compact(log.tree, grace=0).rollups == []  # nothing left to merge


def test_compaction_leaves_segments_younger_than_asked(where: StorageLocation) -> None:
    log = PredictionLog(where)
    _write(log, "spam", 2)
    _write(log, "spam", 2)
    assert compact(log.tree, older_than=3600).rollups == []
    assert len(log.files("spam")) == 2


def test_a_reader_skips_inputs_a_rollup_covers_even_when_removal_was_interrupted(
    where: StorageLocation,
) -> None:
    """Compaction stopped between its two steps (rollup written, inputs still there): rows count once."""
    log = PredictionLog(where)
    ids = _write(log, "spam", 3) + _write(log, "spam", 4)
    compact(log.tree)  # grace: inputs stay
    later = _write(log, "spam", 5)
    compact(log.tree)  # a rollup of the rollup: covers the first inputs too, transitively
    folder = log.tree.path(model_dir("spam"), day_dir(date.today()))
    assert len(log.tree.names(folder)) == 5  # 3 segments and 2 rollups, nothing removed yet
    frame = PredictionReader(where).query(model="spam")
    assert sorted(frame["request_id"]) == sorted(ids + later)


def test_compaction_while_a_writer_appends_and_a_reader_reads(where: StorageLocation) -> None:
    """Seeded writer, compactor and reader threads: every read holds each row at most once, and every row
    written before the read began; at the end the log holds exactly the rows written."""
    rng = np.random.default_rng(15)
    sizes = rng.integers(1, 40, size=40 if where.local else 15).tolist()
    log = PredictionLog(where)
    durable: list[str] = []
    done = threading.Event()
    failures: list[str] = []
    reads = compactions = 0

    def writer() -> None:
        try:
            for n in sizes:
                durable.extend(_write(log, "spam", int(n)))
        finally:
            done.set()

    def compactor() -> None:
        nonlocal compactions
        while not done.is_set():  # each round: rollups first (inputs kept), then inputs removed at once
            compactions += len(compact(log.tree, grace=3600).rollups)
            compactions += len(compact(log.tree, grace=0).rollups)

    def reader() -> None:
        nonlocal reads
        view = PredictionReader(where)
        while not done.is_set() or reads < 3:
            expected = set(durable)
            try:
                got = view.query(model="spam")["request_id"].tolist()
            except Exception as exc:  # a read that fails is a failure of the guarantee too
                failures.append(f"read {reads}: {exc!r}")
                return
            if len(got) != len(set(got)):
                failures.append(f"read {reads}: {len(got) - len(set(got))} rows counted twice")
            if not expected <= set(got):
                failures.append(f"read {reads}: {len(expected - set(got))} written rows missing")
            reads += 1

    threads = [threading.Thread(target=f) for f in (writer, compactor, reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not failures, failures[:5]
    final = compact(log.tree, grace=0)
    got = PredictionReader(where).query(model="spam")["request_id"].tolist()
    assert sorted(got) == sorted(durable) and len(got) == sum(sizes)
    assert reads >= 3 and compactions + len(final.rollups) >= 1
    assert len(log.files("spam")) == 1


def _day(tree_log: PredictionLog, model: str, day: date, rows: int) -> None:
    """A segment written on ``day`` (what a server running that day left)."""
    stamp = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    ids = tree_log.ids.make(rows, now=stamp.timestamp())
    table = pa.table(
        {
            "request_id": pa.array(ids, pa.string()),
            "time": pa.array([stamp] * rows, FIXED_TYPES["time"]),
            "model": pa.array([model] * rows, pa.string()),
            "version": pa.array([1] * rows, pa.int32()),
            "route": pa.array(["production"] * rows, pa.string()),
        }
    )
    folder = tree_log.tree.path(model_dir(model), day_dir(day))
    tree_log.tree.put_table(folder, segment_name(int(stamp.timestamp() * 1000), "t", rows), table)


def test_retention_drops_only_whole_days_older_than_the_limit(where: StorageLocation) -> None:
    log = PredictionLog(where)
    for offset, rows in enumerate((1, 2, 3, 4, 5)):  # 2026-03-05 .. 2026-03-09
        _day(log, "spam", date(2026, 3, 5) + timedelta(days=offset), rows)
    _day(log, "ham", date(2026, 3, 6), 7)
    compact(log.tree)  # a rollup in one dropped day changes nothing
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    result = prune(log.tree, retention=2 * 86400, now=now)  # limit: 2026-03-08 12:00
    assert sorted(result.days) == [
        ("ham", date(2026, 3, 6)),
        ("spam", date(2026, 3, 5)),
        ("spam", date(2026, 3, 6)),
        ("spam", date(2026, 3, 7)),
    ]
    assert [d for d, _ in log.tree.days("spam")] == [date(2026, 3, 8), date(2026, 3, 9)]
    assert len(log.query(model="spam")) == 4 + 5 and log.query(model="ham").empty
    assert prune(log.tree, retention=2 * 86400, now=now).days == []


def test_retention_setting_takes_a_duration_of_whole_days() -> None:
    assert PredictionLogConfig().retention is None  # default: keep everything
    assert PredictionLogConfig(retention="90d").retention == 90 * 86400  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 1d"):
        PredictionLogConfig(retention="6h")  # type: ignore[arg-type]
