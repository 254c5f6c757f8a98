"""SQLAlchemy models. No wire types here: a column change must never change the WSDL."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Job ids are MasterWorkflowInstanceId values: 64-bit. SQLite only autoincrements INTEGER
# PRIMARY KEY, which is 64-bit there anyway.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_state_id", "state", "id"),
        Index("ix_jobs_license_pk_id", "license_pk", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    state: Mapped[str] = mapped_column(String(32))
    error_code: Mapped[str] = mapped_column(String(32))
    error_reason: Mapped[str | None] = mapped_column(Text)
    # How a Failed or Aborted job ended (statuses.Ending); None for any other state.
    ending: Mapped[str | None] = mapped_column(String(32))
    external_context: Mapped[str | None] = mapped_column(Text)
    timeout_seconds: Mapped[int] = mapped_column(Integer)
    # Unix time by which the job must have left Queued (submission + TimeOut), else it fails
    # TimedOut. An integer: the GetStatus read path decodes integers and text only.
    start_by: Mapped[int | None] = mapped_column(BigInteger)
    input_connection: Mapped[str] = mapped_column(String(255))
    input_location: Mapped[str] = mapped_column(Text)
    input_name: Mapped[str] = mapped_column(String(255))
    ocr_profile: Mapped[str] = mapped_column(String(255))
    output_connection: Mapped[str] = mapped_column(String(255))
    output_location: Mapped[str] = mapped_column(Text)
    output_name: Mapped[str] = mapped_column(String(255))
    put_model: Mapped[str] = mapped_column(String(16))
    activity_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    started_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # The worker holding the job, until when, and when a waiting job is looked at again.
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # Claims that found the previous lease unreleased: workers that died on this job.
    stalls: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Consecutive tries of the current step that failed on a transient error.
    retries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Where delivery puts (or put) the result, recorded before the file is placed.
    output_final_name: Mapped[str | None] = mapped_column(String(255))
    # Progress reported by the robot; pages_total is the job's page count once known.
    pages_done: Mapped[int | None] = mapped_column(Integer)
    pages_total: Mapped[int | None] = mapped_column(Integer)
    # The job's own name in the robot's folders (profiles.robot_file_name), set when it starts.
    robot_name: Mapped[str | None] = mapped_column(String(255))
    # Pages counted against the license's hourly budget when the job started; given back
    # if it fails or is aborted.
    pages_reserved: Mapped[int | None] = mapped_column(Integer)
    # Who submitted the job (None: anonymous local setup).
    license_pk: Mapped[int | None] = mapped_column(BigId, ForeignKey("licenses.id"))
    app_pk: Mapped[int | None] = mapped_column(BigId, ForeignKey("apps.id"))
    # REST jobs: POSTed to callback_url once final (worker/callbacks.py); pending, sent, failed.
    callback_url: Mapped[str | None] = mapped_column(Text)
    callback_state: Mapped[str | None] = mapped_column(String(16), index=True)
    callback_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    callback_due_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # When its REST caller deleted it: from then on it is gone from the caller's view (404,
    # not listed); the operator keeps it and its history (`jobs show`, /admin/).
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # Which of its license's queued jobs starts first (statuses.Priority: 0 low .. 2 high).
    priority: Mapped[int] = mapped_column(SmallInteger, default=1, server_default="1")
    # The robot's word confidences (0-100) once Completed: {"mean", "min", "lowWords",
    # "pages": [{"page", "mean", "min", "lowWords", "words"}]}; None for results without words.
    confidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Completed with a mean confidence under its profile's review_below (None: not judged).
    needs_review: Mapped[bool | None] = mapped_column(Boolean)
    # The formats delivered, the first at OutPutFile, each other beside it ("alto,pdf").
    result_formats: Mapped[str | None] = mapped_column(String(64))
    # Barcodes the robot read on its pages, once Completed (None: its profile reads none).
    barcodes: Mapped[int | None] = mapped_column(Integer)
    # Whether its `pdfa` output is PDF/A (False: delivered as a plain PDF, the reason in its
    # history; None: its profile makes none).
    pdfa: Mapped[bool | None] = mapped_column(Boolean)

    events: Mapped[list[JobEvent]] = relationship(
        back_populates="job", order_by="JobEvent.id", cascade="all, delete-orphan"
    )


class JobEvent(Base):
    """One row per transition: the job's history."""

    __tablename__ = "job_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("jobs.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    error_code: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64))

    job: Mapped[Job] = relationship(back_populates="events")


class SubmitKey(Base):
    """An `Idempotency-Key` a caller sent with `POST /api/v1/jobs` (rest/uploads.py): whose
    (`owner`: the license's id, or `-` for the local setup), the document's SHA-256, and the
    job it made (None while that request is still making it)."""

    __tablename__ = "submit_keys"

    owner: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class License(Base):
    """A customer's license: processing region, validity, hourly quotas."""

    __tablename__ = "licenses"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    license_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    region: Mapped[str] = mapped_column(String(64))
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    hourly_request_quota: Mapped[int] = mapped_column(Integer)
    hourly_page_quota: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # The key its jobs' callbacks are signed with (worker/callbacks.py: Cora-Signature).
    callback_secret: Mapped[str | None] = mapped_column(String(64))
    # Pages a month (0: no limit), counted as the hourly budget counts them (store/job_store.py).
    monthly_page_quota: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The highest priority its jobs may ask for (statuses.Priority).
    max_priority: Mapped[int] = mapped_column(SmallInteger, default=2, server_default="2")


class ClaimTurn(Base):
    """When each owner of queued jobs (a license's id, 0 for jobs made without credentials)
    last had one started: workers start the next job of the owner whose turn is oldest
    (store/job_queries.py: claim), so licenses take turns whatever their queues' lengths."""

    __tablename__ = "claim_turns"

    owner: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    turn: Mapped[int] = mapped_column(BigInteger)


class App(Base):
    """An application using a license; its App ID is the credential's secret half."""

    __tablename__ = "apps"
    __table_args__ = (UniqueConstraint("license_pk", "app_id_hash"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    license_pk: Mapped[int] = mapped_column(BigId, ForeignKey("licenses.id"), index=True)
    # SHA-256 of the App ID: the secret itself is shown once, at creation.
    app_id_hash: Mapped[str] = mapped_column(String(64))
    app_id_hint: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class WindowsPrincipal(Base):
    """A Windows caller (Kerberos `user@REALM`, NTLM `DOMAIN\\user`) and the license and app
    it calls as (web/windows.py): the same caller as that app's Basic credentials. `principal`
    is kept in licensing.principal_key's form (the user part in lower case)."""

    __tablename__ = "windows_principals"

    principal: Mapped[str] = mapped_column(String(320), primary_key=True)
    license_pk: Mapped[int] = mapped_column(BigId, ForeignKey("licenses.id"), index=True)
    app_pk: Mapped[int] = mapped_column(BigId, ForeignKey("apps.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class Usage(Base):
    """Requests, jobs and pages per app and hour (hour = its start, UTC)."""

    __tablename__ = "usage"

    app_pk: Mapped[int] = mapped_column(BigId, ForeignKey("apps.id"), primary_key=True)
    hour: Mapped[dt.datetime] = mapped_column(UtcDateTime, primary_key=True)
    license_pk: Mapped[int] = mapped_column(BigId, ForeignKey("licenses.id"))
    requests: Mapped[int] = mapped_column(Integer, default=0)
    jobs: Mapped[int] = mapped_column(Integer, default=0)
    pages: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_usage_license_pk_hour", "license_pk", "hour"),)


class AdminSession(Base):
    """A signed-in jobs page (admin/app.py): its cookie's nonce, hashed, until it expires or
    the admin logs out (the row is deleted: the cookie is worth nothing after)."""

    __tablename__ = "admin_sessions"

    nonce_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class AdminLoginFailures(Base):
    """Failed jobs-page logins in a row, per client address and per user name (`key`), and
    until when the next try is refused (the wait doubles with each failure)."""

    __tablename__ = "admin_login_failures"

    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    blocked_until: Mapped[dt.datetime] = mapped_column(UtcDateTime)
