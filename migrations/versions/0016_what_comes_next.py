"""Priorities and turns for claims, a job's confidence and review flag, the formats it
delivered, a license's highest priority.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column("priority", sa.SmallInteger(), nullable=False, server_default="1")
        )
        batch.add_column(sa.Column("confidence", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("needs_review", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("result_formats", sa.String(64), nullable=True))
    with op.batch_alter_table("licenses") as batch:
        batch.add_column(
            sa.Column("max_priority", sa.SmallInteger(), nullable=False, server_default="2")
        )
    op.create_table(
        "claim_turns",
        sa.Column("owner", BigId, nullable=False, autoincrement=False),
        sa.Column("turn", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("owner", name="pk_claim_turns"),
    )


def downgrade() -> None:
    op.drop_table("claim_turns")
    with op.batch_alter_table("licenses") as batch:
        batch.drop_column("max_priority")
    with op.batch_alter_table("jobs") as batch:
        for column in ("result_formats", "needs_review", "confidence", "priority"):
            batch.drop_column(column)
