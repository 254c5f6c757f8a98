"""PostgreSQL: a notice on channel `cora_ocr_status` whenever a job's row changes in a column
GetStatus reads (payload: the job id), and `*` when jobs are deleted, so that the web
processes forget the rows they keep (cora_ocr/store/status/kept.py). Nothing on SQLite.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

CHANNEL = "cora_ocr_status"  # cora_ocr.store.status.kept.CHANNEL
COLUMNS = ("state", "error_code", "external_context", "license_pk", "start_by")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE FUNCTION cora_ocr_status_changed() RETURNS trigger LANGUAGE plpgsql AS $$"
        f" BEGIN PERFORM pg_notify('{CHANNEL}', NEW.id::text); RETURN NULL; END $$"
    )
    changed = " OR ".join(f"OLD.{column} IS DISTINCT FROM NEW.{column}" for column in COLUMNS)
    op.execute(
        "CREATE TRIGGER cora_ocr_status_changed AFTER UPDATE ON jobs FOR EACH ROW"
        f" WHEN ({changed}) EXECUTE FUNCTION cora_ocr_status_changed()"
    )
    op.execute(
        "CREATE FUNCTION cora_ocr_jobs_deleted() RETURNS trigger LANGUAGE plpgsql AS $$"
        f" BEGIN PERFORM pg_notify('{CHANNEL}', '*'); RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER cora_ocr_jobs_deleted AFTER DELETE ON jobs"
        " FOR EACH STATEMENT EXECUTE FUNCTION cora_ocr_jobs_deleted()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS cora_ocr_jobs_deleted ON jobs")
    op.execute("DROP FUNCTION IF EXISTS cora_ocr_jobs_deleted()")
    op.execute("DROP TRIGGER IF EXISTS cora_ocr_status_changed ON jobs")
    op.execute("DROP FUNCTION IF EXISTS cora_ocr_status_changed()")
