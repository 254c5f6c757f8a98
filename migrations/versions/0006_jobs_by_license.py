"""A license's jobs, newest first (the REST job list's keyset pagination).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_jobs_license_pk_id", "jobs", ["license_pk", "id"])


def downgrade() -> None:
    op.drop_index("ix_jobs_license_pk_id", table_name="jobs")
