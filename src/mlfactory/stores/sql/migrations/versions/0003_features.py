"""features: registered feature views, cached feature tables, training sets and skew reports

Revision ID: 0003_features
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_features"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "feature_views",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("code_version", sa.String(64), primary_key=True),
        sa.Column("entity", sa.String(128), nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("definition", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "feature_tables",
        sa.Column("view", sa.String(128), primary_key=True),
        sa.Column("code_version", sa.String(64), primary_key=True),
        sa.Column("dataset_id", sa.String(128), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("n_rows", sa.Integer, nullable=False),
        sa.Column("backfills", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "training_sets",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("n_rows", sa.Integer, nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "feature_skew_reports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("report", sa.JSON, nullable=False),
    )
    op.create_index("ix_feature_skew_model_time", "feature_skew_reports", ["model", "created_at"])


def downgrade() -> None:
    op.drop_table("feature_skew_reports")
    op.drop_table("training_sets")
    op.drop_table("feature_tables")
    op.drop_table("feature_views")
