"""The jobs page's sessions kept on the server (a logout ends one for good), and failed logins
per client address and user name (each failure doubles the wait before the next try).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "admin_sessions",
        sa.Column("nonce_hash", sa.String(64), primary_key=True),
        sa.Column("expires_at", Stamp, nullable=False),
    )
    op.create_index("ix_admin_sessions_expires_at", "admin_sessions", ["expires_at"])
    op.create_table(
        "admin_login_failures",
        sa.Column("key", sa.String(320), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("blocked_until", Stamp, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("admin_login_failures")
    op.drop_index("ix_admin_sessions_expires_at", table_name="admin_sessions")
    op.drop_table("admin_sessions")
