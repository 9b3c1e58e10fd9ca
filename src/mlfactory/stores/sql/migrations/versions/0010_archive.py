"""runs and model_versions: an archived state (when, and why), set by `mlfactory prune` and cleared by a
restore; indexes for the live runs' listings and for the version a run produced

Archived rows stay (lineage still reads them) but listings hide them: the runs' listings read the partial
index of live runs by start time, so hiding archived runs costs nothing however many were pruned. The index
on model_versions.run_id answers "did this run produce a version" without scanning the versions.

Revision ID: 0010_archive
Revises: 0008_latest_metrics
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_archive"
down_revision = (
    "0008_latest_metrics"  # the runs area's branch: it changes the runs and model_versions of 0001
)
branch_labels = None
depends_on = None

LIVE = sa.text("archived_at IS NULL")


def upgrade() -> None:
    for table in ("runs", "model_versions"):  # nullable columns: added in place, no table rewrite
        op.add_column(table, sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))
        op.add_column(table, sa.Column("archive_reason", sa.Text, nullable=True))
    op.create_index("ix_runs_live_started", "runs", ["started_at"], sqlite_where=LIVE, postgresql_where=LIVE)
    op.create_index("ix_model_versions_run", "model_versions", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_model_versions_run", table_name="model_versions")
    op.drop_index("ix_runs_live_started", table_name="runs")
    for table in ("runs", "model_versions"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("archive_reason")
            batch.drop_column("archived_at")
