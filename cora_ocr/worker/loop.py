"""Claim, lease, heartbeat and the step loop.

A worker holds one job at a time. Its lease is renewed by a heartbeat thread while a step
runs (copies can be long); every write is guarded by the lease, so a worker that lost its
job (lease expired and taken over, or the job aborted) can no longer change it.

Database and file-system trouble is expected weather: the loop never exits on it. On a
database outage it waits with backoff, logs one WARNING per outage and one INFO when it ends,
and gives back the job it held, which resumes at once and is not charged for the outage. A
step that failed on file-system trouble is tried again later; after `max_attempts` tries in
a row the job fails with InternalError, the reason kept.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Protocol

from cora_ocr.clock import Clock, SystemClock
from cora_ocr.connections import UPLOADS, Connections, sweep_staging
from cora_ocr.job_view import job_view
from cora_ocr.metrics import Metrics
from cora_ocr.outages import Backoff, Outage, describe, is_database_trouble, is_transient
from cora_ocr.profiles import Profiles
from cora_ocr.retention import purge
from cora_ocr.statuses import JobState, OcrErrorCode
from cora_ocr.store.job_store import JobStore
from cora_ocr.store.license_store import LicenseStore
from cora_ocr.store.records import JobRecord, JobUpdate
from cora_ocr.wakeup import LocalWakeups, Wakeup
from cora_ocr.worker.callbacks import Callbacks
from cora_ocr.worker.lease import Heartbeat
from cora_ocr.worker.policy import LicensePolicy
from cora_ocr.worker.steps import STEPS, Outcome, StepContext, StorageUnavailable
from cora_ocr.worker.sweep import sweep
from cora_ocr.worker.writes import GuardedWrites

log = logging.getLogger(__name__)


class WorkerHooks(Protocol):
    """Observation points around each step (metrics, tracing, fault-injection in tests)."""

    def before_step(self, job_id: int, state: JobState) -> None: ...

    def after_step(self, job_id: int, state: JobState, outcome: Outcome) -> None: ...


class NoHooks:
    def before_step(self, job_id: int, state: JobState) -> None:
        return None

    def after_step(self, job_id: int, state: JobState, outcome: Outcome) -> None:
        return None


@dataclass(frozen=True)
class WorkerConfig:
    lease_seconds: float = 30.0
    poll_seconds: float = 1.0
    max_attempts: int = 5
    idle_sleep_seconds: float = 0.5
    # Files in the robot folders that belong to no live job are removed once this old (0: never).
    orphan_seconds: float = 3600.0
    # How often the robot folders are swept.
    sweep_interval_seconds: float = 60.0
    # Final jobs older than this many days are purged once a day (0: never).
    retention_days: int = 0


CALLBACK_INTERVAL_SECONDS = 1.0  # how often due callbacks are looked for
PURGE_INTERVAL_SECONDS = 86_400.0  # retention: once a day


class Worker(GuardedWrites):
    """Drives jobs through their states: claims one with a lease, runs its steps, commits
    each outcome as a guarded transition, and removes the job's robot files when it ends.
    It never decides what a step does with files (steps do) nor what a license allows (the
    LicensePolicy does)."""

    def __init__(
        self,
        store: JobStore,
        connections: Connections,
        profiles: Profiles,
        config: WorkerConfig | None = None,
        clock: Clock | None = None,
        name: str | None = None,
        hooks: WorkerHooks | None = None,
        callback_hosts: frozenset[str] = frozenset(),
        licenses: LicenseStore | None = None,
        metrics: Metrics | None = None,
        wakeups: LocalWakeups | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics or Metrics()
        self.connections = connections
        self.profiles = profiles
        self.config = config or WorkerConfig()
        self.clock = clock or SystemClock()
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.hooks = hooks or NoHooks()
        self.lease = dt.timedelta(seconds=self.config.lease_seconds)
        self.stop_event = threading.Event()
        self.policy = LicensePolicy(licenses or LicenseStore(store.store))
        self.outage = Outage("database", log)
        self._next_sweep = 0.0
        self._held: int | None = None  # the job claimed and not yet given back
        self.callbacks = Callbacks(
            store, callback_hosts, self.clock, job_view, self.policy.licenses.callback_secret
        )
        self._next_callbacks = 0.0
        self._next_purge = 0.0
        self.wakeup = Wakeup(wakeups)

    # --- the loop ---------------------------------------------------------------------
    def run(self, burst: bool = False) -> int:
        """Work until stopped; with burst, until no job is due now. Returns jobs handled."""
        handled = 0
        if not burst:
            self.wakeup.start(self.store.store.engine, [p.output_dir for p in self.profiles.all()])
        try:
            while not self.stop_event.is_set():
                claimed = self._turn(burst)
                if claimed is None:
                    continue
                if claimed:
                    handled += 1
                elif burst:
                    break
                else:
                    self.wakeup.wait(self.config.idle_sleep_seconds)
        finally:
            self.wakeup.stop()
            self.callbacks.close()
        return handled

    def _turn(self, burst: bool) -> bool | None:
        """One turn of the loop: whether a job was claimed, None after an outage."""
        try:
            if self._held is not None:
                self._let_go(self._held)
            if time.monotonic() >= self._next_sweep:
                self.sweep()
            if self.config.retention_days and time.monotonic() >= self._next_purge:
                self.purge()
            if burst or time.monotonic() >= self._next_callbacks:
                self._next_callbacks = time.monotonic() + CALLBACK_INTERVAL_SECONDS
                self.callbacks.run_due()  # started on the callbacks' own threads
                if burst:
                    self.callbacks.wait()  # tests never sleep: a burst sees them through
            answered = self.wakeup.answered()
            if answered:
                self.store.make_due(answered, self.clock.now())
            claimed = self.run_once()
        except Exception as error:
            self.stop_event.wait(self.outage.failed(error))
            return None
        self.outage.succeeded()
        return claimed

    def stop(self) -> None:
        self.stop_event.set()
        self.wakeup.now()

    def purge(self) -> int:
        """Delete the jobs past the retention period (once a day)."""
        self._next_purge = time.monotonic() + PURGE_INTERVAL_SECONDS
        cutoff = self.clock.now() - dt.timedelta(days=self.config.retention_days)
        return purge(self.store, self.connections, cutoff)

    def sweep(self) -> int:
        """Remove robot-folder files that belong to no live job, and uploads' staged parts
        that no request removed, once old enough."""
        self._next_sweep = time.monotonic() + self.config.sweep_interval_seconds
        if self.config.orphan_seconds <= 0:
            return 0
        live = self.store.live_robot_names()
        now, age = self.clock.now().timestamp(), self.config.orphan_seconds
        staged = sweep_staging(self.connections.local_root(UPLOADS), now, age)
        return staged + sweep(self.profiles.all(), live, now, age)

    def run_once(self) -> bool:
        """Claim one due job and drive it as far as it goes now; False if none was due."""
        claim = self.store.claim(
            self.name,
            self.clock.now(),
            self.lease,
            skip_locked=self.store.dialect == "postgresql",
            backlogs={profile.name: profile.backlog for profile in self.profiles.all()},
        )
        if claim is None:
            return False
        self.metrics.worker_claims.inc()
        if claim.resumed_from is not None:
            self.metrics.worker_resumes.inc()
        job = claim.job
        self._held = job.id
        heartbeat = Heartbeat(self.store, job.id, self.name, self.clock, self.lease)
        with heartbeat:
            self._drive(job, heartbeat)
        self._held = None
        return True

    def _let_go(self, job_id: int) -> None:
        """Give back the lease of a job whose drive an outage interrupted: it is claimed again
        at once (by anyone), not after the lease runs out, and counts no stall."""
        self.store.release(job_id, self.name)
        self._held = None

    def _refusal(self, job: JobRecord) -> Outcome | None:
        """Why a claimed job must end before any step: it outlived too many workers, or its
        license no longer stands."""
        if job.stalls > self.config.max_attempts:
            return Outcome.fail(
                OcrErrorCode.InternalError,
                f"given up after {job.stalls} workers stopped while holding this job",
            )
        return self.policy.refusal(job, self.clock.now())

    def _drive(self, job: JobRecord, heartbeat: Heartbeat) -> None:
        state = JobState(job.state)
        refusal = self._refusal(job)
        if refusal is not None:
            self._commit(job, state, refusal)
            return
        while True:
            self.hooks.before_step(job.id, state)
            outcome = self._step(job, state)
            self.hooks.after_step(job.id, state, outcome)
            if heartbeat.lost:
                self._lost(job.id)
                return
            if outcome.target is None:
                if outcome.wait_seconds is None or not self._release(job, outcome):
                    self._lost(job.id)
                return
            committed = self._commit(job, state, outcome)
            if committed is None:
                self._lost(job.id)
                return
            if committed.target is JobState.THROTTLED:
                self._release(job, Outcome(wait_seconds=0.0, update=committed.update))
                return
            assert committed.target is not None
            if committed.target.is_final:
                return
            state = committed.target
            job = self._reload(job.id)

    def _step(self, job: JobRecord, state: JobState) -> Outcome:
        now = self.clock.now()
        context = StepContext(
            self.connections,
            self.profiles,
            now,
            self.config.poll_seconds,
            lambda name: self._record_output_name(job.id, name),
        )
        try:
            return STEPS[state](context, job)
        except Exception as error:
            if is_database_trouble(error):
                raise  # the service's outage, not the job's: the loop rides it out
            if is_transient(error):
                return self._retry_later(job, state, error)
            log.exception("step %s of job %s failed", state.value, job.id)
            return Outcome.fail(OcrErrorCode.InternalError, describe(error))

    def _retry_later(self, job: JobRecord, state: JobState, error: Exception) -> Outcome:
        """The step met trouble that may pass: try it again after a backoff, or give up after
        `max_attempts` tries in a row."""
        attempt = job.retries + 1
        if attempt >= self.config.max_attempts:
            if isinstance(error, StorageUnavailable):  # a server that never came back
                return Outcome.fail(
                    error.error_code, f"{error.reason} (given up after {attempt} tries)"
                )
            return Outcome.fail(
                OcrErrorCode.InternalError,
                f"the {state.value} step failed {attempt} times in a row; last: {describe(error)}",
            )
        backoff = Backoff(base=max(self.config.poll_seconds, 0.1), cap=60.0, failures=attempt - 1)
        reason = f"the {state.value} step failed ({describe(error)}); try {attempt + 1} follows"
        log.warning("job %s: %s", job.id, reason, extra={"job_id": job.id})
        return Outcome(
            wait_seconds=backoff.next_delay(),
            update=JobUpdate(retries=attempt, error_reason=reason),
        )
