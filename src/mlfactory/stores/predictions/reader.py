"""Reading the prediction log: rows by model, version, route, time and request id, with DuckDB."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from mlfactory.stores.predictions.layout import (
    BASE_COLUMNS,
    connect,
    leftovers,
    parquet_source,
    request_id_time,
    segment_files,
)

if TYPE_CHECKING:
    from mlfactory.stores.metadata import MetadataStore


class PredictionReader:
    """The written segments of one prediction log folder (rows still queued in a server are not seen).

    Args:
        root: the log folder (shared by every server process of a project).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def files(
        self, model: str | None = None, since: datetime | None = None, until: datetime | None = None
    ) -> list[Path]:
        """Segments that may hold rows of ``model`` in [since, until] (by their date folders)."""
        return segment_files(self.root, model, since, until)

    def leftovers(self) -> list[Path]:
        """Temporary segments a writer left when it stopped before renaming them (never read)."""
        return leftovers(self.root)

    def query(
        self,
        model: str | None = None,
        version: int | None = None,
        route: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        request_ids: Sequence[str] | None = None,
        limit: int | None = None,
        *,
        newest_first: bool = False,
    ) -> pd.DataFrame:
        """Logged rows, oldest first, filtered by model, version, route, time window [since, until) and ids.

        Input columns are named ``input.<column>``. Rows still waiting for the writer are not included
        (call the writer's ``flush`` first to see them). With ``newest_first`` the order is reversed, so
        ``limit`` keeps the newest rows.
        """
        files = self.files(model, since, until)
        if not files:
            return pd.DataFrame({c: [] for c in BASE_COLUMNS})
        where: list[str] = ["TRUE"]
        params: list[Any] = []
        for column, value in (("model", model), ("version", version), ("route", route)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            where.append("time >= ?")
            params.append(since)
        if until is not None:
            where.append("time < ?")
            params.append(until)
        con = connect()
        try:
            if request_ids is not None:
                con.register("wanted", pa.table({"request_id": pa.array(list(request_ids), pa.string())}))
                where.append("request_id IN (SELECT request_id FROM wanted)")
            order = "time DESC, request_id DESC" if newest_first else "time, request_id"
            sql = f"SELECT * FROM {parquet_source(files)} WHERE {' AND '.join(where)} ORDER BY {order}"
            if limit:
                sql += f" LIMIT {int(limit)}"
            return con.execute(sql, params).df()
        finally:
            con.close()

    def wait_for(self, request_ids: Sequence[str], *, timeout: float = 30.0) -> bool:
        """Wait until every id is in a written segment (rows another process logged); False on timeout."""
        wanted = set(request_ids)
        deadline = time.monotonic() + timeout
        while True:
            found = set(self.query(request_ids=list(wanted))["request_id"]) if wanted else set()
            wanted -= found
            if not wanted:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)

    def known_request_ids(self, request_ids: Sequence[str]) -> dict[str, str]:
        """Which of ``request_ids`` are in a written segment, as id → model."""
        if not request_ids:
            return {}
        times = [request_id_time(r) for r in request_ids]
        bounded = all(t is not None for t in times)
        since = min(times) if bounded else None  # type: ignore[type-var]
        until = max(times) if bounded else None  # type: ignore[type-var]
        files = self.files(None, since, until)
        if not files:
            return {}
        con = connect()
        try:
            con.register("wanted", pa.table({"request_id": pa.array(list(request_ids), pa.string())}))
            rows = con.execute(
                f"SELECT DISTINCT request_id, model FROM {parquet_source(files)} "
                "WHERE request_id IN (SELECT request_id FROM wanted)"
            ).fetchall()
        finally:
            con.close()
        return {rid: model for rid, model in rows}

    def with_feedback(self, metadata: MetadataStore, **filters: Any) -> pd.DataFrame:
        """:meth:`query` joined with the true labels received so far (``label``, ``label_received_at`` and
        ``label_source``, who sent it; empty for rows without feedback).

        Args:
            metadata: the store holding the labels.
            **filters: the arguments of :meth:`query`.
        """
        frame = self.query(**filters)
        if frame.empty:
            empty = pd.Series(dtype=object)
            return frame.assign(label=empty, label_received_at=empty, label_source=empty)
        labels = metadata.get_feedback(frame["request_id"].unique().tolist())
        fb = pd.DataFrame(
            {
                "request_id": [f.request_id for f in labels],
                "label": [f.label for f in labels],
                "label_received_at": [f.received_at for f in labels],
                "label_source": [f.actor for f in labels],
            }
        )
        return frame.merge(fb, on="request_id", how="left")
