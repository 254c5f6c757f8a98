"""What the store hands out: frozen records, never ORM objects, so no caller can change a
row by assigning to it or load more of it after its transaction ended.

A new job column goes in four places: the model (store/models.py), a migration
(migrations/versions/), JobRecord here (tests/unit/test_records.py fails until it is), and,
if a use case writes it, a JobStore method (store/job_store.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from typing import Any, NamedTuple

from cora_ocr.store.status.reader import StatusRow

__all__ = [
    "AppRecord",
    "Claim",
    "EventRecord",
    "JobCounts",
    "JobRecord",
    "LicenseRecord",
    "Standing",
    "StatusRow",
]


@dataclasses.dataclass(frozen=True)
class EventRecord:
    """One transition of a job's history."""

    at: dt.datetime
    from_state: str | None
    to_state: str
    error_code: str
    reason: str | None
    actor: str


@dataclasses.dataclass(frozen=True)
class JobRecord:
    """A job's row as it was read (store/models.py: Job says what each column means)."""

    id: int
    state: str
    error_code: str
    error_reason: str | None
    ending: str | None
    external_context: str | None
    timeout_seconds: int
    start_by: int | None
    input_connection: str
    input_location: str
    input_name: str
    ocr_profile: str
    output_connection: str
    output_location: str
    output_name: str
    put_model: str
    activity_metadata: dict[str, Any] | None
    created_at: dt.datetime
    updated_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    lease_owner: str | None
    lease_expires_at: dt.datetime | None
    next_attempt_at: dt.datetime | None
    stalls: int
    retries: int
    output_final_name: str | None
    pages_done: int | None
    pages_total: int | None
    robot_name: str | None
    pages_reserved: int | None
    license_pk: int | None
    app_pk: int | None
    callback_url: str | None
    callback_state: str | None
    callback_attempts: int
    callback_due_at: dt.datetime | None
    deleted_at: dt.datetime | None
    priority: int
    confidence: dict[str, Any] | None
    needs_review: bool | None
    result_formats: str | None
    barcodes: int | None
    pdfa: bool | None
    # Not a column: the job's history, read only where asked for (JobStore.get, with_events).
    events: tuple[EventRecord, ...] = ()


# The record's column fields, in order: the store selects exactly these.
JOB_FIELDS = tuple(field.name for field in dataclasses.fields(JobRecord) if field.name != "events")


class Claim(NamedTuple):
    """A job a worker has just leased; `resumed_from`: the worker whose lease it found
    unreleased (one that stopped while holding the job), else None."""

    job: JobRecord
    resumed_from: str | None


class JobCounts(NamedTuple):
    """What GET /metrics reads of the jobs."""

    by_state: dict[str, int]
    due: int  # due now and held by no worker
    by_ending: dict[str, int]  # failed and aborted jobs by how they ended


@dataclasses.dataclass(frozen=True)
class LicenseRecord:
    id: int
    license_id: str
    name: str
    region: str
    suspended: bool
    expires_at: dt.datetime | None
    hourly_request_quota: int
    hourly_page_quota: int
    created_at: dt.datetime
    callback_secret: str | None
    monthly_page_quota: int
    max_priority: int


@dataclasses.dataclass(frozen=True)
class AppRecord:
    id: int
    license_pk: int
    app_id_hash: str
    app_id_hint: str
    name: str
    enabled: bool
    created_at: dt.datetime


class Standing(NamedTuple):
    """Whether a license (and the app a job came from) may still have work done."""

    suspended: bool
    expires_at: dt.datetime | None
    app_enabled: bool


class UsageRow(NamedTuple):
    """One app's counts in one hour (`licenses usage`, the jobs page)."""

    app_name: str
    app_id_hint: str
    hour: dt.datetime
    requests: int
    jobs: int
    pages: int


@dataclasses.dataclass(frozen=True)
class NewJob:
    """A job as it is submitted (JobStore.submit): the request's fields, checked
    (job_rules.py), and who made it; it starts Queued."""

    timeout_seconds: int
    external_context: str | None
    input_connection: str
    input_location: str
    input_name: str
    ocr_profile: str
    output_connection: str
    output_location: str
    output_name: str
    put_model: str
    activity_metadata: dict[str, Any] | None = None
    priority: int = 1
    license_pk: int | None = None
    app_pk: int | None = None
    start_by: int | None = None  # a Unix time: the job fails if it has not started by then
    callback_url: str | None = None


class Unset(enum.Enum):
    """A JobUpdate's field that the update leaves as it is."""

    UNSET = 0


UNSET = Unset.UNSET


@dataclasses.dataclass(frozen=True)
class JobUpdate:
    """What a step, a worker or a policy writes on a job beside its state (JobStore.move,
    release): each field is left as it is unless set (None clears it)."""

    started_at: dt.datetime | Unset | None = UNSET
    robot_name: str | Unset | None = UNSET
    pages_reserved: int | Unset | None = UNSET
    pages_done: int | Unset | None = UNSET
    pages_total: int | Unset | None = UNSET
    confidence: dict[str, Any] | Unset | None = UNSET
    needs_review: bool | Unset | None = UNSET
    result_formats: str | Unset | None = UNSET
    barcodes: int | Unset | None = UNSET
    pdfa: bool | Unset | None = UNSET
    retries: int | Unset = UNSET
    error_reason: str | Unset | None = UNSET
    next_attempt_at: dt.datetime | Unset | None = UNSET

    def columns(self) -> dict[str, Any]:
        """The columns this update writes (store/ only)."""
        return {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if getattr(self, field.name) is not UNSET
        }

    def __or__(self, other: JobUpdate) -> JobUpdate:
        """This update, then `other` over it."""
        return dataclasses.replace(self, **other.columns())


NO_UPDATE = JobUpdate()
