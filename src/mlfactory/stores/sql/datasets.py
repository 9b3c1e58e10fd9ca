"""Dataset versions: snapshots identified by source and content hash."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, func, insert, select

from mlfactory.entities import (
    DatasetVersion,
)
from mlfactory.errors import NotFoundError
from mlfactory.stores.sql import schema as t
from mlfactory.stores.sql.base import SqlBase, _aware, now
from mlfactory.stores.sql.engine import retry_on_conflict


def _dataset(row: Row[Any]) -> DatasetVersion:
    m = row._mapping
    return DatasetVersion(
        id=m["id"],
        source=m["source"],
        version=m["version"],
        content_hash=m["content_hash"],
        artifact=m["artifact"],
        n_rows=m["n_rows"],
        schema=m["schema"],
        profile=m["profile"],
        validation=m["validation"],
        valid=bool(m["valid"]),
        created_at=_aware(m["created_at"]),  # type: ignore[arg-type]
    )


class DatasetsMixin(SqlBase):
    """Dataset versions: snapshots identified by source and content hash."""

    def add_dataset(
        self,
        *,
        source: str,
        content_hash: str,
        artifact: str,
        n_rows: int,
        schema: dict[str, Any],
        profile: dict[str, Any],
        validation: dict[str, Any],
        valid: bool,
    ) -> tuple[DatasetVersion, bool]:
        def attempt() -> tuple[DatasetVersion, bool]:
            with self._tx() as c:
                same = c.execute(
                    select(t.datasets).where(
                        t.datasets.c.source == source, t.datasets.c.content_hash == content_hash
                    )
                ).first()
                if same is not None:
                    return _dataset(same), False
                latest = c.execute(
                    select(func.max(t.datasets.c.version)).where(t.datasets.c.source == source)
                ).scalar()
                version = (latest or 0) + 1
                values = dict(
                    id=f"{source}-{content_hash[:12]}",
                    source=source,
                    version=version,
                    content_hash=content_hash,
                    artifact=artifact,
                    n_rows=n_rows,
                    schema=schema,
                    profile=profile,
                    validation=validation,
                    valid=valid,
                    created_at=now(),
                )
                c.execute(insert(t.datasets).values(**values))
                self._insert_event(
                    c,
                    "dataset.ingested",
                    "ingest",
                    None,
                    {
                        "dataset": values["id"],
                        "source": source,
                        "version": version,
                        "valid": valid,
                        "rows": n_rows,
                    },
                    "" if valid else "; ".join(validation.get("reasons", [])),
                )
                return DatasetVersion(**values), True  # type: ignore[arg-type]

        return retry_on_conflict(attempt)

    def get_dataset(self, dataset_id: str) -> DatasetVersion:
        with self._read() as c:
            row = c.execute(select(t.datasets).where(t.datasets.c.id == dataset_id)).first()
        if row is None:
            raise NotFoundError(f"no dataset version '{dataset_id}'; `mlfactory datasets list` shows them")
        return _dataset(row)

    def list_datasets(self, source: str | None = None) -> list[DatasetVersion]:
        q = select(t.datasets).order_by(t.datasets.c.source, t.datasets.c.version)
        if source is not None:
            q = q.where(t.datasets.c.source == source)
        with self._read() as c:
            return [_dataset(r) for r in c.execute(q).all()]
