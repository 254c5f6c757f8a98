"""Job queries. Every state change is a compare-and-set plus an event row, in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cora_ocr.statuses import JobState, OcrErrorCode, can_move
from cora_ocr.store.models import Job, JobEvent, utcnow


def insert_job(session: Session, fields: dict[str, Any], actor: str) -> int:
    now = utcnow()
    job = Job(
        **fields,
        state=JobState.QUEUED.value,
        error_code=OcrErrorCode.NoError.value,
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    session.flush()
    session.add(
        JobEvent(
            job_id=job.id,
            at=now,
            from_state=None,
            to_state=JobState.QUEUED.value,
            error_code=OcrErrorCode.NoError.value,
            reason="submitted",
            actor=actor,
        )
    )
    return job.id


def status_row(session: Session, job_id: int) -> tuple[str, str, str | None] | None:
    """(state, error_code, external_context) of one job: the GetStatus hot path."""
    row = session.execute(
        select(Job.state, Job.error_code, Job.external_context).where(Job.id == job_id)
    ).first()
    return None if row is None else (row[0], row[1], row[2])


def get_job(session: Session, job_id: int) -> Job | None:
    return session.get(Job, job_id)


def list_jobs(session: Session, state: JobState | None = None, limit: int = 50) -> Sequence[Job]:
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if state is not None:
        query = query.where(Job.state == state.value)
    return session.scalars(query).all()


def transition(
    session: Session,
    job_id: int,
    expected: JobState,
    target: JobState,
    *,
    actor: str,
    error_code: OcrErrorCode = OcrErrorCode.NoError,
    reason: str | None = None,
    **columns: Any,
) -> bool:
    """Move a job from `expected` to `target`; False when another party moved it first."""
    if not can_move(expected, target):
        raise ValueError(f"transition {expected} -> {target} is not allowed")
    now = utcnow()
    values: dict[str, Any] = {
        "state": target.value,
        "error_code": error_code.value,
        "updated_at": now,
        **columns,
    }
    if target.is_final:
        values["finished_at"] = now
    if reason is not None and target is JobState.FAILED:
        values["error_reason"] = reason
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == expected.value)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.add(
        JobEvent(
            job_id=job_id,
            at=now,
            from_state=expected.value,
            to_state=target.value,
            error_code=error_code.value,
            reason=reason,
            actor=actor,
        )
    )
    return True
