"""Each license's callback secret: the key its jobs' callbacks are signed with
(`Cora-Signature`, worker/callbacks.py); licenses made before are given one.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("licenses") as batch:
        batch.add_column(sa.Column("callback_secret", sa.String(64), nullable=True))
    bind = op.get_bind()
    licenses = sa.table("licenses", sa.column("id"), sa.column("callback_secret"))
    for (license_pk,) in bind.execute(sa.select(licenses.c.id)).all():
        bind.execute(
            licenses.update()
            .where(licenses.c.id == license_pk)
            .values(callback_secret=secrets.token_hex(32))
        )


def downgrade() -> None:
    with op.batch_alter_table("licenses") as batch:
        batch.drop_column("callback_secret")
