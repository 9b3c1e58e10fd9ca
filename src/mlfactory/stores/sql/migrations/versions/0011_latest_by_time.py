"""metrics: a NaN flag; latest_metrics: each run's latest value per key by step, then time, refilled

A run's latest value of a key becomes its metrics row at the highest step, of equal steps the one with the
latest timestamp, of equal timestamps the last logged (the highest id): a value re-logged late for an old
time no longer overrides the one measured after it. The stored latest values are computed again by that
rule, so every existing run reads the same as a run logged after the upgrade.

SQLite cannot store NaN (it becomes NULL, which the value columns refuse), so a NaN is stored as the value
0 with ``is_nan`` set, on both databases alike (PostgreSQL's NaN would also compare equal to itself and
above every number, which Python's does not). Rows PostgreSQL already holds as NaN are flagged here.

Revision ID: 0011_latest_by_time
Revises: 0010_archive
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0011_latest_by_time"
down_revision = "0010_archive"  # the runs area's branch
branch_labels = None
depends_on = None

FILL = """
INSERT INTO latest_metrics (run_id, key, value, step, timestamp, is_nan)
SELECT run_id, key, value, step, timestamp, is_nan FROM (
    SELECT run_id, key, value, step, timestamp, is_nan,
           ROW_NUMBER() OVER (
               PARTITION BY run_id, key ORDER BY step DESC, timestamp DESC, id DESC
           ) AS position
    FROM metrics
) AS ranked
WHERE position = 1
"""
FILL_BY_STEP = """
INSERT INTO latest_metrics (run_id, key, value, step)
SELECT run_id, key, value, step FROM (
    SELECT run_id, key, value, step,
           ROW_NUMBER() OVER (PARTITION BY run_id, key ORDER BY step DESC, id DESC) AS position
    FROM metrics
) AS ranked
WHERE position = 1
"""


def _latest_table(*extra: sa.Column[Any]) -> None:
    op.create_table(
        "latest_metrics",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(256), primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        *extra,
    )


def upgrade() -> None:
    # a constant default: added in place on both databases, no table rewrite
    op.add_column("metrics", sa.Column("is_nan", sa.Boolean, nullable=False, server_default=sa.false()))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE metrics SET is_nan = TRUE, value = 0 WHERE value = 'NaN'")
    # derived data: dropped and filled again by the new rule rather than altered row by row
    op.drop_table("latest_metrics")
    _latest_table(
        sa.Column("timestamp", sa.Float, nullable=False),
        sa.Column("is_nan", sa.Boolean, nullable=False),
    )
    op.execute(FILL)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":  # its NaN again; SQLite has none (its NaN reads as 0)
        op.execute("UPDATE metrics SET value = 'NaN' WHERE is_nan")
    op.drop_table("latest_metrics")
    _latest_table()
    op.execute(FILL_BY_STEP)  # 0008's rule
    with op.batch_alter_table("metrics") as batch:
        batch.drop_column("is_nan")
