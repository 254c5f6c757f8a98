"""Job queries. Every state change is a compare-and-set plus an event row, in one transaction."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Connection, bindparam, insert, or_, select, update
from sqlalchemy.orm import Session

from cora_ocr.statuses import Ending, JobState, OcrErrorCode, can_move

if TYPE_CHECKING:
    from cora_ocr.metrics import JobCounts
from cora_ocr.store import licensing as usage
from cora_ocr.store.engine import STATUS_OF_JOB, STATUS_UNCHANGED, Store
from cora_ocr.store.models import Job, JobEvent, utcnow


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


_STATUS = select(
    Job.state, Job.error_code, Job.external_context, Job.license_pk, Job.start_by
).where(Job.id == bindparam("job_id"))


class StatusRow(NamedTuple):
    state: str
    error_code: str
    external_context: str | None
    license_pk: int | None
    start_by: int | None


def status_row(store: Store, job_id: int) -> StatusRow | None:
    """What GetStatus needs of one job: the hot path (kept between changes on PostgreSQL by
    the processes that answer it: store/statuses.py)."""
    rows = store.status_rows
    if rows is None:
        row = store.read_one(_STATUS, {"job_id": job_id})
        return None if row is None else StatusRow(*row)
    kept: StatusRow | None = rows.get(job_id)
    if kept is not None:
        return kept
    ticket = rows.ticket()
    row = store.read_one(_STATUS, {"job_id": job_id})
    found = None if row is None else StatusRow(*row)
    rows.keep(job_id, found, ticket)
    return found


def get_job(session: Session, job_id: int) -> Job | None:
    return session.get(Job, job_id)


def list_jobs(session: Session, state: JobState | None = None, limit: int = 50) -> Sequence[Job]:
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if state is not None:
        query = query.where(Job.state == state.value)
    return session.scalars(query).all()


def page_of_jobs(
    session: Session,
    license_pk: int | None,
    condition: Any,
    limit: int,
    before_id: int | None,
) -> Sequence[Job]:
    """A page of jobs, newest first, after the keyset `before_id`; only those of one license
    unless license_pk is None (the anonymous local setup sees all), and only those meeting
    `condition` unless it is None."""
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if license_pk is not None:
        query = query.where(Job.license_pk == license_pk)
    if condition is not None:
        query = query.where(condition)
    if before_id is not None:
        query = query.where(Job.id < before_id)
    return session.execute(query).scalars().all()


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


# What GetStatus reads of a job (_STATUS); an update of any of these forgets its kept row.
_STATUS_COLUMNS = frozenset(column.key for column in _STATUS.selected_columns)


def _update(job_id: int, guard: list[Any], values: dict[str, Any]) -> Any:
    status = {STATUS_OF_JOB: job_id} if _STATUS_COLUMNS & set(values) else {STATUS_UNCHANGED: True}
    return (
        update(Job)
        .where(Job.id == job_id, *guard)
        .values(**values)
        .execution_options(synchronize_session=False, **status)
    )


def _updated(session: Session, job_id: int, guard: list[Any], values: dict[str, Any]) -> bool:
    result = session.execute(_update(job_id, guard, values))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


# A job that ends in one of these gives back the pages it reserved when it started.
_GIVING_BACK = (JobState.FAILED, JobState.ABORTED)
_RESERVATION = (Job.license_pk, Job.app_pk, Job.pages_reserved, Job.started_at)


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
    give the job's reserved pages back to its license's hourly budget, in this transaction.
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
    if target in _GIVING_BACK:
        row = session.execute(_update(job_id, guard, values).returning(*_RESERVATION)).first()
        if row is None:
            return False
        license_pk, app_pk, pages, started_at = row
        if license_pk is not None and app_pk is not None and pages and started_at is not None:
            hour = usage.hour_of(started_at)
            usage.add_usage(session, license_pk, app_pk, hour, pages=-pages)
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


def claim(
    session: Session, owner: str, now: dt.datetime, lease: dt.timedelta, skip_locked: bool
) -> Job | None:
    """Lease the oldest job that is due and not held by a live worker, or None.

    A job whose previous lease was never released belonged to a worker that died: the
    claim counts a stall and records who resumes it.
    """
    query = select(Job.id, Job.lease_owner, Job.state).where(*_claimable(now)).order_by(Job.id)
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    row = session.execute(query.limit(1)).first()
    if row is None:
        return None
    job_id, previous_owner, state = row
    values: dict[str, Any] = {"lease_owner": owner, "lease_expires_at": now + lease}
    if previous_owner is not None:
        values["stalls"] = Job.stalls + 1
    if not _updated(session, job_id, _claimable(now), values):
        return None
    if previous_owner is not None:
        reason = f"lease of {previous_owner} expired; resumed by {owner}"
        session.execute(
            _INSERT_EVENT,
            _event_values(job_id, now, JobState(state), JobState(state), owner, reason=reason),
        )
        from cora_ocr import metrics  # not at import: the CLI sets its mode up first

        metrics.WORKER_RESUMES.inc()
    return session.get(Job, job_id, populate_existing=True)


def job_counts(session: Session) -> JobCounts:
    """Jobs by state, how many are due now and held by no worker, and the failed and aborted
    jobs by how they ended (GET /metrics)."""
    from sqlalchemy import func

    from cora_ocr.metrics import JobCounts  # not at import: the CLI sets its mode up first

    counts = dict(session.execute(select(Job.state, func.count()).group_by(Job.state)).all())
    due = session.execute(
        select(func.count()).select_from(Job).where(*_claimable(utcnow()))
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
    result = session.execute(
        update(Job)
        .where(
            Job.id.in_(sorted(job_ids)),
            Job.state == JobState.WAITING_FOR_OUTPUT.value,
            Job.next_attempt_at > now,
        )
        .values(next_attempt_at=now)
        .execution_options(synchronize_session=False, **{STATUS_UNCHANGED: True})
    )
    return int(getattr(result, "rowcount", 0) or 0)


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
