"""Windows over the prediction log, by time or by count, read in chunks with DuckDB.

Monitoring reads the log through these. A :class:`LogWindow` needs only the segment files of a
:class:`LogSource` (a :class:`~mlfactory.stores.predictions.PredictionReader`, or a stand-in in tests).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from mlfactory.errors import ConfigError
from mlfactory.stores.predictions.layout import INPUT_PREFIX, connect

CHUNK_ROWS = 65_536
PERCENTILES = (0.5, 0.95, 0.99)


class LogSource(Protocol):
    """What monitoring needs from the prediction log: its Parquet files for a model and time range, and a
    DuckDB table expression over them."""

    def files(
        self, model: str | None = None, since: datetime | None = None, until: datetime | None = None
    ) -> Sequence[Path | str]:
        """Files that may hold rows of ``model`` in [since, until] (local paths, or URLs on a bucket)."""

    def source(self, con: duckdb.DuckDBPyConnection, files: Sequence[Path | str]) -> str:
        """A table expression over ``files`` on ``con`` (called only when there are files)."""


@dataclass(frozen=True)
class Window:
    """Rows of the prediction log to monitor: the last ``seconds`` before ``until``, or the last ``last``
    rows.

    ``until`` defaults to the moment the window is read.
    """

    seconds: float | None = None
    last: int | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        if (self.seconds is None) == (self.last is None):
            raise ConfigError(
                "a window is either a time span (e.g. --window 1h) or a row count (--last 5000), "
                "not both or neither"
            )
        if self.seconds is not None and self.seconds <= 0:
            raise ConfigError(f"a window must be longer than 0 seconds, got {self.seconds}")
        if self.last is not None and self.last < 1:
            raise ConfigError(f"--last must be at least 1 row, got {self.last}")

    def bounds(self, now: datetime | None = None) -> tuple[datetime | None, datetime]:
        """(since, until) in UTC; ``since`` is None for a count window."""
        until = self.until or now or datetime.now(UTC)
        since = until - timedelta(seconds=self.seconds) if self.seconds is not None else None
        return since, until

    def label(self) -> str:
        """How the window reads in reports: ``1h``, ``90s`` or ``last 500 rows``."""
        if self.last is not None:
            return f"last {self.last} rows"
        s = float(self.seconds or 0)
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if s >= size and s % size == 0:
                return f"{int(s // size)}{unit}"
        return f"{s:g}s"

    def to_dict(self, now: datetime | None = None) -> dict[str, Any]:
        """The window as stored in a report, with its bounds resolved against ``now``."""
        since, until = self.bounds(now)
        return {
            "seconds": self.seconds,
            "last": self.last,
            "label": self.label(),
            "since": since.isoformat() if since else None,
            "until": until.isoformat(),
        }


class LogWindow:
    """One window of one model's log rows, queried once and read per (version, route) group.

    Args:
        log: the prediction log (see :class:`LogSource`).
        model: the model name.
        window: which rows.
        now: the window's end when it has none of its own.
    """

    def __init__(self, log: LogSource, model: str, window: Window, now: datetime | None = None) -> None:
        self.model, self.window = model, window
        self.since, self.until = window.bounds(now)
        self.files = log.files(model, self.since, self.until)
        self.con = connect()
        self.columns: list[str] = []
        self._win, self._params = "", []
        if self.files:
            source = log.source(self.con, self.files)
            self.columns = [r[0] for r in self.con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
            where, params = ["model = ?"], [model]  # type: list[str], list[Any]
            if self.since is not None:
                where += ["time >= ?", "time < ?"]
                params += [self.since, self.until]
            sql = f"SELECT * FROM {source} WHERE {' AND '.join(where)}"
            if window.last is not None:
                sql += f" ORDER BY time DESC, request_id DESC LIMIT {int(window.last)}"
            self._win, self._params = sql, params

    def close(self) -> None:
        """Close the window's DuckDB connection."""
        self.con.close()

    def __enter__(self) -> LogWindow:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def inputs(self) -> list[str]:
        """Input columns the log holds for this model (without the ``input.`` prefix)."""
        return [c.removeprefix(INPUT_PREFIX) for c in self.columns if c.startswith(INPUT_PREFIX)]

    def groups(self) -> list[dict[str, Any]]:
        """Per (version, route): rows, first and last time, latency percentiles and (when the log records
        errors) the error rate, ordered by version and route."""
        if not self.files:
            return []
        has_error = "error" in self.columns
        err = ", avg(CASE WHEN error IS NULL THEN 0 ELSE 1 END)" if has_error else ", NULL"
        rows = self.con.execute(
            f"WITH win AS ({self._win}) SELECT version, route, count(*), min(time), max(time), "
            f"quantile_cont(latency_ms, {list(PERCENTILES)}), avg(latency_ms){err} "
            "FROM win GROUP BY version, route ORDER BY version, route",
            self._params,
        ).fetchall()
        out = []
        for version, route, n, first, last, pct, mean, error_rate in rows:
            span = (self.until - self.since).total_seconds() if self.since else (last - first).total_seconds()
            out.append(
                {
                    "version": int(version),
                    "route": route,
                    "rows": int(n),
                    "first": first,
                    "last": last,
                    "span_seconds": span,
                    "throughput_rps": n / span if span > 0 else None,
                    **{
                        f"latency_p{int(q * 100)}_ms": float(v)
                        for q, v in zip(PERCENTILES, pct or [], strict=False)
                    },
                    "latency_mean_ms": float(mean) if mean is not None else None,
                    "error_rate": None if error_rate is None else float(error_rate),
                    "error_note": None
                    if has_error
                    else "the prediction log records answered rows only, so the "
                    "error rate is not known from it (see the server's /metrics for failed requests)",
                }
            )
        return out

    def chunks(
        self, version: int, route: str, columns: list[str], chunk_rows: int = CHUNK_ROWS
    ) -> Iterator[tuple[pd.DataFrame, np.ndarray | None]]:
        """The group's rows as (frame, probabilities) chunks: inputs under their own names plus
        ``request_id`` and ``prediction``; probabilities as a ``rows x classes`` matrix (None if not
        logged)."""
        wanted = ["request_id", "prediction", "probabilities", *[INPUT_PREFIX + c for c in columns]]
        cols = [c for c in wanted if c in self.columns]
        select = ", ".join('"' + c.replace('"', '""') + '"' for c in cols)
        reader = self.con.sql(
            f"WITH win AS ({self._win}) SELECT {select} FROM win WHERE version = ? AND route = ?",
            params=[*self._params, version, route],
        ).to_arrow_reader(chunk_rows)
        for batch in reader:
            proba = _matrix(batch.column("probabilities")) if "probabilities" in cols else None
            frame = batch.drop_columns(["probabilities"]) if "probabilities" in cols else batch
            df = frame.to_pandas()
            df.columns = [c.removeprefix(INPUT_PREFIX) for c in df.columns]
            yield df, proba


def _matrix(column: pa.Array) -> np.ndarray | None:
    """A list column of equal-length rows as a float matrix; rows without values become NaN."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if len(column) == 0 or column.null_count == len(column):
        return None
    lengths = column.value_lengths().fill_null(0).to_numpy(zero_copy_only=False)
    k = int(lengths.max())
    out = np.full((len(column), k), np.nan)
    full = lengths == k
    values = column.filter(pa.array(full)).flatten().to_numpy(zero_copy_only=False)
    out[full] = np.asarray(values, dtype="float64").reshape(-1, k)
    return out
