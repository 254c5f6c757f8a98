"""The statements on jobs, their events and usage, run by JobStore (store/job_store.py) in the
transactions it opens. Every state change is a compare-and-set plus an event row."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from cora_ocr.statuses import Ending, JobState, OcrErrorCode, can_move
from cora_ocr.store import license_queries as usage
from cora_ocr.store.engine import status_changed
from cora_ocr.store.models import Job, JobEvent, utcnow
from cora_ocr.store.records import JOB_FIELDS, EventRecord, JobCounts, JobRecord
from cora_ocr.store.status.reader import STATUS_COLUMNS


def insert_job(
    conn: Connection, fields: dict[str, Any], actor: str, now: dt.datetime | None = None
) -> int:
    """A new queued job and its first event, on a connection with no transaction begun.
    Core statements, not the unit of work (its flush was most of FileBatch's cost); on
    PostgreSQL one statement, run in autocommit: one round trip instead of four."""
    now = now or utcnow()
    values = {
        **fields,
        "state": JobState.QUEUED.value,
        "error_code": OcrErrorCode.NoError.value,
        "created_at": now,
        "updated_at": now,
    }
    first = _event_values(None, now, None, JobState.QUEUED, actor, reason="submitted")
    if conn.dialect.name == "postgresql":
        conn.execution_options(isolation_level="AUTOCOMMIT")
        statement = _insert_job_and_event(tuple(sorted(values)))
        events = {f"event_{name}": first[name] for name in _FIRST_EVENT}
        return int(conn.execute(statement, {**values, **events}).scalar_one())
    with conn.begin():
        job_id = int(conn.execute(_INSERT_JOB, values).scalar_one())
        conn.execute(_INSERT_EVENT, {**first, "job_id": job_id})
    return job_id


_JOBS, _EVENTS = Job.__table__, JobEvent.__table__
_INSERT_JOB = insert(_JOBS).returning(_JOBS.c.id)  # type: ignore[arg-type]
_INSERT_EVENT = insert(_EVENTS)  # type: ignore[arg-type]
_FIRST_EVENT = ("from_state", "to_state", "error_code", "reason", "actor")


@functools.cache
def _insert_job_and_event(columns: tuple[str, ...]) -> Any:
    """INSERT the job, and from what it returns its first event, in one statement (built
    once per set of columns: anonymous and licensed submissions differ)."""
    new_job = (
        insert(_JOBS)  # type: ignore[arg-type]
        .values({name: bindparam(name, type_=_JOBS.c[name].type) for name in columns})
        .returning(_JOBS.c.id, _JOBS.c.created_at)
        .cte("new_job")
    )
    event = (bindparam(f"event_{name}", type_=_EVENTS.c[name].type) for name in _FIRST_EVENT)
    return (
        insert(_EVENTS)  # type: ignore[arg-type]
        .from_select(
            ["job_id", "at", *_FIRST_EVENT], select(new_job.c.id, new_job.c.created_at, *event)
        )
        .returning(_EVENTS.c.job_id)
    )


SELECT_JOB = select(*(_JOBS.c[name] for name in JOB_FIELDS))  # JobRecord's columns, in order


def job_record(session: Session, job_id: int, with_events: bool = False) -> JobRecord | None:
    row = session.execute(SELECT_JOB.where(_JOBS.c.id == job_id)).first()
    if row is None:
        return None
    if not with_events:
        return JobRecord(*row)
    events = session.execute(
        select(
            JobEvent.at,
            JobEvent.from_state,
            JobEvent.to_state,
            JobEvent.error_code,
            JobEvent.reason,
            JobEvent.actor,
        )
        .where(JobEvent.job_id == job_id)
        .order_by(JobEvent.id)
    ).all()
    history = tuple(EventRecord(*event) for event in events)
    return dataclasses.replace(JobRecord(*row), events=history)


def job_records(session: Session, query: Any) -> list[JobRecord]:
    return [JobRecord(*row) for row in session.execute(query).all()]


def _event_values(
    job_id: int | None,
    at: dt.datetime,
    source: JobState | None,
    target: JobState,
    actor: str,
    error_code: OcrErrorCode = OcrErrorCode.NoError,
    reason: str | None = None,
) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "at": at,
        "from_state": None if source is None else source.value,
        "to_state": target.value,
        "error_code": error_code.value,
        "reason": reason,
        "actor": actor,
    }


def update_jobs(
    session: Session, where: list[Any], values: dict[str, Any], job_id: int | None = None
) -> Any:
    """The one UPDATE of jobs: `job_id`'s row (None: every row meeting `where`). A change to
    a column GetStatus reads is marked for the store to tell its status reader on commit
    (Store.transaction); a change to any other column is not."""
    if job_id is not None:
        where = [Job.id == job_id, *where]
    if STATUS_COLUMNS & set(values):
        status_changed(session, job_id)
    return update(Job).where(*where).values(**values)


def _updated(session: Session, job_id: int, guard: list[Any], values: dict[str, Any]) -> bool:
    result = session.execute(update_jobs(session, guard, values, job_id))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


# A job that ends in one of these gives back the pages it reserved when it started.
_GIVING_BACK = (JobState.FAILED, JobState.ABORTED)
_RESERVATION = (Job.license_pk, Job.app_pk, Job.pages_reserved, Job.started_at, Job.pages_total)


def _count_pages(session: Session, target: JobState, row: Any, now: dt.datetime) -> None:
    """A licensed job's pages in its license's hourly usage, in the hour it started: a job
    that failed or was aborted gives back what it reserved; a completed one counts as a job,
    its reservation corrected to the pages the robot counted."""
    license_pk, app_pk, reserved, started_at, total = row
    if license_pk is None or app_pk is None:
        return
    if target is JobState.COMPLETED:
        reserved = reserved or 0
        pages = (total or reserved or 1) - reserved
        usage.add_usage(
            session, license_pk, app_pk, usage.hour_of(started_at or now), jobs=1, pages=pages
        )
    elif reserved and started_at is not None:
        usage.add_usage(session, license_pk, app_pk, usage.hour_of(started_at), pages=-reserved)


def transition(
    session: Session,
    job_id: int,
    expected: JobState,
    target: JobState,
    *,
    actor: str,
    owner: str | None = None,
    error_code: OcrErrorCode = OcrErrorCode.NoError,
    reason: str | None = None,
    now: dt.datetime | None = None,
    ending: Ending | None = None,
    **columns: Any,
) -> bool:
    """Move a job from `expected` to `target`, and record the event. A job that fails or is
    aborted keeps how it ended (`ending`, or the default for its state and code); a job that
    moves anywhere else has none.

    False when another party moved the job first or, with `owner`, when that worker no
    longer holds the job's lease. A final state releases the lease; Failed and Aborted also
    give the job's reserved pages back to its license's hourly budget, and Completed counts
    the job and its pages there, in this transaction.
    """
    if not can_move(expected, target):
        raise ValueError(f"transition {expected} -> {target} is not allowed")
    now = now or utcnow()
    values: dict[str, Any] = {
        "state": target.value,
        "error_code": error_code.value,
        "updated_at": now,
        **columns,
    }
    if target.is_final:
        values.update(finished_at=now, lease_owner=None, lease_expires_at=None)
    if target in _GIVING_BACK:
        values["error_reason"] = reason
        values["ending"] = (ending or Ending.by_default(target, error_code)).value
    elif expected in _GIVING_BACK:  # a retry: the job has not ended after all
        values["ending"] = None
    guard = [Job.state == expected.value]
    if owner is not None:
        guard.append(Job.lease_owner == owner)
    if target in _GIVING_BACK or target is JobState.COMPLETED:
        statement = update_jobs(session, guard, values, job_id).returning(*_RESERVATION)
        row = session.execute(statement).first()
        if row is None:
            return False
        _count_pages(session, target, row, now)
    elif not _updated(session, job_id, guard, values):
        return False
    session.execute(
        _INSERT_EVENT, _event_values(job_id, now, expected, target, actor, error_code, reason)
    )
    return True


ACTIVE_STATES = (
    JobState.QUEUED,
    JobState.THROTTLED,
    JobState.PROCESSING_INPUT,
    JobState.WAITING_FOR_OUTPUT,
    JobState.DELIVERING,
)


def live_robot_names(session: Session) -> set[str]:
    """Robot file names of the jobs that are not final: their files are not strays."""
    query = select(Job.robot_name).where(
        Job.state.in_([state.value for state in ACTIVE_STATES]), Job.robot_name.is_not(None)
    )
    return {name for name in session.scalars(query) if name}


def _claimable(now: dt.datetime) -> list[Any]:
    return [
        Job.state.in_([state.value for state in ACTIVE_STATES]),
        or_(Job.lease_expires_at.is_(None), Job.lease_expires_at < now),
        or_(Job.next_attempt_at.is_(None), Job.next_attempt_at <= now),
    ]


def job_counts(session: Session, now: dt.datetime) -> JobCounts:
    """Jobs by state, how many are due now and held by no worker, and the failed and aborted
    jobs by how they ended (GET /metrics)."""
    counts = dict(session.execute(select(Job.state, func.count()).group_by(Job.state)).all())
    due = session.execute(
        select(func.count()).select_from(Job).where(*_claimable(now))
    ).scalar_one()
    endings = dict(
        session.execute(
            select(Job.ending, func.count()).where(Job.ending.is_not(None)).group_by(Job.ending)
        ).all()
    )
    return JobCounts(
        {str(k): int(v) for k, v in counts.items()},
        int(due),
        {str(k): int(v) for k, v in endings.items()},
    )


def make_due(session: Session, job_ids: set[int], now: dt.datetime) -> int:
    """Jobs waiting for the robot whose answer has come: due now, not at their next look."""
    where = [
        Job.id.in_(sorted(job_ids)),
        Job.state == JobState.WAITING_FOR_OUTPUT.value,
        Job.next_attempt_at > now,
    ]
    result = session.execute(update_jobs(session, where, {"next_attempt_at": now}))
    return int(getattr(result, "rowcount", 0) or 0)


def add_event(
    session: Session, job_id: int, at: dt.datetime, state: str, reason: str, actor: str
) -> None:
    """An event that changes no state (a callback's attempt, say) in the job's history."""
    session.execute(
        _INSERT_EVENT,
        _event_values(job_id, at, JobState(state), JobState(state), actor, reason=reason),
    )


def wake_throttled_jobs(session: Session, license_pk: int, app_pk: int | None = None) -> int:
    """Make a license's (or one app's) throttled jobs due now, so that a worker looks at them
    at once rather than when their hour renews (after a suspension: to stop them)."""
    where = [Job.license_pk == license_pk, Job.state == JobState.THROTTLED.value]
    if app_pk is not None:
        where.append(Job.app_pk == app_pk)
    result = session.execute(update_jobs(session, where, {"next_attempt_at": None}))
    return int(result.rowcount)  # type: ignore[attr-defined]


def heartbeat(
    session: Session, job_id: int, owner: str, now: dt.datetime, lease: dt.timedelta
) -> bool:
    """Extend a held lease; False when the lease is no longer ours."""
    return _updated(session, job_id, [Job.lease_owner == owner], {"lease_expires_at": now + lease})


def release(session: Session, job_id: int, owner: str, **columns: Any) -> bool:
    """Give a job back until its next_attempt_at (it waits for the robot, or is throttled)."""
    values = {"lease_owner": None, "lease_expires_at": None, **columns}
    return _updated(session, job_id, [Job.lease_owner == owner], values)


def set_columns(session: Session, job_id: int, owner: str, **columns: Any) -> bool:
    """Write columns of a job this worker holds."""
    return _updated(session, job_id, [Job.lease_owner == owner], columns)


def requeue(session: Session, job: JobRecord, actor: str, start_by: int, now: dt.datetime) -> bool:
    """Failed to Queued, what its run left cleared (JobStore.requeue)."""
    return transition(
        session,
        job.id,
        JobState.FAILED,
        JobState.QUEUED,
        actor=actor,
        reason=f"retried after {job.error_code}",
        now=now,
        error_reason=None,
        started_at=None,
        finished_at=None,
        output_final_name=None,
        robot_name=None,
        pages_reserved=None,
        start_by=start_by,
        retries=0,
        pages_done=None,
        pages_total=None,
        stalls=0,
        next_attempt_at=None,
        lease_owner=None,
        lease_expires_at=None,
    )
