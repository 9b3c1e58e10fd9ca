"""monitoring: stored monitor reports

Revision ID: 0004_monitoring
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_monitoring"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "monitor_reports",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer),
        sa.Column("route", sa.String(64)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("window_start", TS),
        sa.Column("window_end", TS),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("report", sa.JSON, nullable=False),
    )
    op.create_index("ix_monitor_reports_model_time", "monitor_reports", ["model", "created_at"])


def downgrade() -> None:
    op.drop_table("monitor_reports")
