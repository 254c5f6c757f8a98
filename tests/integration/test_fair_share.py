"""Fair share and priority (issue 28): queued jobs start license by license in turn, within a
license by priority, and no more of a profile's documents are handed to the robot than its
backlog; the robot reads them in the order they were handed on. On SQLite and PostgreSQL;
through SOAP with the real robot where a start is what the test is about."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import zeep

from cora_ocr.robot import samples
from cora_ocr.robot.hotfolder import Robot
from cora_ocr.services import Services
from cora_ocr.statuses import JobState, Priority
from cora_ocr.store.job_store import Move
from cora_ocr.store.models import utcnow
from cora_ocr.store.records import JobUpdate
from tests.conftest import Strict
from tests.support.calls import new_job
from tests.support.factories import ManualClock, file_batch_args, file_ref
from tests.support.robots import work_rounds

LEASE = dt.timedelta(seconds=30)


class Ticking:
    """The test's clock, a millisecond later at each reading: the order of starts shows."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock

    def now(self) -> dt.datetime:
        self.clock.advance(0.001)
        return self.clock.now()  # type: ignore[no-any-return]


def license_pk(services: Services, name: str, **options: object) -> int:
    license_id = services.licensing.create_license(name, **options)  # type: ignore[arg-type]
    found = services.license_store.find(license_id)
    assert found is not None
    return found.id


def starts(services: Services, count: int, backlogs: dict[str, int] | None = None) -> list[int]:
    """The jobs the next `count` claims start, in order (each handed on: ProcessingInput)."""
    jobs, started = services.job_store, []
    for _ in range(count):
        claim = jobs.claim(
            "w", utcnow(), LEASE, services.store.dialect == "postgresql", backlogs or {}
        )
        if claim is None:
            break
        move = Move(JobState.QUEUED, JobState.PROCESSING_INPUT, "test", owner="w")
        assert jobs.move(claim.job.id, move, utcnow())
        later = JobUpdate(next_attempt_at=utcnow() + dt.timedelta(hours=1))
        assert jobs.release(claim.job.id, "w", later)
        started.append(claim.job.id)
    return started


def test_licenses_take_turns_whatever_their_queues_and_priority_orders_each(
    services: Services,
) -> None:
    a, b, c = (license_pk(services, name) for name in "ABC")
    backfill = [new_job(services.store, license_pk=a) for _ in range(200)]
    interactive = new_job(services.store, license_pk=b)
    urgent = new_job(services.store, license_pk=a, priority=int(Priority.high))
    later = [new_job(services.store, license_pk=c), new_job(services.store, license_pk=c)]
    anonymous = new_job(services.store)

    order = starts(services, 8)
    # Each owner's first job in turn (one never served before goes first), A's urgent job
    # ahead of its backfill, then round and round: A, B, C and the local setup.
    assert order[:4] == [urgent, interactive, later[0], anonymous]
    assert order[4:] == [backfill[0], later[1], backfill[1], backfill[2]]


def test_a_full_backlog_keeps_its_profiles_jobs_queued_and_others_start(
    services: Services,
) -> None:
    first, second, third = (new_job(services.store) for _ in range(3))
    other = new_job(services.store, ocr_profile="Other")
    assert starts(services, 5, {"Default": 2}) == [first, second, other]
    job = services.job_store.get(third)
    assert job is not None and job.state == JobState.QUEUED.value
    done = Move(JobState.PROCESSING_INPUT, JobState.FAILED, "test", reason="test")
    assert services.job_store.move(first, done, utcnow())
    assert starts(services, 5, {"Default": 2}) == [third]


def test_one_job_of_another_license_starts_before_the_third_of_two_hundred(
    strict: Strict, connection_root: Path
) -> None:
    """Through SOAP, the real worker and the real robot: license A submits 200 pages, then
    license B one; B's job starts (and is read) before A's third."""
    services = strict.services
    services.profiles.ensure_folders()
    scans = connection_root / "fair"
    scans.mkdir()
    samples.write_png(scans / "page.png", samples.sample_lines(seed=3, count=1))

    def client() -> zeep.Client:
        return strict.client(strict.credentials())

    def submit(soap: zeep.Client, number: int) -> int:
        args = file_batch_args(
            InputFile=file_ref("page.png", "fair"),
            OutPutFile=file_ref(f"out-{number}.xml", "fair"),
            PutModel="Rename",
        )
        return int(soap.service.FileBatch(**args))

    first, second = client(), client()
    backfill = [submit(first, number) for number in range(200)]
    interactive = submit(second, 200)

    worker = services.worker(clock=Ticking(strict.clock), name="fair-worker")
    profile = services.profiles.get("Default")
    assert profile is not None
    robot = Robot(profile)

    def completed() -> bool:
        job = services.job_store.get(interactive)
        return job is not None and job.state == JobState.COMPLETED.value

    try:
        work_rounds(worker, robot, strict.clock, 5, done=completed)
    finally:
        robot.close()
    job = services.job_store.get(interactive)
    assert job is not None
    assert job.state == JobState.COMPLETED.value, job
    started = {}
    for job_id in [*backfill[:3], interactive]:
        record = services.job_store.get(job_id)
        assert record is not None
        if record.started_at is not None:
            started[job_id] = record.started_at
    assert sorted(started, key=started.__getitem__)[:2] == [backfill[0], interactive]
    assert backfill[2] not in started or started[interactive] < started[backfill[2]]


def test_the_robot_takes_documents_in_the_order_they_were_handed_on(
    services: Services,
) -> None:
    """By the time each document landed in the input folder, not by its name or job id."""
    profile = services.profiles.get("Default")
    assert profile is not None
    services.profiles.ensure_folders()
    for moment, name in enumerate(["9-aa-late.png", "1-bb-first.png", "5-cc-second.png"]):
        path = profile.input_path(name)
        path.write_bytes(b"\x89PNG\r\n\x1a\n")
        os.utime(path, (1_000_000 + moment, 1_000_000 + moment))
    robot = Robot(profile)
    try:
        assert [path.name for path in robot.pending()] == [
            "9-aa-late.png",
            "1-bb-first.png",
            "5-cc-second.png",
        ]
    finally:
        robot.close()
        for name in ("9-aa-late.png", "1-bb-first.png", "5-cc-second.png"):
            profile.input_path(name).unlink()
