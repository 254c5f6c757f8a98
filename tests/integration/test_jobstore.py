"""JobStore on real SQLite and PostgreSQL: its named filters select what the life cycle says,
its records are what was committed, a start counts pages against the hourly budget in its
own transaction, and a callback attempt is taken by one worker only."""

from __future__ import annotations

import datetime as dt

from cora_ocr.licensing import Licensing
from cora_ocr.services import Services
from cora_ocr.statuses import Ending, JobState, OcrErrorCode
from cora_ocr.store.job_store import ANY_JOB, Budget, JobFilter, Move
from cora_ocr.store.license_queries import hour_of
from cora_ocr.store.models import utcnow
from cora_ocr.store.records import JobUpdate
from tests.support.calls import new_job


def end(services: Services, job_id: int, target: JobState, ending: Ending | None) -> None:
    move = Move(JobState.QUEUED, target, actor="test", reason="test", ending=ending)
    assert services.job_store.move(job_id, move, utcnow())


def test_named_filters_select_by_state_and_stored_ending(services: Services) -> None:
    jobs = services.job_store
    unreadable, engine, stopped, aborted, queued = (new_job(services.store) for _ in range(5))
    end(services, unreadable, JobState.FAILED, Ending.UNSUPPORTED_MEDIA)
    end(services, engine, JobState.FAILED, Ending.ENGINE_ERROR)
    end(services, stopped, JobState.ABORTED, Ending.LICENSE)
    end(services, aborted, JobState.ABORTED, None)

    def ids(chosen: JobFilter) -> list[int]:
        return [job.id for job in jobs.page(chosen, limit=50)]

    assert ids(JobFilter.status("UnsupportedMediaType")) == [unreadable]
    assert ids(JobFilter.status("ProcessingError")) == [engine]
    assert ids(JobFilter.status("LicenseError")) == [stopped]
    assert ids(JobFilter.status("Aborted")) == [aborted]
    assert ids(JobFilter.status("Queued")) == [queued]
    assert ids(JobFilter.state(JobState.FAILED)) == [engine, unreadable]  # newest first
    assert ids(ANY_JOB) == [queued, aborted, stopped, engine, unreadable]
    assert ids(ANY_JOB)[:2] == [job.id for job in jobs.page(ANY_JOB, limit=2)]
    assert ids(JobFilter.created_before(utcnow() - dt.timedelta(hours=1))) == []
    assert [job.id for job in jobs.page(ANY_JOB, 50, before_id=aborted)] == [
        stopped,
        engine,
        unreadable,
    ]


def test_a_record_holds_what_was_committed_and_its_history(services: Services) -> None:
    job_id = new_job(services.store, activity_metadata={"CallerId": 7})
    end(services, job_id, JobState.FAILED, Ending.ENGINE_ERROR)
    job = services.job_store.get(job_id, with_events=True)
    assert job is not None
    assert (job.state, job.ending, job.error_code) == ("failed", "engine_error", "NoError")
    assert job.activity_metadata == {"CallerId": 7}
    assert job.finished_at is not None and job.finished_at.utcoffset() == dt.timedelta(0)
    assert [(e.from_state, e.to_state) for e in job.events] == [
        (None, "queued"),
        ("queued", "failed"),
    ]
    assert services.job_store.get(10**12) is None


def licensed_job(services: Services, licensing: Licensing, pages_quota: int) -> int:
    license_id = licensing.create_license("Acme", page_quota=pages_quota)
    licensing.create_app(license_id, "intake")
    lic = services.license_store.find(license_id)
    assert lic is not None
    app = services.license_store.apps(lic.id)[0]
    return new_job(services.store, license_pk=lic.id, app_pk=app.id)


def test_a_start_reserves_pages_or_takes_the_move_the_budget_calls_for(
    services: Services,
) -> None:
    jobs, now = services.job_store, utcnow()
    first = licensed_job(services, services.licensing, pages_quota=5)
    job = jobs.get(first)
    assert job is not None and job.license_pk is not None
    start = Move(
        JobState.QUEUED,
        JobState.PROCESSING_INPUT,
        actor="w",
        update=JobUpdate(pages_reserved=4, started_at=now),
    )
    seen: list[Budget] = []

    def over(budget: Budget) -> Move:
        seen.append(budget)
        return Move(JobState.QUEUED, JobState.THROTTLED, actor="w", reason="over")

    assert jobs.start(job, start, 4, now, over) == start
    assert services.license_store.hour_usage(job.license_pk, hour_of(now)) == (0, 4)
    second = new_job(services.store, license_pk=job.license_pk, app_pk=job.app_pk)
    other = jobs.get(second)
    assert other is not None
    made = jobs.start(other, start, 4, now, over)
    assert made is not None and made.target is JobState.THROTTLED
    assert seen == [Budget(4, 5, 4, hour_of(now) + dt.timedelta(hours=1))]
    assert services.license_store.hour_usage(job.license_pk, hour_of(now)) == (0, 4)
    # Failing gives the reservation back, in the same transaction.
    failed = Move(
        JobState.PROCESSING_INPUT,
        JobState.FAILED,
        actor="w",
        error_code=OcrErrorCode.InternalError,
    )
    assert jobs.move(first, failed, now)
    assert services.license_store.hour_usage(job.license_pk, hour_of(now)) == (0, 0)


def test_a_callback_attempt_is_taken_once(services: Services) -> None:
    jobs, now = services.job_store, utcnow()
    job_id = new_job(services.store, callback_url="http://127.0.0.1:9/")
    end(services, job_id, JobState.ABORTED, None)
    due = jobs.due_callbacks(now, 10)
    assert [job.id for job in due] == [job_id]
    later = now + dt.timedelta(seconds=60)
    assert jobs.claim_callback(due[0], later)
    assert not jobs.claim_callback(due[0], later)  # read before the first claim: too late
    assert jobs.due_callbacks(now, 10) == []
    jobs.record_callback(job_id, "aborted", 1, "sent", "callback sent", now)
    job = jobs.get(job_id, with_events=True)
    assert job is not None and (job.callback_state, job.callback_attempts) == ("sent", 1)
    assert job.events[-1].reason == "callback sent" and job.events[-1].actor == "callback"


def test_only_a_final_job_is_deleted_and_only_once(services: Services) -> None:
    jobs, now = services.job_store, utcnow()
    running, ended = new_job(services.store), new_job(services.store)
    end(services, ended, JobState.ABORTED, None)
    assert not jobs.delete(running, "rest", now)  # not final: abort it first
    assert jobs.delete(ended, "rest", now)
    assert not jobs.delete(ended, "rest", now)
    listed = [job.id for job in jobs.page(JobFilter.not_deleted(), 50)]
    assert running in listed and ended not in listed
    job = jobs.get(ended, with_events=True)
    assert job is not None and job.deleted_at == now
    assert (job.events[-1].reason, job.events[-1].actor) == ("deleted by its caller", "rest")


def test_a_submit_key_is_taken_once_bound_and_renewed_after_it_lapses(
    services: Services,
) -> None:
    jobs, now, day = services.job_store, utcnow(), dt.timedelta(days=1)
    assert jobs.take_key("7", "k", "a" * 64, now, day).new
    assert jobs.take_key("7", "k", "a" * 64, now, day) == (False, "a" * 64, None)  # in flight
    job_id = new_job(services.store)
    jobs.bind_key("7", "k", job_id)
    assert jobs.take_key("7", "k", "b" * 64, now, day) == (False, "a" * 64, job_id)
    assert jobs.take_key("8", "k", "b" * 64, now, day).new  # another caller's key
    assert jobs.take_key("7", "k", "b" * 64, now + day, day).new  # lapsed: taken anew
    jobs.drop_key("7", "k")  # not bound yet: let go
    assert jobs.take_key("7", "k", "c" * 64, now + day, day).new
