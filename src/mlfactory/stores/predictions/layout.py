"""The prediction log on disk: folders, segment names, columns and request ids.

Layout: ``<root>/model=<name>/date=<YYYY-MM-DD>/part-<ms>-<process token>-<seq>.parquet``. A writer first
writes a segment under ``.tmp-<name>`` and renames it into place, so readers only ever see whole segments,
and several server processes can share one folder (their names never collide).

Columns: ``request_id``, ``time`` (UTC, when the request arrived), ``model``, ``version``, ``route``
(``production``, ``canary``, ``ab-v<N>``, ``shadow``, ``alias:<name>`` or ``version``), ``latency_ms``,
``prediction``, ``probabilities`` (in the order of the version's ``signature["classes"]``), and one
``input.<column>`` per model input holding the value as the model saw it (after type coercion). Segments
with rows answered under ``on_invalid_input: flag`` that broke a declared rule also have ``input_violations``:
per row the rules it broke (``n_links: 600 above the declared maximum 500; ...``), null for the others.
``prediction`` and the input columns take the type of what the model saw and answered; every other column
has the fixed type in :data:`FIXED_TYPES`.

This module is the one place that knows these names: the writer and the readers both use it.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

INPUT_PREFIX = "input."
VIOLATIONS = "input_violations"
BASE_COLUMNS = [
    "request_id",
    "time",
    "model",
    "version",
    "route",
    "latency_ms",
    "prediction",
    "probabilities",
]
FIXED_TYPES: dict[str, pa.DataType] = {
    "request_id": pa.string(),
    "time": pa.timestamp("us", tz="UTC"),
    "model": pa.string(),
    "version": pa.int32(),
    "route": pa.string(),
    "latency_ms": pa.float32(),
    "probabilities": pa.list_(pa.float64()),
    VIOLATIONS: pa.string(),
}
TMP_PREFIX = ".tmp-"


def model_folder(root: Path, model: str) -> Path:
    """The folder holding every segment of ``model``."""
    return root / f"model={model}"


def day_folder(root: Path, model: str, day: date) -> Path:
    """The folder holding the segments of ``model`` written on ``day`` (UTC)."""
    return model_folder(root, model) / f"date={day:%Y-%m-%d}"


def segment_name(stamp_ms: int, writer: str, seq: int) -> str:
    """A segment's file name: its write time, the writing process (pid and token) and a counter."""
    return f"part-{stamp_ms:013d}-{writer}-{seq:06d}.parquet"


def segment_files(
    root: Path, model: str | None = None, since: datetime | None = None, until: datetime | None = None
) -> list[Path]:
    """Segments that may hold rows of ``model`` (every model when None) in [since, until].

    Date folders are named by the day a segment was written, which can differ from its rows' times around
    midnight, so a day either side of the range is included.
    """
    if not root.exists():
        return []
    models = [model_folder(root, model)] if model else sorted(root.glob("model=*"))
    lo = (since - timedelta(days=1)).date() if since else None
    hi = (until + timedelta(days=1)).date() if until else None
    out: list[Path] = []
    for m in models:
        for day in sorted(m.glob("date=*")):
            try:
                d = datetime.strptime(day.name.removeprefix("date="), "%Y-%m-%d").date()
            except ValueError:
                continue
            if (lo and d < lo) or (hi and d > hi):
                continue
            out.extend(sorted(day.glob("part-*.parquet")))
    return out


def leftovers(root: Path) -> list[Path]:
    """Temporary segments a writer left when it stopped before renaming them (never read)."""
    return sorted(root.rglob(TMP_PREFIX + "*")) if root.exists() else []


def parquet_source(files: Sequence[Path]) -> str:
    """A DuckDB table expression over ``files``: the columns the writer wrote, no more.

    Columns missing from older segments read as null; the ``model=``/``date=`` folder names are not read as
    columns (DuckDB would add a ``date`` column the writer never wrote).
    """
    quoted = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
    return f"read_parquet([{quoted}], union_by_name=true, hive_partitioning=false)"


def connect() -> duckdb.DuckDBPyConnection:
    """A DuckDB connection for reading the log that hands back ``time`` in UTC, as written.

    DuckDB otherwise converts it to the machine's time zone, so the same log would read differently on a
    server and on a laptop.
    """
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


class RequestIds:
    """Unique, time-ordered ids: 11 hex digits of epoch milliseconds, a per-process token, a row counter."""

    def __init__(self) -> None:
        self.token = secrets.token_hex(3)
        self._next = 0
        self._lock = threading.Lock()

    def make(self, n: int, now: float | None = None) -> list[str]:
        """``n`` new ids (one per row), stamped with ``now`` (epoch seconds; default the current time)."""
        with self._lock:
            start, self._next = self._next, (self._next + n) & 0xFFFFFFFF
        base = f"{int((now or time.time()) * 1000):011x}{self.token}"
        return [f"{base}{(start + i) & 0xFFFFFFFF:08x}" for i in range(n)]


def request_id_time(request_id: str) -> datetime | None:
    """When an id from :class:`RequestIds` was made (None for ids of another form)."""
    try:
        return datetime.fromtimestamp(int(request_id[:11], 16) / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return None
