"""Real worker processes: a SIGKILLed worker's job is resumed after its lease expires, and
two workers on PostgreSQL complete 200 jobs exactly once."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cora_ocr.config import DEFAULT_CONNECTION, Settings, load_settings
from cora_ocr.services import Services, build_services
from cora_ocr.statuses import JobState
from cora_ocr.store import Job, JobEvent, Store
from cora_ocr.store.migrate import upgrade
from tests.conftest import make_store_url
from tests.support.factories import ManualClock
from tests.support.processes import request
from tests.support.robots import RobotThread, SimulatedRobot, result_text, robot_files

ROOT = Path(__file__).resolve().parents[2]
LEASE = 2.0


def write_config(directory: Path, database_url: str) -> Path:
    config = directory / "cora.toml"
    config.write_text(
        f'data_dir = "{directory / "data"}"\n'
        f'database_url = "{database_url}"\n'
        f"lease_seconds = {LEASE}\npoll_seconds = 0.05\nmax_attempts = 3\n"
        f'[connections]\n{DEFAULT_CONNECTION} = "{directory / "files"}"\n'
    )
    return config


class Setup:
    def __init__(self, directory: Path, database_url: str) -> None:
        self.config = write_config(directory, database_url)
        self.settings: Settings = load_settings(self.config, environ={})
        self.store = Store(database_url)
        upgrade(self.store.engine)
        self.services: Services = build_services(self.settings, self.store)
        self.services.connections.ensure_roots()
        self.services.profiles.ensure_folders()
        profile = self.services.profiles.get("Default")
        assert profile is not None
        self.profile = profile
        self.files = self.settings.effective_connections[DEFAULT_CONNECTION]

    def submit(self, name: str, data: bytes, put_model: str = "FailIfExists") -> int:
        (self.files / "in").mkdir(exist_ok=True)
        (self.files / "in" / name).write_bytes(data)
        return self.services.jobs.submit(request(name, put_model), actor="test")

    def job(self, job_id: int) -> Job:
        return self.services.jobs.show(job_id)


def start_process(args: list[str]) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    process = subprocess.Popen(
        args,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.strip())
        process.stdout.close()

    threading.Thread(target=pump, daemon=True).start()
    return process, lines


def start_held_worker(
    setup: Setup, when: str, state: str
) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    """tests/support/worker_process.py: a worker that holds its job `when` ("before"/"after") the
    step of `state`, until killed."""
    return start_process(
        [sys.executable, "-m", "tests.support.worker_process", str(setup.config), when, state]
    )


def wait_for(lines: queue.Queue[str], prefix: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            continue
        if line.startswith(prefix):
            return line
    raise AssertionError(f"no line starting {prefix!r} within {timeout} s")


@pytest.fixture
def setup(backend: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    url, schema = make_store_url(backend, tmp_path)
    built = Setup(tmp_path, url)
    yield built
    built.store.dispose()
    if schema is not None:
        schema.drop()


@pytest.mark.parametrize(
    ("when", "state"),
    [
        ("before", JobState.PROCESSING_INPUT),
        ("after", JobState.PROCESSING_INPUT),  # input placed, transition not committed
        ("before", JobState.WAITING_FOR_OUTPUT),
        ("before", JobState.DELIVERING),
        ("after", JobState.DELIVERING),  # output placed, Completed not committed
    ],
)
@pytest.mark.parametrize("put_model", ["FailIfExists", "Rename"])
def test_sigkilled_worker_job_is_resumed_after_the_lease(
    setup: Setup, when: str, state: JobState, put_model: str
) -> None:
    job_id = setup.submit("scan.png", b"page", put_model)
    robot = SimulatedRobot(setup.profile)
    process, lines = start_held_worker(setup, when, state.value)
    try:
        wait_for(lines, "READY")
        if state is JobState.DELIVERING:  # the robot must answer before delivery starts
            deadline = time.monotonic() + 30
            while robot.process_all() == 0:
                assert time.monotonic() < deadline, "the worker never put the input"
                time.sleep(0.01)
        assert wait_for(lines, "HOLDING") == f"HOLDING {job_id}"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    held = setup.job(job_id)
    assert held.lease_owner == "doomed-worker" and held.state == state.value

    clock = ManualClock()
    rescuer = setup.services.worker(clock=clock, name="rescuer")
    assert rescuer.run_once() is False, "a live lease must not be taken over"
    clock.advance(LEASE + 0.5)
    for _ in range(3):
        rescuer.run(burst=True)
        robot.process_all()
        clock.advance(1)

    job = setup.job(job_id)
    assert (job.state, job.error_code) == ("completed", "NoError")
    assert job.stalls == 1
    reasons = [e.reason or "" for e in job.events]
    assert any("lease of doomed-worker expired; resumed by rescuer" in r for r in reasons)
    outputs = sorted(p.name for p in (setup.files / "out").iterdir())
    assert outputs == ["scan.xml"], "exactly one output, never a second copy"
    assert (setup.files / "out" / "scan.xml").read_bytes() == result_text("scan.png", b"page")
    assert list(robot.seen.values()) == [1]
    assert job.robot_name is not None and list(robot.seen) == [job.robot_name]
    assert list(setup.profile.input_dir.iterdir()) == []


def test_a_worker_killed_while_the_robot_works_resumes_by_the_jobs_own_name(
    setup: Setup,
) -> None:
    """The robot has the document (its progress file is there) when the worker dies; a retry
    of the same document with the same name arrives meanwhile. Each job keeps its own file."""
    first = setup.submit("scan.png", b"page", "Rename")
    process, lines = start_held_worker(setup, "before", "waiting_for_output")
    try:
        assert wait_for(lines, "HOLDING") == f"HOLDING {first}"
        name = setup.job(first).robot_name
        assert name is not None and setup.profile.input_path(name).is_file()
        setup.profile.progress_path(name).write_text("0 1")  # the robot is at work on it
        second = setup.submit("scan.png", b"page", "Rename")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    clock = ManualClock()
    rescuer = setup.services.worker(clock=clock, name="rescuer")
    robot = SimulatedRobot(setup.profile)
    rescuer.run(burst=True)  # the second job starts; the first is still leased
    assert setup.job(first).lease_owner == "doomed-worker"
    clock.advance(LEASE + 0.5)
    for _ in range(3):
        rescuer.run(burst=True)
        robot.process_all()
        clock.advance(1)

    jobs = [setup.job(first), setup.job(second)]
    assert [(job.state, job.error_code) for job in jobs] == [("completed", "NoError")] * 2
    assert jobs[0].robot_name == name and jobs[0].stalls == 1
    assert jobs[1].robot_name != name
    assert sorted(robot.seen.items()) == sorted((job.robot_name, 1) for job in jobs)
    outputs = sorted(p.name for p in (setup.files / "out").iterdir())
    assert outputs == ["scan (1).xml", "scan.xml"], "one output per job"
    for output in outputs:
        assert (setup.files / "out" / output).read_bytes() == result_text("scan.png", b"page")
    assert robot_files(setup.profile) == []


def test_a_job_that_keeps_killing_workers_fails_with_internal_error(setup: Setup) -> None:
    job_id = setup.submit("scan.png", b"page")
    for _ in range(setup.settings.max_attempts + 1):
        process, lines = start_held_worker(setup, "before", "processing_input")
        try:
            wait_for(lines, "HOLDING")
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
        # Expire the lease by the clock of the next worker: move it into the past instead.
        with setup.store.session.begin() as session:
            job = session.get(Job, job_id)
            assert job is not None and job.lease_expires_at is not None
            job.lease_expires_at = job.lease_expires_at.replace(year=2000)
    setup.services.worker(name="last").run(burst=True)
    job = setup.job(job_id)
    assert (job.state, job.error_code) == ("failed", "InternalError")
    assert "stopped while holding this job" in (job.error_reason or "")


@pytest.mark.postgres
def test_two_workers_on_postgresql_complete_200_jobs_exactly_once(tmp_path: Path) -> None:
    url, schema = make_store_url("postgresql", tmp_path)
    assert schema is not None
    setup = Setup(tmp_path, url)
    workers: list[subprocess.Popen[str]] = []
    robot_thread = RobotThread(SimulatedRobot(setup.profile))
    try:
        ids = [setup.submit(f"doc{n:03}.png", f"document {n}".encode()) for n in range(200)]
        robot_thread.start()
        for name in ("w1", "w2"):
            process, lines = start_process(
                [
                    sys.executable,
                    "-m",
                    "cora_ocr.cli",
                    "--config",
                    str(setup.config),
                    "--log-level",
                    "WARNING",
                    "worker",
                    "--name",
                    name,
                ]
            )
            workers.append(process)
            wait_for(lines, "cora-ocr worker")
        deadline = time.monotonic() + 120
        with setup.store.session() as session:
            while time.monotonic() < deadline:
                unfinished = session.scalar(
                    select(func.count())
                    .select_from(Job)
                    .where(Job.state.not_in(["completed", "failed", "aborted"]))
                )
                if unfinished == 0:
                    break
                time.sleep(0.1)
        for process in workers:
            process.send_signal(signal.SIGTERM)
        for process in workers:
            assert process.wait(timeout=30) == 0

        with setup.store.session() as session:
            states = Counter(session.scalars(select(Job.state)).all())
            completions = Counter(
                session.scalars(
                    select(JobEvent.job_id).where(JobEvent.to_state == "completed")
                ).all()
            )
            actors = Counter(
                session.scalars(
                    select(JobEvent.actor).where(JobEvent.to_state == "completed")
                ).all()
            )
        assert states == {"completed": 200}
        assert sorted(completions) == sorted(ids) and set(completions.values()) == {1}
        assert set(actors) == {"w1", "w2"}, f"both workers must take part: {actors}"
        outputs = sorted(p.name for p in (setup.files / "out").iterdir())
        assert outputs == [f"doc{n:03}.xml" for n in range(200)]
        for n in range(200):
            data = (setup.files / "out" / f"doc{n:03}.xml").read_bytes()
            assert data == result_text(f"doc{n:03}.png", f"document {n}".encode())
        assert set(robot_thread.robot.seen.values()) == {1} and len(robot_thread.robot.seen) == 200
    finally:
        robot_thread.stop()
        for process in workers:
            if process.poll() is None:
                process.kill()
                process.wait()
        setup.store.dispose()
        schema.drop()
