"""Which job a worker takes next (JobStore.claim): a job under way before a new one, then the
next queued job of a profile whose robot backlog has room, licenses taking turns."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cora_ocr.statuses import JobState
from cora_ocr.store.engine import dialect_insert
from cora_ocr.store.job_queries import (
    _INSERT_EVENT,
    _claimable,
    _event_values,
    _updated,
    job_record,
)
from cora_ocr.store.models import ClaimTurn, Job
from cora_ocr.store.records import Claim

# The robot has these jobs' documents in hand: a profile's backlog (Profile.backlog) counts
# them, and no job of the profile starts while it is full.
IN_HAND = (JobState.PROCESSING_INPUT.value, JobState.WAITING_FOR_OUTPUT.value)
# Whose turn a queued job waits for: its license, or 0 for jobs made without credentials.
_OWNER = func.coalesce(Job.license_pk, 0)


def claim(
    session: Session,
    owner: str,
    now: dt.datetime,
    lease: dt.timedelta,
    skip_locked: bool,
    backlogs: Mapping[str, int] | None = None,
) -> Claim | None:
    """Lease a job that is due and not held by a live worker, or None: the oldest job under
    way (Throttled, or past Queued), else the next to start (`_next_to_start`).

    A job whose previous lease was never released belonged to a worker that died: the
    claim counts a stall and records who resumes it.
    """
    under_way = (
        select(Job.id, Job.lease_owner, Job.state)
        .where(*_claimable(now), Job.state != JobState.QUEUED.value)
        .order_by(Job.id)
    )
    if skip_locked:
        under_way = under_way.with_for_update(skip_locked=True)
    row = session.execute(under_way.limit(1)).first()
    if row is None:
        row = _next_to_start(session, now, skip_locked, backlogs or {})
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
    job = job_record(session, job_id)
    assert job is not None
    return Claim(job, previous_owner)


def _next_to_start(
    session: Session, now: dt.datetime, skip_locked: bool, backlogs: Mapping[str, int]
) -> Any:
    """The queued job to start next: of a profile whose robot backlog has room, of the owner
    (license) whose last turn is oldest (one never served first), within it the highest
    priority, then the oldest. The owner's turn is taken at once, so licenses take turns
    whatever the lengths of their queues; one with 10,000 jobs waiting and one with 1 get
    their next jobs within one claim of each other."""
    in_hand = session.execute(
        select(Job.ocr_profile, func.count())
        .where(Job.state.in_(IN_HAND))
        .group_by(Job.ocr_profile)
    ).all()
    full = [name for name, count in in_hand if name in backlogs and count >= backlogs[name]]
    query = (
        select(Job.id, Job.lease_owner, Job.state, _OWNER)
        .outerjoin(ClaimTurn, ClaimTurn.owner == _OWNER)
        .where(*_claimable(now), Job.state == JobState.QUEUED.value)
        .order_by(ClaimTurn.turn.asc().nulls_first(), Job.priority.desc(), Job.id)
    )
    if full:
        query = query.where(Job.ocr_profile.not_in(full))
    if skip_locked:
        query = query.with_for_update(of=Job, skip_locked=True)
    row = session.execute(query.limit(1)).first()
    if row is None:
        return None
    turn = select(func.coalesce(func.max(ClaimTurn.turn), 0) + 1).scalar_subquery()
    upsert = dialect_insert(session)(ClaimTurn).values(owner=row[3], turn=turn)
    session.execute(
        upsert.on_conflict_do_update(index_elements=["owner"], set_={"turn": upsert.excluded.turn})
    )
    return row[:3]
