"""Use cases shared by SOAP, the CLI and the worker: submit, get_status, list, show."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cora_ocr.clock import Clock, SystemClock
from cora_ocr.connections import Connections
from cora_ocr.errors import ClientError, JobNotFound, KeyInFlight, KeyReused
from cora_ocr.job_rules import (
    MAX_EXTERNAL_CONTEXT,
    MAX_PROFILE,
    FileBatchRequest,
    FileBatchRules,
    FileRef,
)
from cora_ocr.licensing import Principal, may_see
from cora_ocr.profiles import Profiles
from cora_ocr.statuses import JobState, OcrErrorCode, OcrStatus
from cora_ocr.store.job_store import ANY_JOB, JobFilter, JobStore, Move
from cora_ocr.store.records import JobRecord, StatusRow
from cora_ocr.wakeup import LocalWakeups

__all__ = [
    "MAX_EXTERNAL_CONTEXT",
    "MAX_PROFILE",
    "FileBatchRequest",
    "FileRef",
    "JobService",
    "StatusView",
]

KEY_SECONDS = 24 * 3600  # how long an Idempotency-Key answers with its job


@dataclass(frozen=True)
class StatusView:
    status: OcrStatus
    error_code: OcrErrorCode
    external_context: str | None


NOT_FOUND = StatusView(OcrStatus.NotFound, OcrErrorCode.NoError, None)
# A stored value to its member by a dict lookup: an enum call costs a microsecond per poll.
_STATES = {state.value: state for state in JobState}
_ERROR_CODES = {code.value: code for code in OcrErrorCode}
NOT_STARTED = (
    "not started within its TimeOut: no worker took it, or its profile's robot backlog stayed full"
)
_WAITING_TO_START = frozenset({JobState.QUEUED.value, JobState.THROTTLED.value})


class JobService(FileBatchRules):
    """The use cases every edge calls (SOAP, HTTP, CLI): submit, status, list, show, abort,
    retry. It owns the rules of a job's life that do not need a worker, such as a queued job
    timing out when no worker takes it; it never touches files of a running job."""

    def __init__(
        self,
        store: JobStore,
        connections: Connections,
        profiles: Profiles,
        max_timeout: int,
        clock: Clock | None = None,
        wakeups: LocalWakeups | None = None,
    ) -> None:
        self.store = store
        self.connections = connections
        self.profiles = profiles
        self.max_timeout = max_timeout
        self.clock = clock or SystemClock()
        self.wakeups = wakeups

    def submit(
        self,
        request: FileBatchRequest,
        principal: Principal | None = None,
        actor: str = "soap",
        internal: bool = False,
        callback_url: str | None = None,
    ) -> int:
        checked = self.validate(request, internal, principal)
        job = dataclasses.replace(
            checked,
            license_pk=principal.license_pk if principal is not None else None,
            app_pk=principal.app_pk if principal is not None else None,
            start_by=self._start_by(checked.timeout_seconds),
            callback_url=callback_url,
        )
        job_id = self.store.submit(job, actor, self.clock.now())
        if self.wakeups is not None:  # this process's idle workers (PostgreSQL tells the others)
            self.wakeups.job_submitted()
        return job_id

    def submit_once(
        self, owner: str, key: str, digest: str, submit: Callable[[], int]
    ) -> tuple[int, bool]:
        """Submit (`submit()`) at most once per `key` of one caller (`owner`) within
        KEY_SECONDS: (the job, whether it was made earlier). The same key with another
        document (`digest`) is KeyReused; while its first request is still making the job,
        KeyInFlight. A submit that is refused lets go of the key."""
        keep = dt.timedelta(seconds=KEY_SECONDS)
        use = self.store.take_key(owner, key, digest, self.clock.now(), keep)
        if not use.new:
            if use.digest != digest:
                raise KeyReused(
                    "Idempotency-Key: already used with another document; a new document"
                    " needs a new key"
                )
            if use.job_id is None:
                raise KeyInFlight(
                    "Idempotency-Key: its first request is still making the job; retry"
                )
            return use.job_id, True
        try:
            job_id = submit()
        except BaseException:
            self.store.drop_key(owner, key)
            raise
        self.store.bind_key(owner, key, job_id)
        return job_id, False

    def status(self, job_id: int | None, principal: Principal | None = None) -> StatusView:
        """The wire status of a job; another license's job is NotFound, as if it did not exist."""
        if job_id is None:
            return NOT_FOUND
        row = self.store.status(job_id)
        if row is None:
            return NOT_FOUND
        if not may_see(principal, row.license_pk):
            return NOT_FOUND
        state = _STATES[row.state]
        if self._overdue(row) and self._time_out(job_id, state):
            return StatusView(OcrStatus.Failed, OcrErrorCode.TimedOut, row.external_context)
        return StatusView(state.wire, _ERROR_CODES[row.error_code], row.external_context)

    def _start_by(self, timeout_seconds: int) -> int:
        """When a job queued now must have started: now plus its TimeOut, whole seconds up."""
        return math.ceil(self.clock.now().timestamp()) + timeout_seconds

    def _overdue(self, row: StatusRow) -> bool:
        return (
            row.state in _WAITING_TO_START
            and row.start_by is not None
            and self.clock.now().timestamp() >= row.start_by
        )

    def _time_out(self, job_id: int, state: JobState) -> bool:
        """Fail a job that no worker started within its TimeOut, so that its caller gets an
        answer even with no worker running; False if a worker moved it first."""
        timed_out = Move(
            state,
            JobState.FAILED,
            actor="web",
            error_code=OcrErrorCode.TimedOut,
            reason=NOT_STARTED,
        )
        return self.store.move(job_id, timed_out, self.clock.now())

    def list(self, state: JobState | None = None, limit: int = 50) -> list[JobRecord]:
        return self.store.page(ANY_JOB if state is None else JobFilter.state(state), limit)

    def page(
        self, license_pk: int | None, chosen: JobFilter, limit: int, before_id: int | None
    ) -> Sequence[JobRecord]:
        """A license's jobs (all, for None) meeting `chosen`, newest first, older than
        `before_id`."""
        if license_pk is not None:
            chosen = JobFilter.license(license_pk) & chosen
        return self.store.page(chosen, limit, before_id)

    def get(self, job_id: int) -> JobRecord:
        """The job without its history; JobNotFound if there is none."""
        return self._get(job_id)

    def show(self, job_id: int) -> JobRecord:
        """The job with its events loaded, for `cora-ocr jobs show`."""
        return self._get(job_id, with_events=True)

    def abort(self, job_id: int, actor: str = "cli") -> JobState:
        """Abort a job that is not final; a racing worker cannot overwrite it afterwards."""
        for _ in range(10):
            job = self._get(job_id)
            state = JobState(job.state)
            if state.is_final:
                raise ClientError(
                    f"job {job_id} is already {state.wire.value}; it cannot be aborted"
                )
            aborted = Move(state, JobState.ABORTED, actor=actor, reason="aborted")
            moved = self.store.move(job_id, aborted, self.clock.now())
            if moved:
                profile = self.profiles.get(job.ocr_profile)
                if profile is not None and job.robot_name is not None:
                    profile.cleanup(job.robot_name, job.id)
                return state
        raise ClientError(f"job {job_id} keeps changing state; try again")

    def delete(self, job_id: int, actor: str = "rest") -> None:
        """A caller's delete: the job is aborted if it is not final, then deleted for its
        callers (JobNotFound for them from then on; the operator keeps it and its history)."""
        job = self._get(job_id)
        if job.deleted_at is not None:
            raise JobNotFound(f"no job with id {job_id}")
        if not JobState(job.state).is_final:
            with contextlib.suppress(ClientError):  # it turned final meanwhile
                self.abort(job_id, actor)
        if not self.store.delete(job_id, actor, self.clock.now()):
            now = self._get(job_id)
            if now.deleted_at is None:  # still running: aborting lost every race
                raise ClientError(f"job {job_id} keeps changing state; try again")

    def retry(self, job_id: int, actor: str = "cli") -> None:
        """Put a Failed job back in the queue, as if it had just been submitted."""
        job = self._get(job_id)
        if job.state != JobState.FAILED.value:
            raise ClientError(
                f"job {job_id} is {JobState(job.state).wire.value}; only Failed jobs can be retried"
            )
        moved = self.store.requeue(
            job, actor, self._start_by(job.timeout_seconds), self.clock.now()
        )
        if not moved:
            raise ClientError(f"job {job_id} changed state meanwhile; try again")

    def _get(self, job_id: int, with_events: bool = False) -> JobRecord:
        job = self.store.get(job_id, with_events)
        if job is None:
            raise JobNotFound(f"no job with id {job_id}")
        return job
