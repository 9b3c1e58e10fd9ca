"""runs: each run's latest value per metric key, stored, filled from the metrics already logged; events: an
index by kind

A run's latest value of a key is its metrics row at the highest step, of equal steps the last logged (the
highest id). Pages of runs read it from this table (one row per key) instead of ranking every step.
The events index by (kind, time) lets "has a kind ever happened" (the maturity assessment's questions) stop
at its first event instead of scanning the log.

Revision ID: 0008_latest_metrics
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_latest_metrics"
down_revision = "0001"  # the runs area's own branch: it needs only the metrics and events tables of 0001
branch_labels = None
depends_on = None

BACKFILL = """
INSERT INTO latest_metrics (run_id, key, value, step)
SELECT run_id, key, value, step FROM (
    SELECT run_id, key, value, step, id,
           ROW_NUMBER() OVER (PARTITION BY run_id, key ORDER BY step DESC, id DESC) AS position
    FROM metrics
) AS ranked
WHERE position = 1
"""


def upgrade() -> None:
    op.create_table(
        "latest_metrics",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(256), primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
    )
    op.execute(BACKFILL)
    op.create_index("ix_events_kind_time", "events", ["kind", "time"])


def downgrade() -> None:
    op.drop_index("ix_events_kind_time", table_name="events")
    op.drop_table("latest_metrics")
