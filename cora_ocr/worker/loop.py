"""Claim, lease, heartbeat and the step loop.

A worker holds one job at a time. Its lease is renewed by a heartbeat thread while a step
runs (copies can be long); every write is guarded by the lease, so a worker that lost its
job (lease expired and taken over, or the job aborted) can no longer change it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from typing import Protocol

from cora_ocr.clock import Clock, SystemClock
from cora_ocr.connections import Connections
from cora_ocr.profiles import Profiles
from cora_ocr.statuses import JobState, OcrErrorCode
from cora_ocr.store import Job, Store, queries
from cora_ocr.worker.steps import STEPS, Outcome, StepContext
from cora_ocr.worker.throttle import PageBudget

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


class Heartbeat:
    """Renews a lease every third of its length until stopped."""

    def __init__(self, worker: Worker, job_id: int) -> None:
        self.worker, self.job_id = worker, job_id
        self.stopped = threading.Event()
        self.lost = False
        self.thread = threading.Thread(target=self._beat, name=f"heartbeat-{job_id}", daemon=True)

    def _beat(self) -> None:
        interval = self.worker.config.lease_seconds / 3
        while not self.stopped.wait(interval):
            try:
                with self.worker.store.session.begin() as session:
                    if not queries.heartbeat(
                        session,
                        self.job_id,
                        self.worker.name,
                        self.worker.clock.now(),
                        self.worker.lease,
                    ):
                        self.lost = True
                        return
            except Exception:  # a database hiccup: try again at the next beat
                log.warning("heartbeat failed", exc_info=True, extra={"job_id": self.job_id})

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stopped.set()
        self.thread.join()


class Worker:
    def __init__(
        self,
        store: Store,
        connections: Connections,
        profiles: Profiles,
        config: WorkerConfig | None = None,
        clock: Clock | None = None,
        name: str | None = None,
        hooks: WorkerHooks | None = None,
    ) -> None:
        self.store = store
        self.connections = connections
        self.profiles = profiles
        self.config = config or WorkerConfig()
        self.clock = clock or SystemClock()
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.hooks = hooks or NoHooks()
        self.lease = dt.timedelta(seconds=self.config.lease_seconds)
        self.stop_event = threading.Event()
        self.budget = PageBudget(store)

    # --- the loop ---------------------------------------------------------------------
    def run(self, burst: bool = False) -> int:
        """Work until stopped; with burst, until no job is due now. Returns jobs handled."""
        handled = 0
        while not self.stop_event.is_set():
            if self.run_once():
                handled += 1
            elif burst:
                break
            else:
                self.stop_event.wait(self.config.idle_sleep_seconds)
        return handled

    def stop(self) -> None:
        self.stop_event.set()

    def run_once(self) -> bool:
        """Claim one due job and drive it as far as it goes now; False if none was due."""
        with self.store.session.begin() as session:
            job = queries.claim(
                session,
                self.name,
                self.clock.now(),
                self.lease,
                skip_locked=self.store.dialect == "postgresql",
            )
        if job is None:
            return False
        with Heartbeat(self, job.id) as heartbeat:
            self._drive(job, heartbeat)
        return True

    def _drive(self, job: Job, heartbeat: Heartbeat) -> None:
        state = JobState(job.state)
        if job.stalls > self.config.max_attempts:
            self._commit(
                job,
                state,
                Outcome.fail(
                    OcrErrorCode.InternalError,
                    f"given up after {job.stalls} workers stopped while holding this job",
                ),
            )
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
            if not self._commit(job, state, outcome):
                self._lost(job.id)
                return
            if outcome.target.is_final:
                return
            if outcome.target is JobState.THROTTLED:
                self._release(job, Outcome(wait_seconds=0.0, columns=outcome.columns))
                return
            state = outcome.target
            job = self._reload(job.id)

    def _step(self, job: Job, state: JobState) -> Outcome:
        now = self.clock.now()
        context = StepContext(
            self.connections,
            self.profiles,
            now,
            self.config.poll_seconds,
            lambda name: self._record_output_name(job.id, name),
            lambda candidate: self.budget.throttled_until(candidate, now),
        )
        try:
            return STEPS[state](context, job)
        except Exception as exc:
            log.exception("step %s of job %s failed", state.value, job.id)
            return Outcome.fail(OcrErrorCode.InternalError, f"{type(exc).__name__}: {exc}")

    # --- guarded writes -------------------------------------------------------------------
    def _commit(self, job: Job, state: JobState, outcome: Outcome) -> bool:
        assert outcome.target is not None
        now = self.clock.now()
        columns = {"next_attempt_at": None, **outcome.columns}
        with self.store.session.begin() as session:
            moved = queries.transition(
                session,
                job.id,
                state,
                outcome.target,
                actor=self.name,
                owner=self.name,
                error_code=outcome.error_code,
                reason=outcome.reason,
                now=now,
                **columns,
            )
            if moved and outcome.target is JobState.COMPLETED:
                self.budget.record_completion(session, job, now)
        if moved:
            log.info(
                "job %s: %s -> %s",
                job.id,
                state.value,
                outcome.target.value,
                extra={"job_id": job.id, "error_code": outcome.error_code.value},
            )
        return moved

    def _release(self, job: Job, outcome: Outcome) -> bool:
        assert outcome.wait_seconds is not None
        columns = {
            "next_attempt_at": self.clock.now() + dt.timedelta(seconds=outcome.wait_seconds),
            **outcome.columns,
        }
        with self.store.session.begin() as session:
            return queries.release(session, job.id, self.name, **columns)

    def _record_output_name(self, job_id: int, name: str) -> bool:
        with self.store.session.begin() as session:
            return queries.set_columns(session, job_id, self.name, output_final_name=name)

    def _reload(self, job_id: int) -> Job:
        with self.store.session() as session:
            job = queries.get_job(session, job_id)
            assert job is not None
            return job

    def _lost(self, job_id: int) -> None:
        """Another party changed the job under us: clean up if it was aborted."""
        job = self._reload(job_id)
        log.info("job %s is no longer ours (now %s)", job_id, job.state, extra={"job_id": job_id})
        if job.state == JobState.ABORTED.value:
            profile = self.profiles.get(job.ocr_profile)
            if profile is not None:
                profile.cleanup(job.input_name, job.id)
