"""Idempotent submits: `POST /api/v1/jobs` with an `Idempotency-Key` header records the key,
the caller (its license, or `-` for the local setup's anonymous caller), a digest of the
document and the job it made; the same key again within 24 hours answers that job.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "submit_keys",
        sa.Column("owner", sa.String(32), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column(
            "job_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.ForeignKey("jobs.id", name="fk_submit_keys_job_id_jobs", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner", "key", name="pk_submit_keys"),
    )


def downgrade() -> None:
    op.drop_table("submit_keys")
