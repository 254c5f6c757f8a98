"""JobStore: the one door to job data (jobs, their events, callbacks, usage they count, and
retention). Each method owns its transaction and returns frozen records (store/records.py),
never ORM objects; lists are chosen by named filters (JobFilter), never by SQL passed in.
The statements several methods share (a job's row, transitions, claims, the one UPDATE of
jobs) are in store/job_queries.py; a statement only one method runs is written in it.

The model: procrastinate's `manager.py` (one method per use, its own transaction) over
`sql/queries.sql`, with `Job.from_row`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update

from cora_ocr.statuses import FINAL_STATES, Ending, JobState, OcrErrorCode
from cora_ocr.store import job_claims
from cora_ocr.store import job_queries as queries
from cora_ocr.store import license_queries as usage
from cora_ocr.store.engine import Store, dialect_insert, status_changed
from cora_ocr.store.job_filters import ANY_JOB, JobFilter, where
from cora_ocr.store.models import Job, JobEvent, SubmitKey
from cora_ocr.store.records import (
    NO_UPDATE,
    Claim,
    JobCounts,
    JobRecord,
    JobUpdate,
    NewJob,
    StatusRow,
)

__all__ = ["ANY_JOB", "Budget", "ExpiredJob", "JobFilter", "JobStore", "KeyUse", "Move"]

PENDING = "pending"  # a callback waiting for its next attempt (worker/callbacks.py)


@dataclasses.dataclass(frozen=True)
class Move:
    """A transition as JobStore.move makes it (store/job_queries.py: transition)."""

    expected: JobState
    target: JobState
    actor: str
    owner: str | None = None
    error_code: OcrErrorCode = OcrErrorCode.NoError
    reason: str | None = None
    ending: Ending | None = None
    update: JobUpdate = NO_UPDATE


class Budget(NamedTuple):
    """A license's page budget (`period`: "hourly" or "monthly") as a start found it, for a
    job needing `pages`."""

    used: int
    quota: int
    pages: int
    renews_at: dt.datetime
    period: str = "hourly"


class ExpiredJob(NamedTuple):
    """A purged job's files in the service's own uploads folder (retention.py)."""

    id: int
    input_connection: str
    input_location: str
    output_location: str


class KeyUse(NamedTuple):
    """What an `Idempotency-Key` found (JobStore.take_key): new (taken now for this request),
    or an earlier request's digest and job (None while it is still being made)."""

    new: bool
    digest: str
    job_id: int | None


class JobStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def dialect(self) -> str:
        return self.store.dialect

    # --- submitting and reading ---------------------------------------------------------
    def submit(self, job: NewJob, actor: str, now: dt.datetime) -> int:
        """A new queued job and its first event; its id."""
        values = dataclasses.asdict(job)
        if job.callback_url:
            values["callback_state"] = PENDING  # its callback waits for the job's end
        with self.store.engine.connect() as conn:
            return queries.insert_job(conn, values, actor, now)

    def status(self, job_id: int) -> StatusRow | None:
        """What GetStatus needs of one job (through the store's status reader)."""
        return self.store.statuses.read(job_id)

    def get(self, job_id: int, with_events: bool = False) -> JobRecord | None:
        with self.store.reading() as session:
            return queries.job_record(session, job_id, with_events)

    def page(
        self, chosen: JobFilter = ANY_JOB, limit: int = 50, before_id: int | None = None
    ) -> list[JobRecord]:
        """Jobs meeting `chosen`, newest first, older than the keyset `before_id`."""
        query = queries.SELECT_JOB.where(*where(chosen)).order_by(Job.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(Job.id < before_id)
        with self.store.reading() as session:
            return queries.job_records(session, query)

    def counts(self, now: dt.datetime) -> JobCounts:
        """Jobs by state, how many are due and held by no one, endings (GET /metrics)."""
        with self.store.reading() as session:
            return queries.job_counts(session, now)

    def live_robot_names(self) -> set[str]:
        with self.store.reading() as session:
            return queries.live_robot_names(session)

    # --- moving -------------------------------------------------------------------------
    def move(self, job_id: int, move: Move, now: dt.datetime) -> bool:
        """Make the transition; False if another party moved the job first or, with an
        owner, the owner's lease is gone."""
        with self.store.transaction() as session:
            return self._move(session, job_id, move, now)

    def _move(self, session: Any, job_id: int, move: Move, now: dt.datetime) -> bool:
        return queries.transition(
            session,
            job_id,
            move.expected,
            move.target,
            actor=move.actor,
            owner=move.owner,
            error_code=move.error_code,
            reason=move.reason,
            now=now,
            ending=move.ending,
            **move.update.columns(),
        )

    def start(
        self,
        job: JobRecord,
        move: Move,
        pages: int,
        now: dt.datetime,
        over_budget: Callable[[Budget], Move],
    ) -> Move | None:
        """Start a licensed job: its pages are reserved in this hour's (and month's) budget
        under a lock on the license (parallel workers never run past it), in the transaction
        that moves it. If they do not fit, the move `over_budget` makes of the budget is made
        instead (`_over_budget`). The move made, or None if the job is no longer the owner's."""
        with self.store.transaction() as session:
            if job.license_pk is not None and job.app_pk is not None and pages:
                over = _over_budget(session, job.license_pk, pages, now)
                if over is not None:
                    move = over_budget(over)
                else:
                    hour = usage.hour_of(now)
                    usage.add_usage(session, job.license_pk, job.app_pk, hour, pages=pages)
            return move if self._move(session, job.id, move, now) else None

    def delete(self, job_id: int, actor: str, now: dt.datetime) -> bool:
        """Mark a job deleted by its caller (it must be final), with an event saying so;
        False if it was already deleted or is not final."""
        where = [Job.deleted_at.is_(None), Job.state.in_([s.value for s in FINAL_STATES])]
        with self.store.transaction() as session:
            statement = queries.update_jobs(session, where, {"deleted_at": now}, job_id)
            result = session.execute(statement.returning(Job.state))
            state = result.scalar()
            if state is None:
                return False
            queries.add_event(session, job_id, now, state, "deleted by its caller", actor)
            return True

    # --- idempotent submits ---------------------------------------------------------------
    def take_key(
        self, owner: str, key: str, digest: str, now: dt.datetime, keep: dt.timedelta
    ) -> KeyUse:
        """Take `key` for a new submit of the document `digest`, or find who has it: a key
        taken more than `keep` ago is taken anew."""
        row = {"owner": owner, "key": key, "digest": digest, "job_id": None, "created_at": now}
        this = _submit_key(owner, key)
        with self.store.transaction() as session:
            insert = dialect_insert(session)(SubmitKey).values(**row)
            taken = session.execute(
                insert.on_conflict_do_nothing().returning(SubmitKey.key)
            ).first()
            if taken is not None:
                return KeyUse(True, digest, None)
            renewed = session.execute(
                update(SubmitKey)
                .where(*this, SubmitKey.created_at <= now - keep)
                .values(digest=digest, job_id=None, created_at=now)
            )
            if renewed.rowcount:  # type: ignore[attr-defined]
                return KeyUse(True, digest, None)
            found = session.execute(select(SubmitKey.digest, SubmitKey.job_id).where(*this)).one()
            return KeyUse(False, found.digest, found.job_id)

    def bind_key(self, owner: str, key: str, job_id: int) -> None:
        """The job the submit that took `key` made."""
        with self.store.transaction() as session:
            session.execute(update(SubmitKey).where(*_submit_key(owner, key)).values(job_id=job_id))

    def drop_key(self, owner: str, key: str) -> None:
        """Let go of a key whose submit made no job (it was refused): it may be sent again."""
        with self.store.transaction() as session:
            unbound = SubmitKey.job_id.is_(None)
            session.execute(delete(SubmitKey).where(*_submit_key(owner, key), unbound))

    # --- leases -------------------------------------------------------------------------
    def claim(
        self,
        owner: str,
        now: dt.datetime,
        lease: dt.timedelta,
        skip_locked: bool,
        backlogs: Mapping[str, int] | None = None,
    ) -> Claim | None:
        """Lease a due job held by no live worker, or None: the oldest under way, else the
        next to start, licenses in turn (`backlogs`: documents each profile's robot may
        hold; store/job_claims.py)."""
        with self.store.transaction() as session:
            return job_claims.claim(session, owner, now, lease, skip_locked, backlogs)

    def heartbeat(self, job_id: int, owner: str, now: dt.datetime, lease: dt.timedelta) -> bool:
        with self.store.transaction() as session:
            return queries.heartbeat(session, job_id, owner, now, lease)

    def release(self, job_id: int, owner: str, update: JobUpdate = NO_UPDATE) -> bool:
        """Give the job back (it waits until its next_attempt_at); False if not ours."""
        with self.store.transaction() as session:
            return queries.release(session, job_id, owner, **update.columns())

    def set_output_name(self, job_id: int, owner: str, name: str) -> bool:
        """Record the name a job this owner holds delivers its result under."""
        with self.store.transaction() as session:
            return queries.set_columns(session, job_id, owner, output_final_name=name)

    def requeue(self, job: JobRecord, actor: str, start_by: int, now: dt.datetime) -> bool:
        """A Failed job queued again as if just submitted: what its run left is cleared."""
        with self.store.transaction() as session:
            return queries.requeue(session, job, actor, start_by, now)

    def make_due(self, job_ids: set[int], now: dt.datetime) -> int:
        with self.store.transaction() as session:
            return queries.make_due(session, job_ids, now)

    # --- callbacks ----------------------------------------------------------------------
    def due_callbacks(self, now: dt.datetime, limit: int) -> list[JobRecord]:
        """Final jobs whose callback is due: never tried first, then the longest due."""
        query = (
            queries.SELECT_JOB.where(
                Job.callback_state == PENDING,
                Job.state.in_([state.value for state in FINAL_STATES]),
                or_(Job.callback_due_at.is_(None), Job.callback_due_at <= now),
            )
            .order_by(Job.callback_due_at.is_not(None), Job.callback_due_at, Job.id)
            .limit(limit)
        )
        with self.store.reading() as session:
            return queries.job_records(session, query)

    def claim_callback(self, job: JobRecord, until: dt.datetime) -> bool:
        """Take the job's next callback attempt until `until` (compare-and-set on the due
        time read with it): False if another worker took it first."""
        same_due = (
            Job.callback_due_at.is_(None)
            if job.callback_due_at is None
            else Job.callback_due_at == job.callback_due_at
        )
        where = [Job.callback_state == PENDING, same_due]
        with self.store.transaction() as session:
            statement = queries.update_jobs(session, where, {"callback_due_at": until}, job.id)
            return bool(session.execute(statement).rowcount)  # type: ignore[attr-defined]

    def record_callback(
        self,
        job_id: int,
        state: str,
        attempt: int,
        outcome: str,
        reason: str,
        now: dt.datetime,
        due: dt.datetime | None = None,
    ) -> None:
        """An attempt's outcome, and the event that tells it in the job's history."""
        values = {"callback_state": outcome, "callback_attempts": attempt, "callback_due_at": due}
        with self.store.transaction() as session:
            session.execute(queries.update_jobs(session, [], values, job_id))
            queries.add_event(session, job_id, now, state, reason, actor="callback")

    # --- retention ----------------------------------------------------------------------
    def count_expired(self, cutoff: dt.datetime) -> int:
        """Final jobs that finished before `cutoff`."""
        with self.store.reading() as session:
            query = select(func.count()).select_from(Job).where(_expired(cutoff))
            return int(session.scalar(query) or 0)

    def purge_expired(self, cutoff: dt.datetime, batch: int) -> list[ExpiredJob]:
        """Delete up to `batch` of them with their history, in one transaction; which."""
        with self.store.transaction() as session:
            rows = session.execute(
                select(Job.id, Job.input_connection, Job.input_location, Job.output_location)
                .where(_expired(cutoff))
                .order_by(Job.id)
                .limit(batch)
            ).all()
            ids = [row.id for row in rows]
            if ids:
                session.execute(delete(JobEvent).where(JobEvent.job_id.in_(ids)))
                session.execute(delete(Job).where(Job.id.in_(ids)))
                status_changed(session, None)  # forgets every kept status
        return [ExpiredJob(*row) for row in rows]


def _submit_key(owner: str, key: str) -> list[ColumnElement[bool]]:
    return [SubmitKey.owner == owner, SubmitKey.key == key]


def _expired(cutoff: dt.datetime) -> ColumnElement[bool]:
    finished = func.coalesce(Job.finished_at, Job.updated_at)
    return and_(Job.state.in_([state.value for state in FINAL_STATES]), finished < cutoff)


def _over_budget(session: Any, license_pk: int, pages: int, now: dt.datetime) -> Budget | None:
    """The budget `pages` more would pass, under the license's lock: this hour's, then
    this month's (0: none). A job larger than a whole budget runs alone in a period
    nothing else has used."""
    quotas = usage.lock_license(session, license_pk)
    if quotas is None:
        return None
    hourly, monthly = quotas
    hour = usage.hour_of(now)
    _requests, used = usage.license_usage(session, license_pk, hour)
    if used > 0 and used + pages > hourly:
        return Budget(used, hourly, pages, hour + dt.timedelta(hours=1))
    if monthly > 0:
        used = usage.month_pages(session, license_pk, now)
        if used > 0 and used + pages > monthly:
            return Budget(used, monthly, pages, usage.next_month(now), "monthly")
    return None
