"""Named filters for lists of jobs (JobStore.page, the jobs page, REST lists): a filter is
values, the SQL is written here, never passed in."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, and_, or_

from cora_ocr.statuses import LIFECYCLE, JobState
from cora_ocr.store.models import Job


@dataclasses.dataclass(frozen=True)
class JobFilter:
    """Which jobs a list shows: named terms, all of which a job must meet (`&` joins two
    filters). Made by the class methods; the store turns each term into SQL."""

    terms: tuple[tuple[str, Any], ...] = ()

    def __and__(self, other: JobFilter) -> JobFilter:
        return JobFilter(self.terms + other.terms)

    @classmethod
    def status(cls, name: str) -> JobFilter:
        """Jobs with this REST life-cycle status (statuses.LIFECYCLE); ValueError if none."""
        if name not in LIFECYCLE:
            raise ValueError(f"{name!r} is not one of {', '.join(LIFECYCLE)}")
        return cls((("status", name),))

    @classmethod
    def state(cls, state: JobState) -> JobFilter:
        return cls((("state", JobState(state)),))

    @classmethod
    def license(cls, license_pk: int) -> JobFilter:
        return cls((("license", license_pk),))

    @classmethod
    def profile(cls, name: str) -> JobFilter:
        return cls((("profile", name),))

    @classmethod
    def not_deleted(cls) -> JobFilter:
        """Jobs their callers have not deleted (what the REST list shows)."""
        return cls((("not_deleted", True),))

    @classmethod
    def needs_review(cls, flagged: bool) -> JobFilter:
        """Completed jobs that need review (True), or jobs that do not (False: any other)."""
        return cls((("needs_review", flagged),))

    @classmethod
    def created_since(cls, moment: dt.datetime) -> JobFilter:
        return cls((("since", moment),))

    @classmethod
    def created_before(cls, moment: dt.datetime) -> JobFilter:
        return cls((("until", moment),))


ANY_JOB = JobFilter()


def _lifecycle(name: str) -> ColumnElement[bool]:
    status = LIFECYCLE[name]
    condition = Job.state.in_([state.value for state in status.states])
    if status.ending is not None:
        return and_(condition, Job.ending == status.ending.value)
    if status.other_than is not None:
        ended = or_(Job.ending.is_(None), Job.ending != status.other_than.value)
        return and_(condition, ended)
    return condition


_TERMS: dict[str, Callable[[Any], ColumnElement[bool]]] = {
    "status": _lifecycle,
    "state": lambda state: Job.state == state.value,
    "license": lambda license_pk: Job.license_pk == license_pk,
    "profile": lambda name: Job.ocr_profile == name,
    "since": lambda moment: Job.created_at >= moment,
    "until": lambda moment: Job.created_at < moment,
    "not_deleted": lambda _: Job.deleted_at.is_(None),
    "needs_review": lambda flagged: (
        Job.needs_review.is_(True)
        if flagged
        else or_(Job.needs_review.is_(None), ~Job.needs_review)
    ),
}


def where(chosen: JobFilter) -> list[ColumnElement[bool]]:
    return [_TERMS[name](value) for name, value in chosen.terms]
