"""The prediction-log reads the feedback findings need, each filtered and aggregated by DuckDB in the log:
given requests' predictions, predictions counted by class over a span, and the newest rows of a model.

Predictions are compared as text (DuckDB's cast), the same on every side of a comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pyarrow as pa

from mlfactory.stores.predictions import request_id_time

if TYPE_CHECKING:
    import duckdb

    from mlfactory.project import Project
    from mlfactory.stores.predictions.tree import SegmentRef

SHADOW = "shadow"  # a shadow's answers reach nobody, so nobody labels them


def id_span(request_ids: Sequence[str]) -> tuple[datetime, datetime] | None:
    """The first and last time the requests arrived (from their ids), or None when an id does not say."""
    times = [request_id_time(r) for r in request_ids]
    known = [t for t in times if t is not None]
    if not known or len(known) < len(times):
        return None
    return min(known), max(known) + timedelta(seconds=1)


def predictions_of(project: Project, model: str, request_ids: Sequence[str]) -> dict[str, str]:
    """Request id -> the prediction ``model`` logged for it, for those of ``request_ids`` it answered."""
    if not request_ids:
        return {}
    span = id_span(request_ids)
    since, until = span if span else (None, None)
    reader = project.predictions

    def run(con: duckdb.DuckDBPyConnection, files: list[SegmentRef]) -> dict[str, str]:
        con.register("wanted", pa.table({"request_id": pa.array(list(request_ids), pa.string())}))
        rows = con.execute(
            f"SELECT request_id, CAST(prediction AS VARCHAR) FROM {reader.source(con, files)} "
            "WHERE model = ? AND request_id IN (SELECT request_id FROM wanted)",
            [model],
        ).fetchall()
        return {str(r): str(p) for r, p in rows}

    return reader.read(model, since, until, run, {})


def predicted_counts(project: Project, model: str, since: datetime, until: datetime) -> dict[str, int]:
    """Rows ``model`` answered in [since, until) by predicted class (shadow rows left out)."""
    reader = project.predictions

    def run(con: duckdb.DuckDBPyConnection, files: list[SegmentRef]) -> dict[str, int]:
        rows = con.execute(
            f"SELECT CAST(prediction AS VARCHAR), count(*) FROM {reader.source(con, files)} "
            "WHERE model = ? AND route != ? AND time >= ? AND time < ? GROUP BY 1",
            [model, SHADOW, since, until],
        ).fetchall()
        return {str(p): int(n) for p, n in rows}

    return reader.read(model, since, until, run, {})


def newest_predictions(
    project: Project, model: str, since: datetime, until: datetime, limit: int
) -> dict[str, str]:
    """Request id -> prediction of the newest ``limit`` rows ``model`` answered in [since, until) (shadow
    rows left out).

    The cut-off time is found first from the time column alone, then only rows at or after it are read: a
    top-N over the timestamps is about twice as fast as one carrying the ids along.
    """
    reader = project.predictions
    where = "model = $model AND route != $shadow AND time >= $since AND time < $until"
    params = {"model": model, "shadow": SHADOW, "since": since, "until": until}

    def run(con: duckdb.DuckDBPyConnection, files: list[SegmentRef]) -> dict[str, str]:
        source = reader.source(con, files)
        rows = con.execute(
            f"WITH cut AS (SELECT min(time) AS t FROM (SELECT time FROM {source} WHERE {where} "
            f"ORDER BY time DESC LIMIT {int(limit)})) "
            f"SELECT request_id, CAST(prediction AS VARCHAR) FROM {source} "
            f"WHERE {where} AND time >= (SELECT t FROM cut) "
            f"ORDER BY time DESC, request_id DESC LIMIT {int(limit)}",
            params,
        ).fetchall()
        return {str(r): str(p) for r, p in rows}

    return reader.read(model, since, until, run, {})
