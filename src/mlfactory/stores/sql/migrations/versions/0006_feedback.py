"""feedback: labels that do not fit their model are kept, marked with the problem, and never used

Revision ID: 0006_feedback
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_feedback"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feedback") as batch:
        batch.add_column(sa.Column("problem", sa.String(500)))
    op.create_index("ix_feedback_model_received", "feedback", ["model", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_feedback_model_received", "feedback")
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("problem")
