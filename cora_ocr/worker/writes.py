"""A worker's writes, each guarded by its lease: a step's outcome committed as a compare-and-set
on the state it started from, the lease let go of, a job lost to another worker said so, the
robot's files of a job that ended removed. Worker (worker/loop.py) is the loop and this."""

from __future__ import annotations

import datetime as dt
import logging

from cora_ocr.clock import Clock
from cora_ocr.metrics import Metrics
from cora_ocr.profiles import Profiles
from cora_ocr.statuses import JobState
from cora_ocr.store.job_store import JobStore, Move
from cora_ocr.store.records import UNSET, JobRecord, JobUpdate
from cora_ocr.worker.policy import LicensePolicy
from cora_ocr.worker.steps import Outcome

log = logging.getLogger("cora_ocr.worker.loop")  # the worker's one logger


class GuardedWrites:
    """The worker's writes to a job it holds (Worker's second half)."""

    clock: Clock
    metrics: Metrics
    name: str
    policy: LicensePolicy
    profiles: Profiles
    store: JobStore

    # --- guarded writes -------------------------------------------------------------------
    def _commit(self, job: JobRecord, state: JobState, outcome: Outcome) -> Outcome | None:
        """Commit the outcome as a transition; the outcome committed (a start may become
        Throttled by the page budget), or None if the job is no longer ours."""
        assert outcome.target is not None
        now = self.clock.now()
        move = Move(
            state,
            outcome.target,
            actor=self.name,
            owner=self.name,
            error_code=outcome.error_code,
            reason=outcome.reason,
            ending=outcome.ending,
            update=JobUpdate(next_attempt_at=None, retries=0, error_reason=None) | outcome.update,
        )
        if state is JobState.QUEUED and outcome.target is JobState.PROCESSING_INPUT:
            reserved = outcome.update.pages_reserved
            reserve = reserved if isinstance(reserved, int) else 0
            made = self.store.start(job, move, reserve, now, self.policy.throttled(move))
            if made is not None and made.target is JobState.THROTTLED:
                outcome = Outcome(made.target, reason=made.reason, update=made.update)
            moved = made is not None
        else:
            moved = self.store.move(job.id, move, now)
        if not moved:
            return None
        assert outcome.target is not None
        log.info(
            "job %s: %s -> %s",
            job.id,
            state.value,
            outcome.target.value,
            extra={"job_id": job.id, "error_code": outcome.error_code.value},
        )
        if outcome.update.needs_review is True:
            self.metrics.jobs_need_review.labels(job.ocr_profile).inc()
        if outcome.target.is_final:
            self._remove_robot_files(job)
            self.metrics.job_seconds.labels(outcome.target.value).observe(
                max(0.0, (now - job.created_at).total_seconds())
            )
            if outcome.target is JobState.COMPLETED:
                total = outcome.update.pages_total
                pages = job.pages_total if total is UNSET else total
                if pages:
                    self.metrics.job_pages.observe(pages)
        return outcome

    def _release(self, job: JobRecord, outcome: Outcome) -> bool:
        assert outcome.wait_seconds is not None
        wait = JobUpdate(
            next_attempt_at=self.clock.now() + dt.timedelta(seconds=outcome.wait_seconds)
        )
        return self.store.release(job.id, self.name, wait | outcome.update)

    def _record_output_name(self, job_id: int, name: str) -> bool:
        return self.store.set_output_name(job_id, self.name, name)

    def _reload(self, job_id: int) -> JobRecord:
        job = self.store.get(job_id)
        assert job is not None
        return job

    def _lost(self, job_id: int) -> None:
        """Another party changed the job under us: clean up if it was aborted."""
        self.metrics.worker_lease_losses.inc()
        job = self._reload(job_id)
        log.info("job %s is no longer ours (now %s)", job_id, job.state, extra={"job_id": job_id})
        if job.state == JobState.ABORTED.value:
            self._remove_robot_files(job)

    def _remove_robot_files(self, job: JobRecord) -> None:
        profile = self.profiles.get(job.ocr_profile)
        if profile is not None and job.robot_name is not None:
            profile.cleanup(job.robot_name, job.id)
