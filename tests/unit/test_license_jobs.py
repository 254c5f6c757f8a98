"""Licensing as the worker applies it: pages reserved when a job starts (so parallel jobs never
run past the hourly budget) and given back when it fails; jobs of a license suspended,
expired or whose app was disabled after they were queued stop with a "license error"."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
import zeep

from cora_ocr.report import describe_job
from cora_ocr.robot import samples
from cora_ocr.statuses import JobState
from cora_ocr.worker import Worker
from cora_ocr.worker.steps import Outcome
from tests.conftest import Strict
from tests.support.factories import file_batch_args, file_ref, wire_status
from tests.support.robots import SimulatedRobot, robot_files


class Tenant:
    """One license with one app, submitting through its own SOAP client."""

    def __init__(self, strict: Strict, root: Path, **license_options: object) -> None:
        self.strict, self.root = strict, root
        self.license_id, self.app_id = strict.credentials(**license_options)
        self.client: zeep.Client = strict.client((self.license_id, self.app_id))

    def submit(self, name: str, data: bytes = b"one page", **overrides: Any) -> int:
        (self.root / "in").mkdir(exist_ok=True)
        if not (self.root / "in" / name).exists():
            (self.root / "in" / name).write_bytes(data)
        out = file_ref(Path(name).stem + ".xml", "out")
        args = file_batch_args(
            InputFile=file_ref(name, "in"), OutPutFile=out, PutModel="Rename", **overrides
        )
        return int(self.client.service.FileBatch(**args))

    def submit_three_pages(self) -> int:
        """A real three-page PDF (its pages are counted when the job starts)."""
        (self.root / "in").mkdir(exist_ok=True)
        lines = samples.sample_lines(seed=1, count=1)
        samples.write_pdf(self.root / "in" / "three.pdf", [lines, lines, lines])
        return self.submit("three.pdf")

    def pages_used(self) -> int:
        since = self.strict.clock.now() - dt.timedelta(hours=2)
        return sum(row[5] for row in self.strict.licensing.usage(self.license_id, since))


@pytest.fixture
def robot(strict: Strict) -> SimulatedRobot:
    strict.services.profiles.ensure_folders()
    profile = strict.services.profiles.get("Default")
    assert profile is not None
    return SimulatedRobot(profile)


@pytest.fixture
def worker(strict: Strict) -> Worker:
    return strict.services.worker(clock=strict.clock, name="license-worker")


def states(strict: Strict, ids: list[int]) -> list[str]:
    return [strict.services.jobs.show(job_id).state for job_id in ids]


def test_five_one_page_jobs_on_three_pages_an_hour_run_three(
    strict: Strict,
    connection_root: Path,
    robot: SimulatedRobot,
    worker: Worker,
) -> None:
    tenant = Tenant(strict, connection_root, page_quota=3)
    ids = [tenant.submit(f"doc{n}.png") for n in range(5)]
    worker.run(burst=True)
    assert states(strict, ids).count("waiting_for_output") == 3
    assert states(strict, ids).count("throttled") == 2
    assert tenant.pages_used() == 3, "reserved when they started"

    robot.process_all()
    strict.clock.advance(1)
    worker.run(burst=True)
    assert states(strict, ids).count("completed") == 3
    assert tenant.pages_used() == 3, "completion counts nothing twice"
    throttled = next(
        job_id for job_id in ids if strict.services.jobs.show(job_id).state != "completed"
    )
    reason = strict.services.jobs.show(throttled).events[-1].reason or ""
    assert "3 of 3 pages used, this job needs 1" in reason

    strict.clock.advance(60)  # the next hour
    worker.run(burst=True)
    robot.process_all()
    strict.clock.advance(1)
    worker.run(burst=True)
    assert states(strict, ids) == ["completed"] * 5


def test_parallel_workers_never_run_past_the_budget(
    strict: Strict,
    connection_root: Path,
) -> None:
    """Two workers each compute a start at the same moment, then both commit it."""
    tenant = Tenant(strict, connection_root, page_quota=3)
    ids = [tenant.submit(f"doc{n}.png") for n in range(5)]
    both = threading.Barrier(2, timeout=2)

    class MeetAfterStart:
        def before_step(self, job_id: int, state: JobState) -> None:
            return None

        def after_step(self, job_id: int, state: JobState, outcome: Outcome) -> None:
            if state is JobState.QUEUED:
                # Broken: the other worker found nothing left to start.
                with contextlib.suppress(threading.BrokenBarrierError):
                    both.wait()

    workers = [
        strict.services.worker(clock=strict.clock, name=f"w{n}", hooks=MeetAfterStart())
        for n in range(2)
    ]
    threads = [threading.Thread(target=w.run, kwargs={"burst": True}) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert states(strict, ids).count("throttled") == 2
    assert tenant.pages_used() == 3


def test_a_job_reserves_its_documents_page_count(
    strict: Strict,
    connection_root: Path,
    worker: Worker,
) -> None:
    tenant = Tenant(strict, connection_root, page_quota=4)
    three = tenant.submit_three_pages()
    one, other = tenant.submit("a.png"), tenant.submit("b.png")
    worker.run(burst=True)
    assert strict.services.jobs.show(three).pages_reserved == 3
    assert states(strict, [three, one, other]) == [
        "waiting_for_output",
        "waiting_for_output",
        "throttled",
    ]


def test_a_job_larger_than_the_budget_runs_alone_in_an_empty_hour(
    strict: Strict,
    connection_root: Path,
    worker: Worker,
) -> None:
    tenant = Tenant(strict, connection_root, page_quota=2)
    big, small = tenant.submit_three_pages(), tenant.submit("a.png")
    worker.run(burst=True)
    assert states(strict, [big, small]) == ["waiting_for_output", "throttled"]


def test_a_failed_job_gives_its_pages_back(
    strict: Strict,
    connection_root: Path,
    robot: SimulatedRobot,
    worker: Worker,
) -> None:
    tenant = Tenant(strict, connection_root, page_quota=1)
    refused = tenant.submit("refused.png")
    worker.run(burst=True)
    assert tenant.pages_used() == 1
    name = strict.services.jobs.show(refused).robot_name
    assert name is not None
    robot.refuse(name, "not a document")
    strict.clock.advance(1)
    worker.run(burst=True)
    assert strict.services.jobs.show(refused).error_code == "FailedToPutInputFile"
    assert tenant.pages_used() == 0
    after = tenant.submit("after.png")
    worker.run(burst=True)
    assert strict.services.jobs.show(after).state == "waiting_for_output"


@pytest.mark.parametrize("cause", ["suspended", "expired", "app disabled"])
def test_jobs_of_a_license_that_no_longer_stands_stop(
    strict: Strict,
    connection_root: Path,
    robot: SimulatedRobot,
    worker: Worker,
    cause: str,
) -> None:
    expires = strict.clock.now() + dt.timedelta(seconds=5)
    tenant = Tenant(strict, connection_root, expires_at=expires if cause == "expired" else None)
    bystander = Tenant(strict, connection_root)
    started = tenant.submit("started.png")
    worker.run(burst=True)
    queued = tenant.submit("queued.png")
    other = bystander.submit("other.png")
    assert states(strict, [started, queued]) == ["waiting_for_output", "queued"]

    if cause == "suspended":
        strict.licensing.set_license_suspended(tenant.license_id, True)
        expected = "license error: the license is suspended"
    elif cause == "expired":
        strict.clock.advance(10)
        expected = "license error: the license expired at"
    else:
        strict.licensing.set_app_enabled(tenant.license_id, tenant.app_id, False)
        expected = "license error: the app is disabled"
    strict.clock.advance(1)
    worker.run(burst=True)
    robot.process_all()
    strict.clock.advance(1)
    worker.run(burst=True)

    for job_id in (started, queued):
        job = strict.services.jobs.show(job_id)
        assert strict.services.jobs.status(job_id).status.value == "Aborted"
        assert strict.services.jobs.status(job_id).error_code.value == "NoError"
        assert (job.error_reason or "").startswith(expected)
        assert any(line.endswith(job.error_reason or "") for line in describe_job(job))
    assert tenant.pages_used() == 0, "the started job's page is given back"
    assert strict.services.jobs.show(other).state == "completed"
    assert robot_files(robot.profile) == []


@pytest.mark.parametrize("cause", ["suspended", "app disabled"])
def test_throttled_jobs_of_a_suspended_license_stop_at_once(
    strict: Strict,
    connection_root: Path,
    worker: Worker,
    cause: str,
) -> None:
    """Not when their hour renews: the suspension makes them due, a worker stops them."""
    tenant = Tenant(strict, connection_root, page_quota=1)
    running, throttled = tenant.submit("a.png"), tenant.submit("b.png")
    worker.run(burst=True)
    assert states(strict, [running, throttled]) == ["waiting_for_output", "throttled"]
    if cause == "suspended":
        strict.licensing.set_license_suspended(tenant.license_id, True)
    else:
        strict.licensing.set_app_enabled(tenant.license_id, tenant.app_id, False)
    worker.run(burst=True)  # the same second: the hour is half a minute away
    assert states(strict, [running, throttled]) == ["waiting_for_output", "aborted"]
    strict.clock.advance(1)  # the running job's next poll
    worker.run(burst=True)
    assert states(strict, [running, throttled]) == ["aborted", "aborted"]
    reason = strict.services.jobs.show(throttled).error_reason or ""
    assert reason.startswith("license error:")


def test_a_monthly_quota_throttles_the_page_past_it_until_the_month_turns(
    strict: Strict,
    connection_root: Path,
    robot: SimulatedRobot,
    worker: Worker,
) -> None:
    """Issue 28: a monthly quota of 2 pages; the 3rd one-page job waits, Throttled (SOAP
    Queued, REST Throttled), until the month turns; failed jobs do not count."""
    strict.clock.set(dt.datetime(2026, 12, 31, 22, 10, tzinfo=dt.UTC))
    tenant = Tenant(strict, connection_root, monthly_pages=2)
    assert strict.services.license_store.find(tenant.license_id).monthly_page_quota == 2  # type: ignore[union-attr]
    missing = tenant.client.service.FileBatch(  # fails InputFileNotFound: counts nothing
        **file_batch_args(InputFile=file_ref("nowhere.png", "in"), OutPutFile=file_ref("n.xml"))
    )
    ids = [tenant.submit(f"doc{n}.png", TimeOut=86_400) for n in range(3)]  # may wait a day
    worker.run(burst=True)
    assert strict.services.jobs.show(int(missing)).state == "failed"
    assert states(strict, ids) == ["waiting_for_output", "waiting_for_output", "throttled"]
    reason = strict.services.jobs.show(ids[2]).events[-1].reason or ""
    assert "monthly page budget: 2 of 2 pages used, this job needs 1" in reason
    assert "resumes at 2027-01-01T00:00:00+00:00" in reason
    assert wire_status(tenant.client, ids[2]) == ("Queued", "NoError")
    robot.process_all()
    strict.clock.advance(1)
    worker.run(burst=True)
    assert states(strict, ids) == ["completed", "completed", "throttled"]

    strict.clock.advance(3600)  # 23:10: a new hour, the same month
    worker.run(burst=True)
    assert states(strict, ids)[2] == "throttled"
    strict.clock.set(dt.datetime(2027, 1, 1, 0, 0, 5, tzinfo=dt.UTC))  # the month turned
    worker.run(burst=True)
    robot.process_all()
    strict.clock.advance(1)
    worker.run(burst=True)
    assert states(strict, ids) == ["completed"] * 3


def test_the_license_shows_its_month_and_can_change_its_quota(strict: Strict) -> None:
    license_id = strict.licensing.create_license("Acme", region="eu", monthly_pages=100)
    auth = (license_id, strict.licensing.create_app(license_id, "intake"))
    base = strict.url.split("/SequenceServices/")[0]
    shown = requests.get(f"{base}/api/v1/licenses", auth=auth, timeout=10).json()
    assert shown["monthlyPageQuota"] == 100
    assert shown["usage"]["month"]["pages"] == 0
    assert shown["usage"]["month"]["start"].endswith("-01T00:00:00Z")
    strict.licensing.set_monthly_pages(license_id, 0)  # takes effect at once in this process
    shown = requests.get(f"{base}/api/v1/licenses", auth=auth, timeout=10).json()
    assert shown["monthlyPageQuota"] == 0
