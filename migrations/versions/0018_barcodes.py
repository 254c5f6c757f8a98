"""How many barcodes the robot read on a job's pages (None: its profile reads none), and
whether its `pdfa` output is PDF/A (None: its profile makes none).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("barcodes", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("pdfa", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("pdfa")
        batch.drop_column("barcodes")
