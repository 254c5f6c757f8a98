"""Robot folders belong to jobs: each job's own file name there, and the pages it reserved;
retries of a step that failed on a transient error; the time by which a job must start.

Jobs already past Queued keep the name they placed under (their FileName), so an upgrade
while jobs are in flight loses none of them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

IN_FLIGHT = ("processing_input", "waiting_for_output", "delivering")


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("robot_name", sa.String(255), nullable=True))
        batch.add_column(sa.Column("pages_reserved", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("retries", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("start_by", sa.BigInteger(), nullable=True))
    jobs = sa.table(
        "jobs",
        sa.column("state", sa.String),
        sa.column("input_name", sa.String),
        sa.column("robot_name", sa.String),
    )
    op.execute(
        jobs.update().where(jobs.c.state.in_(IN_FLIGHT)).values(robot_name=jobs.c.input_name)
    )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("start_by")
        batch.drop_column("retries")
        batch.drop_column("pages_reserved")
        batch.drop_column("robot_name")
