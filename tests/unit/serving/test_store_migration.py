"""The serving tables come with migration 0002 on every backend."""

from __future__ import annotations

import sqlalchemy as sa

from mlfactory.stores import MetadataStore


def test_serving_tables_exist(metadata: MetadataStore) -> None:
    engine = metadata.engine  # type: ignore[attr-defined]
    tables = set(sa.inspect(engine).get_table_names())
    assert {"routing_policies", "feedback"} <= tables
    columns = {c["name"] for c in sa.inspect(engine).get_columns("feedback")}
    assert {"request_id", "label", "model", "received_at", "actor"} <= columns
