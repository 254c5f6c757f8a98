"""The robot pool (issue 15): claims by rename, claims of stopped processes taken back, the
pages of one document spread across processes, and no polling delay between the worker and
the robot (file-system events, PostgreSQL notifications)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import zeep
from lxml import etree

from cora_ocr import wakeup
from cora_ocr.config import DEFAULT_CONNECTION
from cora_ocr.jobs import FileBatchRequest, FileRef
from cora_ocr.profiles import CLAIMS, Profile
from cora_ocr.robot import claims, samples
from cora_ocr.robot.hotfolder import Robot
from cora_ocr.robot.render import ALTO_NS
from cora_ocr.services import Services
from cora_ocr.store.models import utcnow
from cora_ocr.worker import Worker
from cora_ocr.worker.loop import WorkerConfig
from tests.conftest import LiveServer
from tests.support.factories import file_batch_args, file_ref, wire_status
from tests.support.processes import drop, start_robot
from tests.support.waiting import group_members, wait_until

CLI = [sys.executable, "-m", "cora_ocr.cli"]
PAGES_TEXT = [samples.sample_lines(seed=40 + n, count=8) for n in range(4)]


@pytest.fixture
def robot_config(tmp_path: Path) -> tuple[Path, Profile]:
    """A settings file with one profile of two robot processes, and that profile."""
    folders = tmp_path / "robot"
    config = tmp_path / "cora.toml"
    config.write_text(
        f'data_dir = "{tmp_path}"\n[profiles.Default]\n'
        f'input_dir = "{folders}/in"\noutput_dir = "{folders}/out"\n'
        "dpi = 100\nrobot_processes = 2\nclaim_timeout_seconds = 5\n"
    )
    profile = Profile(
        "Default",
        folders / "in",
        folders / "out",
        dpi=100,
        robot_processes=2,
        claim_timeout_seconds=5,
    )
    profile.input_dir.mkdir(parents=True)
    profile.output_dir.mkdir(parents=True)
    return config, profile


def stop(process: subprocess.Popen[str]) -> str:
    """SIGTERM, then what it logged."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=60)
    return err


@contextlib.contextmanager
def pool_of_two(config: Path, profile: Profile) -> Iterator[subprocess.Popen[str]]:
    """`cora-ocr robot` (robot_processes = 2) in a process group of its own, once both
    processes are at work; whatever of the group is left at the end is killed."""
    process = start_robot(config, new_session=True)
    try:
        owners = profile.input_dir / CLAIMS
        wait_until(lambda: owners.is_dir() and len(list(owners.iterdir())) == 2, 60, "2 robots")
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        if process.returncode is None:
            process.communicate()


def pages_of(result: bytes) -> list[str]:
    pages = etree.fromstring(result).findall(f".//{{{ALTO_NS}}}Page")
    return [" ".join(s.get("CONTENT", "") for s in p.iter(f"{{{ALTO_NS}}}String")) for p in pages]


def assert_pages_read(result: bytes) -> None:
    read = pages_of(result)
    assert len(read) == len(PAGES_TEXT)
    for got, lines in zip(read, PAGES_TEXT, strict=True):  # in order
        assert samples.character_error_rate(" ".join(lines), got) < 0.02


def test_a_pool_spreads_pages_and_never_takes_a_document_twice(
    robot_config: tuple[Path, Profile],
) -> None:
    config, profile = robot_config
    process = start_robot(config)  # robot_processes = 2
    try:
        # A long document alone: the other process, with nothing of its own, helps with it.
        drop(
            profile.input_dir / "1-0000000a-long.pdf",
            lambda path: samples.write_pdf(path, PAGES_TEXT),
        )
        results = [profile.result_path("1-0000000a-long.pdf")]
        wait_until(results[0].exists, 120, "the long document")
        for n in range(4):  # then a queue: each takes documents of its own
            drop(
                profile.input_dir / f"{n + 2}-0000000b-p{n}.png",
                lambda path, n=n: samples.write_png(path, PAGES_TEXT[n]),
            )
        results += [profile.result_path(f"{n + 2}-0000000b-p{n}.png") for n in range(4)]
        wait_until(lambda: all(r.exists() for r in results), 120, "every result")
    finally:
        log = stop(process)
    assert_pages_read(results[0].read_bytes())
    # Each document recognised once, the long one's pages by both processes.
    done = Counter(re.findall(r"recognised (\S+): \d+ pages", log))
    assert sorted(done.values()) == [1] * 5, done
    helpers = set(re.findall(r"page \d of 1-0000000a-long\.pdf recognised by (\S+)", log))
    assert len(helpers) == 2, log
    left = sorted(str(p.relative_to(profile.input_dir)) for p in profile.input_dir.rglob("*"))
    assert left == [], f"claims tidied on stop:\n{log}"
    assert process.returncode == 0


def test_a_pool_stops_at_once_under_a_burst_of_sigterms(
    robot_config: tuple[Path, Profile],
) -> None:
    # What `systemctl stop` or Ctrl-C does: a signal to every process of the pool, and the
    # pool passes its own on. A handler that set the robot's Event itself deadlocked when
    # the next signal came while it held the Event's lock; the pool killed that process
    # after its grace, and its claims stayed behind.
    config, profile = robot_config
    with pool_of_two(config, profile) as process:
        for _ in range(20):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            time.sleep(0.002)
        _out, log = process.communicate(timeout=60)
    assert "did not stop" not in log, log
    # 0, or the default action of a signal that came after Python put it back on exit
    assert process.returncode in (0, -signal.SIGTERM), log
    assert list(profile.input_dir.iterdir()) == []  # every process tidied its claims


def test_pool_processes_stop_when_their_owner_is_killed(
    robot_config: tuple[Path, Profile],
) -> None:
    # SIGKILL (or the OOM killer) gives the owner no chance to stop its pool; its processes
    # ran on unowned, and a restarted owner added a pool of its own beside them.
    config, profile = robot_config
    with pool_of_two(config, profile) as process:
        process.kill()
        process.wait(30)
        wait_until(lambda: not group_members(process.pid), 30, "the pool's processes stop")
        _out, log = process.communicate(timeout=30)
    assert log.count("the pool's owner (process") == 2, log
    assert list(profile.input_dir.iterdir()) == []  # each tidied its claims as it stopped


def test_a_robot_process_killed_mid_document_is_taken_over(
    robot_config: tuple[Path, Profile],
) -> None:
    config, profile = robot_config
    name = "7-0000000c-killed.pdf"
    samples.write_pdf(profile.input_dir / name, PAGES_TEXT)
    victim = start_robot(config, "--processes", "1", new_session=True)
    work = profile.pages_dir(name)
    try:
        wait_until(lambda: work.is_dir() and any(work.glob("*.json")), 60, "a first page")
    finally:
        os.killpg(victim.pid, signal.SIGKILL)  # the whole robot: its pool and its process
        victim.communicate(timeout=30)
    claimed = list((profile.input_dir / CLAIMS).glob(f"*/{name}"))
    assert len(claimed) == 1 and not (profile.input_dir / name).exists()
    done_before = len(list(work.glob("*.json")))

    robot = Robot(profile)  # same machine: the dead process's claim is taken back at once
    try:
        assert robot.run(burst=True) == 1
    finally:
        robot.close()
    assert_pages_read(profile.result_path(name).read_bytes())
    assert robot.pages_done == len(PAGES_TEXT) - done_before  # pages already read were kept
    answers = [p.name for p in profile.output_dir.iterdir() if not p.name.startswith(".")]
    assert answers == [profile.result_name(name)]  # once (the worker removes the progress)
    assert list(profile.input_dir.iterdir()) == []


def claims_of_another_host(profile: Profile) -> tuple[Path, Path]:
    """Two robot processes of another machine, each holding a document: (alive, gone), as
    their pulses will say; the documents are 8-0000000d-held.png and 9-0000000e-left.png."""
    alive = profile.claims_dir / "otherhost-4242-a1b2c3"
    gone = profile.claims_dir / "otherhost-4343-d4e5f6"
    for owner, name in ((alive, "8-0000000d-held.png"), (gone, "9-0000000e-left.png")):
        owner.mkdir(parents=True)
        samples.write_png(owner / name, PAGES_TEXT[0])
    return alive, gone


class SkewedClock:
    """The time module as a host whose clock is `skew` seconds off sees it."""

    def __init__(self, skew: float) -> None:
        self.skew = skew

    def time(self) -> float:
        return time.time() + self.skew

    def __getattr__(self, name: str) -> object:
        return getattr(time, name)


@pytest.mark.parametrize("skew", [300.0, -300.0])
def test_pulses_are_judged_by_the_file_servers_clock(
    robot_config: tuple[Path, Profile], monkeypatch: pytest.MonkeyPatch, skew: float
) -> None:
    """Issue 30: a robot whose host's clock is 5 minutes ahead (or behind) of the file server
    that keeps the pulses: a pulse the server stamped a second ago is alive, one older than
    the claim timeout by the server's clock is not, whatever the robot's own clock says."""
    _config, profile = robot_config
    alive, gone = claims_of_another_host(profile)
    server = time.time()  # this machine's file system stands for the file server
    os.utime(alive, (server - 1, server - 1))
    old = server - profile.claim_timeout_seconds - 1
    os.utime(gone, (old, old))
    robot = Robot(profile, engine_factory=lambda _p: None)  # type: ignore[arg-type,return-value]
    robot.ensure_folders()
    monkeypatch.setattr(claims, "time", SkewedClock(skew))  # the claims protocol's clock
    assert robot.take_back_stale(now=True) == 1
    assert (profile.input_dir / "9-0000000e-left.png").exists()
    assert (alive / "8-0000000d-held.png").exists()


def test_a_claim_without_a_pulse_is_taken_back_after_the_timeout(
    robot_config: tuple[Path, Profile],
) -> None:
    """A claim of a process on another machine: only its pulse tells whether it lives."""
    _config, profile = robot_config
    alive, gone = claims_of_another_host(profile)
    old = time.time() - profile.claim_timeout_seconds - 1
    os.utime(gone, (old, old))
    page_task = profile.pages_dir("8-0000000d-held.png")
    page_task.mkdir(parents=True)
    (page_task / "00002.otherhost-4343-d4e5f6.claim").touch()
    (page_task / "00003.otherhost-4242-a1b2c3.claim").touch()
    # Read, then its owner stopped before letting go of the claim: the page is not read again.
    (page_task / "00001.json").write_text("{}")
    (page_task / "00001.otherhost-4343-d4e5f6.claim").touch()

    robot = Robot(profile, engine_factory=lambda _p: None)  # type: ignore[arg-type,return-value]
    assert robot.take_back_stale(now=True) == 2
    assert (profile.input_dir / "9-0000000e-left.png").exists()  # back in the queue
    assert (alive / "8-0000000d-held.png").exists()  # its owner has a pulse: left alone
    # Its pool said nothing (the host went down with it): no fault of the page's, none counted.
    assert sorted(p.name for p in page_task.iterdir()) == [
        "00001.json",
        "00002.task",
        "00003.otherhost-4242-a1b2c3.claim",
    ]
    assert not gone.exists()
    assert not profile.taken_back_path("9-0000000e-left.png").exists()


def test_a_crash_its_pool_saw_counts_against_what_the_process_held(
    robot_config: tuple[Path, Profile],
) -> None:
    """The other host's pool lived and said how its process died (.crashed): the document
    and the page it held count it; the second time the document is read once more alone."""
    _config, profile = robot_config
    _alive, gone = claims_of_another_host(profile)
    (gone / ".crashed").write_text("killed by signal SIGSEGV")
    old = time.time() - profile.claim_timeout_seconds - 1
    os.utime(gone, (old, old))
    page_task = profile.pages_dir("8-0000000d-held.png")
    page_task.mkdir(parents=True)
    (page_task / "00002.otherhost-4343-d4e5f6.claim").touch()

    robot = Robot(profile, engine_factory=lambda _p: None)  # type: ignore[arg-type,return-value]
    assert robot.take_back_stale(now=True) == 2
    assert profile.taken_back_path("9-0000000e-left.png").read_text() == "1"
    assert (page_task / "00002.taken").read_text() == "1"
    # Held and crashed again: read once more alone, not refused yet.
    crashed = profile.claims_dir / "otherhost-4444-a0a0a0"
    crashed.mkdir()
    os.rename(profile.input_dir / "9-0000000e-left.png", crashed / "9-0000000e-left.png")
    (crashed / ".crashed").write_text("killed by signal SIGKILL")
    os.utime(crashed, (old, old))
    assert robot.take_back_stale(now=True) == 0
    assert profile.alone_path("9-0000000e-left.png").exists()
    assert not profile.error_path("9-0000000e-left.png").exists()
    notes = profile.notes_path("9-0000000e-left.png").read_text()
    assert "died twice while reading this document (the last killed by signal SIGKILL)" in notes
    robot.close()


def test_two_robots_racing_for_documents_take_each_once(
    robot_config: tuple[Path, Profile],
) -> None:
    _config, profile = robot_config
    for n in range(40):
        (profile.input_dir / f"{n}-0000000f-doc{n}.png").write_bytes(b"x")
    robots = [Robot(profile, engine_factory=lambda _p: None) for _ in range(2)]  # type: ignore[arg-type,return-value]
    taken: list[list[str]] = [[], []]

    def claim_all(index: int) -> None:
        robots[index].ensure_folders()
        while (path := robots[index].claim_next()) is not None:
            taken[index].append(path.name)

    threads = [threading.Thread(target=claim_all, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken[0] + taken[1]) == sorted(f"{n}-0000000f-doc{n}.png" for n in range(40))
    assert not set(taken[0]) & set(taken[1])


@pytest.fixture
def event_worker(services: Services) -> Iterator[Worker]:
    """A worker whose polling alone would take 30 s for each look: only events move it."""
    config = WorkerConfig(poll_seconds=30, idle_sleep_seconds=30)
    worker = Worker(
        services.job_store,
        services.connections,
        services.profiles,
        config,
        wakeups=services.wakeups,
    )
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    yield worker
    worker.stop()
    thread.join(30)


def test_worker_and_robot_hand_over_without_polling(
    server: LiveServer,
    services: Services,
    zeep_client: zeep.Client,
    connection_root: Path,
    event_worker: Worker,
) -> None:
    profile = services.profiles.get("Default")
    assert profile is not None
    robot = Robot(profile, idle_seconds=30)
    robot_thread = threading.Thread(target=robot.run, daemon=True)
    robot_thread.start()
    try:
        time.sleep(0.5)  # both idle now, for 30 s unless woken
        (connection_root / "in").mkdir()
        samples.write_png(connection_root / "in" / "quick.png", PAGES_TEXT[0])
        started = time.monotonic()
        job_id = int(
            zeep_client.service.FileBatch(
                **file_batch_args(
                    InputFile=file_ref("quick.png", "in"), OutPutFile=file_ref("quick.xml", "out")
                )
            )
        )
        wait_until(
            lambda: wire_status(zeep_client, job_id)[0] in {"Completed", "Failed"}, 25, "done"
        )
        took = time.monotonic() - started
    finally:
        robot.stop()
        robot_thread.join(30)
        robot.close()
    assert wire_status(zeep_client, job_id) == ("Completed", "NoError")
    assert took < 25  # with polling alone: 30 s to claim, 30 s for the robot, 30 s to deliver


def test_idle_workers_hear_of_new_jobs(services: Services, backend: str) -> None:
    """PostgreSQL: a job inserted by anyone (here: a bare insert, as another process would)
    notifies every listening worker. SQLite: a job submitted in this process wakes its
    workers; workers of other processes poll."""
    listening = wakeup.Wakeup(services.wakeups)
    listening.start(services.store.engine, [])
    request = FileBatchRequest(
        timeout=60,
        external_context="n",
        input_file=FileRef(DEFAULT_CONNECTION, "in", "a.png"),
        ocr_profile="Default",
        output_file=FileRef(DEFAULT_CONNECTION, "out", "a.xml"),
        put_model="",
    )
    try:
        if backend == "postgresql":
            wait_until(listening.event.is_set, 10, "listening")  # set once LISTEN is in place
            listening.event.clear()
            job = dataclasses.replace(
                services.jobs.validate(request), start_by=int(time.time()) + 60
            )
            services.job_store.submit(job, "test", utcnow())  # not JobService: no local wake
        else:
            time.sleep(0.2)
            assert not listening.event.is_set()
            services.jobs.submit(request)
        wait_until(listening.event.is_set, 5, "woken")
    finally:
        listening.stop()


def test_a_robot_answer_makes_its_job_due_at_once(services: Services) -> None:
    """What the worker does with an answer it hears of: the job, released to look again in
    30 s, is due now; others are not touched."""
    listening = wakeup.Wakeup(services.wakeups)
    profile = services.profiles.get("Default")
    assert profile is not None
    listening.start(services.store.engine, [profile.output_dir])
    try:
        (profile.output_dir / ".12-0000000a-x.progress").write_text("1 2")  # hidden: ignored
        (profile.output_dir / "12-0000000a-x.xml").write_text("<r/>")
        (profile.output_dir / "stray.txt").write_text("")  # no job's: ignored
        wait_until(lambda: listening.event.is_set(), 5, "an event")
        time.sleep(0.2)
        assert listening.answered() == {12}
        assert listening.answered() == set()
    finally:
        listening.stop()


def test_an_idle_robot_takes_back_a_dead_hosts_claim_within_the_timeout(
    robot_config: tuple[Path, Profile],
) -> None:
    """Issue 30: a robot on another host dies holding a document; nothing happens in the
    input folder to wake this idle robot (its events see no change, its idle wait is 30 s),
    yet the document is taken back within claim_timeout_seconds + 5 s of the last pulse."""
    _config, profile = robot_config
    dead = profile.claims_dir / "otherhost-4545-a9b8c7"
    dead.mkdir(parents=True)
    samples.write_png(dead / "10-0000000f-orphan.png", PAGES_TEXT[0])
    robot = Robot(profile, idle_seconds=30)
    thread = threading.Thread(target=robot.run, daemon=True)
    thread.start()
    try:
        time.sleep(0.5)  # idle, watching the input folder
        os.utime(dead)  # the dead robot's last pulse
        last_pulse = time.monotonic()
        wait_until(
            lambda: not (dead / "10-0000000f-orphan.png").exists(),
            profile.claim_timeout_seconds + 8,
            "the dead host's claim taken back",
        )
        taken_after = time.monotonic() - last_pulse
    finally:
        robot.stop()
        thread.join(30)
        robot.close()
    assert profile.claim_timeout_seconds <= taken_after <= profile.claim_timeout_seconds + 5
