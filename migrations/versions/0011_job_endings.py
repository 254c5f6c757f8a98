"""How a Failed or Aborted job ended, stored with it (statuses.Ending) instead of read back from
the words of its reason; jobs that ended before are given theirs from those words, as REST
read them until now.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

REFUSED = "the robot refused the input: "  # worker/steps.py's words for a robot's refusal
BY_CODE = {
    "TimedOut": "timeout",
    "InputFileNotFound": "input_missing",
    "InputFileExists": "input_exists",
    "FailedToPutInputFile": "input_error",
    "OutputFileExists": "output_exists",
    "FailedToPutOutputFile": "output_error",
    "RobotProfileNotFound": "profile_missing",
    "InternalError": "internal",
}


def upgrade() -> None:
    op.add_column("jobs", sa.Column("ending", sa.String(32), nullable=True))
    jobs = sa.table(
        "jobs",
        sa.column("state", sa.String),
        sa.column("error_code", sa.String),
        sa.column("error_reason", sa.Text),
        sa.column("ending", sa.String),
    )
    failed, aborted = jobs.c.state == "failed", jobs.c.state == "aborted"
    op.execute(jobs.update().where(aborted).values(ending="aborted"))
    op.execute(
        jobs.update()
        .where(aborted, jobs.c.error_reason.startswith("license error:", autoescape=True))
        .values(ending="license")
    )
    by_code = sa.case(BY_CODE, value=jobs.c.error_code, else_="internal")
    op.execute(jobs.update().where(failed).values(ending=by_code))
    refused = jobs.c.error_reason.startswith(REFUSED, autoescape=True)
    engine = jobs.c.error_reason.startswith(REFUSED + "OCR failed", autoescape=True)
    op.execute(
        jobs.update().where(failed, refused, sa.not_(engine)).values(ending="unsupported_media")
    )
    op.execute(jobs.update().where(failed, engine).values(ending="engine_error"))


def downgrade() -> None:
    op.drop_column("jobs", "ending")
