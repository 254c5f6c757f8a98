"""Worker leases, polling times, stall count and the recorded delivery name.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(128), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", Stamp, nullable=True))
        batch.add_column(sa.Column("next_attempt_at", Stamp, nullable=True))
        batch.add_column(sa.Column("stalls", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("output_final_name", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        for column in (
            "output_final_name",
            "stalls",
            "next_attempt_at",
            "lease_expires_at",
            "lease_owner",
        ):
            batch.drop_column(column)
