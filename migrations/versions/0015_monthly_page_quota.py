"""Each license's monthly page quota (0: none): a job whose pages would pass it waits,
Throttled, until the month turns.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("licenses") as batch:
        batch.add_column(
            sa.Column("monthly_page_quota", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("licenses") as batch:
        batch.drop_column("monthly_page_quota")
