"""Callbacks of REST jobs: where to POST the job once it is final, and the delivery's state
(pending, sent, failed), attempts and next try.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("callback_url", sa.Text(), nullable=True))
        batch.add_column(sa.Column("callback_state", sa.String(16), nullable=True))
        batch.add_column(
            sa.Column("callback_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("callback_due_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_jobs_callback_state", "jobs", ["callback_state"])


def downgrade() -> None:
    op.drop_index("ix_jobs_callback_state", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        for column in ("callback_due_at", "callback_attempts", "callback_state", "callback_url"):
            batch.drop_column(column)
