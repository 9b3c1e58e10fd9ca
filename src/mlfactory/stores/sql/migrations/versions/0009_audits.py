"""audits: each audit's scope, score and report, so the audit has a history

Revision ID: 0009_audits
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_audits"
down_revision = "0001"  # a branch of its own: it needs only the events table of 0001
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audits",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("report", sa.JSON, nullable=False),
    )
    op.create_index("ix_audits_scope_time", "audits", ["scope", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_audits_scope_time", table_name="audits")
    op.drop_table("audits")
