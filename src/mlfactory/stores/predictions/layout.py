"""The prediction log's layout: folders, file names, columns, request ids, and the rule readers follow.

Layout: ``<root>/model=<name>/date=<YYYY-MM-DD>/<file>.parquet`` under any storage URL (a local folder,
``s3://``, ``gs://``, ``az://``; see :mod:`mlfactory.stores.fs`). Files are of two kinds:

- segments, ``part-<ms>-<process token>-<seq>.parquet``, written by servers. Each appears whole or not at
  all: on a local folder it is written under ``.tmp-<name>`` and renamed into place; on an object store it is
  one PUT of the finished bytes to its final key. Several server processes share one log (names never
  collide).
- rollups, ``rollup-<ms>-<hash>.parquet``, written by compaction: the rows of several files of one folder
  merged, with the names of every file they cover (transitively: a rollup of a rollup also covers what that
  one covered) in the Parquet footer's key-value metadata under :data:`COVERS_KEY`.

The reading rule, which makes compaction safe while readers read: **a reader reads every file of a date
folder except those named in the cover list of a rollup it sees in that folder.** Compaction writes the
rollup whole first and only then removes what it covers (after a grace period, so a reader that listed the
folder just before still finds its files), so a listing sees the inputs, or the rollup, or both (and then
skips the inputs): never neither, never both counted. Listings are not snapshots (a readdir or a paged
object listing races with writers), so a reader lists a folder again after listing it and starts over while
the second listing shows a rollup the first did not; and it lists again and retries when a file vanished
before it could read it. Rollup names sort after segment names so a paged listing meets them last. One
compaction at a time per log (the CLI or, later, the controller): two compactors could each cover a file.

Columns: ``request_id``, ``time`` (UTC, when the request arrived), ``model``, ``version``, ``route``
(``production``, ``canary``, ``ab-v<N>``, ``shadow``, ``alias:<name>`` or ``version``), ``latency_ms``,
``prediction``, ``probabilities`` (in the order of the version's ``signature["classes"]``), and one
``input.<column>`` per model input holding the value as the model saw it (after type coercion). Segments
with rows answered under ``on_invalid_input: flag`` that broke a declared rule also have ``input_violations``:
per row the rules it broke (``n_links: 600 above the declared maximum 500; ...``), null for the others.
``prediction`` and the input columns take the type of what the model saw and answered; every other column
has the fixed type in :data:`FIXED_TYPES`.

This module is the one place that knows these names: the writer, the readers and compaction all use it.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
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


SEGMENT_PREFIX = "part-"
ROLLUP_PREFIX = "rollup-"
SUFFIX = ".parquet"
COVERS_KEY = b"mlfactory.covers"
DAY = timedelta(days=1)


def model_dir(model: str) -> str:
    """The folder (relative to the log's root) holding every file of ``model``."""
    return f"model={model}"


def day_dir(day: date) -> str:
    """The folder (relative to a model's folder) holding the files written on ``day`` (UTC)."""
    return f"date={day:%Y-%m-%d}"


def model_folder(root: Path, model: str) -> Path:
    """The local folder holding every file of ``model``."""
    return root / model_dir(model)


def day_folder(root: Path, model: str, day: date) -> Path:
    """The local folder holding the files of ``model`` written on ``day`` (UTC)."""
    return model_folder(root, model) / day_dir(day)


def folder_day(name: str) -> date | None:
    """The day of a ``date=YYYY-MM-DD`` folder name (None for anything else)."""
    try:
        return datetime.strptime(name.removeprefix("date="), "%Y-%m-%d").date()
    except ValueError:
        return None


def segment_name(stamp_ms: int, writer: str, seq: int) -> str:
    """A segment's file name: its write time, the writing process (pid and token) and a counter."""
    return f"{SEGMENT_PREFIX}{stamp_ms:013d}-{writer}-{seq:06d}{SUFFIX}"


def rollup_name(stamp_ms: int, covers: Sequence[str]) -> str:
    """A rollup's file name: its write time and a hash of the names it covers (so two differ)."""
    digest = hashlib.sha256("\n".join(sorted(covers)).encode()).hexdigest()[:16]
    return f"{ROLLUP_PREFIX}{stamp_ms:013d}-{digest}{SUFFIX}"


def is_data_file(name: str) -> bool:
    """Whether a file name is a segment or a rollup (temporary files and anything else are not)."""
    return name.endswith(SUFFIX) and name.startswith((SEGMENT_PREFIX, ROLLUP_PREFIX))


def file_stamp(name: str) -> float | None:
    """When a segment or rollup was written (epoch seconds, from its name; None for other names)."""
    for prefix in (SEGMENT_PREFIX, ROLLUP_PREFIX):
        if name.startswith(prefix):
            try:
                return int(name[len(prefix) : len(prefix) + 13]) / 1000
            except ValueError:
                return None
    return None


def day_range(since: datetime | None, until: datetime | None) -> tuple[date | None, date | None]:
    """The date folders that may hold rows in [since, until].

    Date folders are named by the day a file was written, which can differ from its rows' times around
    midnight, so a day either side of the range is included.
    """
    return (since - DAY).date() if since else None, (until + DAY).date() if until else None


def parquet_source(files: Sequence[Path | str]) -> str:
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
    con = duckdb.connect(config={"autoinstall_known_extensions": False})  # never download code at run time
    con.execute("SET TimeZone = 'UTC'")
    return con


_HEX_PAIRS = np.frombuffer("".join(f"{i:02x}" for i in range(256)).encode(), dtype=np.uint16)  # per byte
FEW_IDS = 32  # below this many rows, formatting each id costs less than the arrays


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
        if n < FEW_IDS:
            return [f"{base}{(start + i) & 0xFFFFFFFF:08x}" for i in range(n)]
        return _many_ids(base.encode(), start, n)


def _many_ids(base: bytes, start: int, n: int) -> list[str]:
    """``n`` ids ``base`` + 8 hex digits of the counter from ``start`` (wrapping at 2**32), built as one
    block of text (each row's counter bytes looked up as digit pairs) and split once."""
    counters = (np.arange(start, start + n, dtype=np.uint64) & 0xFFFFFFFF).astype(">u4")  # big-endian bytes
    width = len(base) + 8
    rows = np.empty((n, width + 1), dtype=np.uint8)
    rows[:, : len(base)] = np.frombuffer(base, dtype=np.uint8)
    rows[:, len(base) : width] = _HEX_PAIRS[counters.view(np.uint8).reshape(n, 4)].view(np.uint8)
    rows[:, width] = ord("\n")
    return rows.tobytes().decode("ascii").split("\n")[:n]


def request_id_time(request_id: str) -> datetime | None:
    """When an id from :class:`RequestIds` was made (None for ids of another form)."""
    try:
        return datetime.fromtimestamp(int(request_id[:11], 16) / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return None
