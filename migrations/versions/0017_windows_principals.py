"""Windows principals (Kerberos user@REALM, NTLM DOMAIN\\user) mapped to a license's app.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "windows_principals",
        sa.Column("principal", sa.String(320), nullable=False),
        sa.Column("license_pk", BigId, nullable=False),
        sa.Column("app_pk", BigId, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["license_pk"],
            ["licenses.id"],
            name="fk_windows_principals_license_pk_licenses",
        ),
        sa.ForeignKeyConstraint(["app_pk"], ["apps.id"], name="fk_windows_principals_app_pk_apps"),
        sa.PrimaryKeyConstraint("principal", name="pk_windows_principals"),
    )
    op.create_index(
        "ix_windows_principals_license_pk", "windows_principals", ["license_pk"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_windows_principals_license_pk", table_name="windows_principals")
    op.drop_table("windows_principals")
