"""Prediction log upkeep: compaction of small segments into one file per model and day, and retention.

Both are safe while servers write and readers read, by the reading rule in :mod:`.layout`: compaction writes
a rollup (whole) that names every file it covers, and only then removes those files, once the rollup is older
than a grace period so a reader that listed the folder just before still finds them. Retention removes whole
date folders past the limit. Run one compaction at a time per log (``mlfactory log compact``; the controller
may run it on its tick later).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from mlfactory.stores.predictions.layout import (
    COVERS_KEY,
    DAY,
    ROLLUP_PREFIX,
    connect,
    file_stamp,
    rollup_name,
)
from mlfactory.stores.predictions.tree import LogTree

REMOVE_GRACE = 300.0  # seconds a covered file stays after its rollup: longer than a monitoring read takes


@dataclass(frozen=True)
class Compacted:
    """One rollup written by :func:`compact`."""

    model: str
    day: date
    name: str
    inputs: int  # files merged (segments and earlier rollups)
    rows: int


@dataclass(frozen=True)
class CompactionResult:
    """What a compaction did: the rollups it wrote and how many covered files it removed."""

    rollups: list[Compacted]
    removed: int


@dataclass(frozen=True)
class PruneResult:
    """What retention removed: (model, day) folders and their files."""

    days: list[tuple[str, date]]
    files: int


def _merge(
    tree: LogTree, folder: str, inputs: Sequence[str], covers: frozenset[str], now: float
) -> tuple[str, int]:
    """Merge ``inputs`` (names in ``folder``) into a new rollup covering ``covers``; returns (name, rows)."""
    name = rollup_name(int(now * 1000), sorted(covers))
    scratch = tree.scratch(folder, name)
    con = connect()
    try:
        source = tree.source(con, [tree.ref(tree.child(folder, n)) for n in inputs])
        meta = json.dumps(sorted(covers)).replace("'", "''")
        key = COVERS_KEY.decode()
        target = scratch.replace("'", "''")
        # DuckDB streams the merge with bounded memory; the cover list goes in the footer, with the rows
        [(rows,)] = con.execute(
            f"COPY (SELECT * FROM {source}) TO '{target}' "
            f"(FORMAT parquet, COMPRESSION zstd, KV_METADATA {{'{key}': '{meta}'}})"
        ).fetchall()
    finally:
        con.close()
    tree.publish(scratch, folder, name)
    return name, int(rows)


def _compact_folder(tree: LogTree, folder: str, older_than: float, now: float) -> tuple[str, int, int] | None:
    """Merge the folder's readable files written before ``now - older_than``; None when fewer than two."""
    listed = tree.folder(folder)
    inputs = [
        n for n in listed.read if n.startswith(ROLLUP_PREFIX) or (file_stamp(n) or now) <= now - older_than
    ]
    if len(inputs) < 2:
        return None
    covers = frozenset(inputs).union(
        *(tree.covers(tree.child(folder, n)) for n in inputs if n.startswith(ROLLUP_PREFIX))
    )
    name, rows = _merge(tree, folder, inputs, covers, now)
    return name, len(inputs), rows


def _remove_covered(tree: LogTree, folder: str, grace: float, now: float) -> int:
    """Remove files covered by a rollup written more than ``grace`` seconds ago."""
    listed = tree.folder(folder)
    settled = [r for r in listed.rollups if r in listed.read and (file_stamp(r) or now) <= now - grace]
    covered = frozenset().union(*(tree.covers(tree.child(folder, r)) for r in settled))
    present = set(tree.names(folder))
    doomed = [tree.child(folder, n) for n in sorted(covered & present)]
    tree.remove(doomed)
    return len(doomed)


def compact(
    tree: LogTree,
    model: str | None = None,
    older_than: float = 0.0,
    grace: float = REMOVE_GRACE,
    now: float | None = None,
) -> CompactionResult:
    """Merge each (model, day) folder's segments into one rollup, and remove the files rollups cover.

    Args:
        tree: the log.
        model: only this model (every model when None).
        older_than: leave segments younger than this many seconds (a day still being written is merged
            again by a later run: its rollup and the newer segments become one).
        grace: seconds a rollup must exist before the files it covers are removed (0 removes them at once).
        now: the current time in epoch seconds (default: the clock).
    """
    at = time.time() if now is None else now
    rollups: list[Compacted] = []
    removed = 0
    for m in [model] if model else tree.models():
        for day, folder in tree.days(m):
            done = _compact_folder(tree, folder, older_than, at)
            if done is not None:
                rollups.append(Compacted(m, day, *done))
            removed += _remove_covered(tree, folder, grace, at)
    return CompactionResult(rollups, removed)


def prune(tree: LogTree, retention: float, now: datetime | None = None) -> PruneResult:
    """Remove every date folder whose whole day ended more than ``retention`` seconds ago.

    Args:
        tree: the log.
        retention: seconds to keep (the setting ``server.prediction_log.retention``).
        now: the current time (default: the clock).
    """
    limit = (now or datetime.now(UTC)) - timedelta(seconds=retention)
    days: list[tuple[str, date]] = []
    files = 0
    for model in tree.models():
        for day, folder in tree.days(model):
            end = datetime(day.year, day.month, day.day, tzinfo=UTC) + DAY
            if end > limit:
                continue
            names = tree.names(folder)
            # segments first, rollups last: a rollup removed early would only bring back what it covers
            ordered = sorted(names, key=lambda n: n.startswith(ROLLUP_PREFIX))
            tree.remove([tree.child(folder, n) for n in ordered])
            tree.remove_folder(folder)
            days.append((model, day))
            files += len(names)
    return PruneResult(days, files)


__all__ = ["REMOVE_GRACE", "Compacted", "CompactionResult", "PruneResult", "compact", "prune"]
