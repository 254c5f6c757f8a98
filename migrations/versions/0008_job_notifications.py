"""PostgreSQL: a notification on channel `cora_ocr_jobs` whenever jobs are inserted, so that
idle workers (LISTEN) claim a new job at once instead of at their next poll. A statement
trigger, so that whoever inserts (SOAP, REST, a script) is heard; nothing on SQLite, where
workers of one process are woken directly and others poll.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

CHANNEL = "cora_ocr_jobs"  # cora_ocr.wakeup.CHANNEL


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE FUNCTION cora_ocr_jobs_inserted() RETURNS trigger LANGUAGE plpgsql AS $$"
        f" BEGIN PERFORM pg_notify('{CHANNEL}', ''); RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER cora_ocr_jobs_inserted AFTER INSERT ON jobs"
        " FOR EACH STATEMENT EXECUTE FUNCTION cora_ocr_jobs_inserted()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS cora_ocr_jobs_inserted ON jobs")
    op.execute("DROP FUNCTION IF EXISTS cora_ocr_jobs_inserted()")
