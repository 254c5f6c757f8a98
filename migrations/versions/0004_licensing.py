"""Licenses, apps, hourly usage; jobs remember who submitted them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "licenses",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("license_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("suspended", sa.Boolean(), nullable=False),
        sa.Column("expires_at", Stamp, nullable=True),
        sa.Column("hourly_request_quota", sa.Integer(), nullable=False),
        sa.Column("hourly_page_quota", sa.Integer(), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_licenses"),
        sa.UniqueConstraint("license_id", name="uq_licenses_license_id"),
    )
    op.create_table(
        "apps",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("license_pk", BigId, nullable=False),
        sa.Column("app_id_hash", sa.String(64), nullable=False),
        sa.Column("app_id_hint", sa.String(8), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_apps"),
        sa.ForeignKeyConstraint(
            ["license_pk"], ["licenses.id"], name="fk_apps_license_pk_licenses"
        ),
        sa.UniqueConstraint("license_pk", "app_id_hash", name="uq_apps_license_pk_app_id_hash"),
    )
    op.create_index("ix_apps_license_pk", "apps", ["license_pk"])
    op.create_table(
        "usage",
        sa.Column("app_pk", BigId, nullable=False),
        sa.Column("hour", Stamp, nullable=False),
        sa.Column("license_pk", BigId, nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("jobs", sa.Integer(), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("app_pk", "hour", name="pk_usage"),
        sa.ForeignKeyConstraint(["app_pk"], ["apps.id"], name="fk_usage_app_pk_apps"),
        sa.ForeignKeyConstraint(
            ["license_pk"], ["licenses.id"], name="fk_usage_license_pk_licenses"
        ),
    )
    op.create_index("ix_usage_license_pk_hour", "usage", ["license_pk", "hour"])
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("license_pk", BigId, nullable=True))
        batch.add_column(sa.Column("app_pk", BigId, nullable=True))
        batch.create_foreign_key("fk_jobs_license_pk_licenses", "licenses", ["license_pk"], ["id"])
        batch.create_foreign_key("fk_jobs_app_pk_apps", "apps", ["app_pk"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint("fk_jobs_app_pk_apps", type_="foreignkey")
        batch.drop_constraint("fk_jobs_license_pk_licenses", type_="foreignkey")
        batch.drop_column("app_pk")
        batch.drop_column("license_pk")
    op.drop_index("ix_usage_license_pk_hour", table_name="usage")
    op.drop_table("usage")
    op.drop_index("ix_apps_license_pk", table_name="apps")
    op.drop_table("apps")
    op.drop_table("licenses")
