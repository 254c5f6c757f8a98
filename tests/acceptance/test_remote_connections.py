"""SFTP and SMB connections against real servers: OpenSSH's sshd and Samba's smbd, started on
loopback ports for this module with a throwaway user and keys (tests/support/remote_servers.py).

Jobs go through the whole service: FileBatch over SOAP (zeep), the worker reading the input
from one server and delivering to the other, the simulated robot in between.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import zeep
from zeep.transports import Transport

from cora_ocr.config import Settings
from cora_ocr.connections import Connections, Storage, StorageError
from cora_ocr.connections.specs import ConnectionSpec, parse_connections
from cora_ocr.host.app import create_app
from cora_ocr.host.server import make_server, stop_server
from cora_ocr.namespaces import SERVICE_PATH
from cora_ocr.services import Services, build_services
from cora_ocr.statuses import JobState
from cora_ocr.store import Store
from cora_ocr.store.migrate import upgrade
from cora_ocr.worker import Worker
from tests.support.calls import ConnectionJobs
from tests.support.factories import ManualClock
from tests.support.remote_servers import (
    FileServers,
    Server,
    descendants,
    file_servers,
    missing,
    write_config,
)
from tests.support.robots import SimulatedRobot, result_text

pytestmark = [
    pytest.mark.remote,
    pytest.mark.skipif(missing() is not None, reason=str(missing())),
]

PASSWORD_ENV = "CORA_TEST_REMOTE_PASSWORD"
WRONG_ENV = "CORA_TEST_REMOTE_WRONG"


@pytest.fixture(scope="module")
def servers() -> Iterator[FileServers]:
    with file_servers() as built:
        yield built


def restart(server: Server) -> None:
    if not server.running:
        server.start()
    signal_all([server.pid, *descendants(server.pid)], signal.SIGCONT)  # never left frozen


def signal_all(pids: list[int], number: int) -> None:
    """Signal each process still there (a connection's process may end meanwhile)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, number)


@pytest.fixture
def up(servers: FileServers) -> FileServers:
    """Both servers running, the served folders emptied."""
    restart(servers.ssh)
    restart(servers.smb)
    for root in (servers.sftp_root, servers.share_dir):
        subprocess.run(["find", str(root), "-mindepth", "1", "-delete"], check=True)
    servers.folder(servers.share_dir / "files")
    return servers


def specs(servers: FileServers, **overrides: dict[str, Any]) -> dict[str, ConnectionSpec]:
    sftp = {**servers.sftp_entry(PASSWORD_ENV), "timeout": 5}
    share = {**servers.smb_entry(PASSWORD_ENV), "timeout": 5}
    ssh, user = servers.ssh, servers.user
    unknown_host = servers.base / "empty_known_hosts"
    unknown_host.touch()
    table: dict[str, Any] = {
        "Sftp": sftp,
        "SftpKey": {**sftp, "password_env": None, "key_file": str(ssh.client_key)},
        "Smb": share,
        "SftpWrongPassword": {**sftp, "password_env": WRONG_ENV},
        "SmbWrongPassword": {**share, "password_env": WRONG_ENV},
        "SftpUnknownHost": {**sftp, "known_hosts": str(unknown_host)},
        **overrides,
    }
    table = {
        name: {key: value for key, value in entry.items() if value is not None}
        for name, entry in table.items()
    }
    environ = {PASSWORD_ENV: user.password, WRONG_ENV: "not-" + user.password}
    return parse_connections("connections", table, environ)


@dataclass
class World(ConnectionJobs):
    servers: FileServers
    services: Services
    client: zeep.Client
    worker: Worker
    clock: ManualClock
    robot: SimulatedRobot

    def run(self, rounds: int = 3) -> None:
        """Worker, robot, worker, each round; the clock moves past any backoff between."""
        for _ in range(rounds):
            self.worker.run(burst=True)
            self.robot.process_all()
            self.worker.run(burst=True)
            self.clock.advance(5)


@contextlib.contextmanager
def world_for(servers: FileServers, directory: Path, **overrides: Any) -> Iterator[World]:
    settings = Settings(
        data_dir=directory,
        connections=specs(servers, **overrides),
        allow_anonymous=True,
        require_https=False,
        profiles={
            "Default": {
                "input_dir": str(directory / "robot" / "in"),
                "output_dir": str(directory / "robot" / "out"),
            }
        },
        poll_seconds=1,
        max_attempts=3,
    )
    store = Store(f"sqlite:///{directory / 'cora.db'}")
    upgrade(store.engine)
    services = build_services(settings, store)
    services.profiles.ensure_folders()
    server = make_server(create_app(services), "127.0.0.1", 0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    clock = ManualClock()
    try:
        client = zeep.Client(
            f"http://127.0.0.1:{server.effective_port}{SERVICE_PATH}?wsdl",
            transport=Transport(timeout=10),
        )
        profile = services.profiles.get("Default")
        assert profile is not None
        worker = services.worker(clock=clock, name="remote-test-worker")
        yield World(servers, services, client, worker, clock, SimulatedRobot(profile))
    finally:
        stop_server(server, loop_running=True)
        thread.join(timeout=10)
        services.connections.close()
        store.dispose()


@pytest.fixture
def world(up: FileServers, tmp_path: Path) -> Iterator[World]:
    with world_for(up, tmp_path) as built:
        yield built


def put_input(servers: FileServers, connection: str, name: str, data: bytes) -> None:
    root = servers.sftp_root if connection.startswith("Sftp") else servers.share_dir / "files"
    folder = servers.folder(root / "in")
    (folder / name).write_bytes(data)


def delivered(servers: FileServers, connection: str, name: str) -> bytes:
    root = servers.sftp_root if connection.startswith("Sftp") else servers.share_dir / "files"
    return (root / "out" / name).read_bytes()


# --- jobs across the two servers ----------------------------------------------------------
@pytest.mark.parametrize(
    ("source", "target"), [("Sftp", "Smb"), ("Smb", "SftpKey")], ids=["sftp-to-smb", "smb-to-sftp"]
)
def test_a_job_reads_from_one_server_and_delivers_to_the_other_under_each_put_model(
    world: World, source: str, target: str
) -> None:
    first, second = os.urandom(300_000), os.urandom(200_000)
    put_input(world.servers, source, "scan.png", first)
    job = world.submit((source, "in", "scan.png"), (target, "out", "scan.xml"))
    world.run()
    assert world.status(job) == ("Completed", "NoError")
    assert delivered(world.servers, target, "scan.xml") == result_text("scan.png", first)

    put_input(world.servers, source, "scan.png", second)
    refused = world.submit((source, "in", "scan.png"), (target, "out", "scan.xml"), "FailIfExists")
    replaced = world.submit((source, "in", "scan.png"), (target, "out", "scan.xml"), "Overwrite")
    world.run()
    assert world.status(refused) == ("Failed", "OutputFileExists")
    assert world.status(replaced) == ("Completed", "NoError")
    assert delivered(world.servers, target, "scan.xml") == result_text("scan.png", second)

    renamed = [
        world.submit((source, "in", "scan.png"), (target, "out", "scan.xml"), "Rename")
        for _ in range(2)
    ]
    world.run()
    assert [world.status(job) for job in renamed] == [("Completed", "NoError")] * 2
    for name in ("scan (1).xml", "scan (2).xml"):
        assert delivered(world.servers, target, name) == result_text("scan.png", second)
    folder = "sftp-root/out" if target.startswith("Sftp") else "share/files/out"
    left = sorted(path.name for path in (world.servers.base / folder).iterdir())
    assert left == ["scan (1).xml", "scan (2).xml", "scan.xml"]  # no temporary file left


def test_a_missing_input_fails_with_input_file_not_found(world: World) -> None:
    world.servers.folder(world.servers.sftp_root / "in")
    jobs = [
        world.submit((name, "in", "absent.png"), ("Smb", "out", "absent.xml"))
        for name in ("Sftp", "Smb")
    ]
    world.run(1)
    for job in jobs:
        assert world.status(job) == ("Failed", "InputFileNotFound")
        assert "in/absent.png does not exist" in world.reason(job)


# --- confinement --------------------------------------------------------------------------
@pytest.mark.parametrize("connection", ["Sftp", "Smb"])
@pytest.mark.parametrize(
    ("location", "reason"),
    [("../..", "climbs out of the connection root"), ("/etc", "is an absolute path")],
)
def test_paths_out_of_the_root_are_refused_when_submitted(
    world: World, connection: str, location: str, reason: str
) -> None:
    with pytest.raises(zeep.exceptions.Fault) as fault:
        world.submit((connection, location, "passwd"), ("Smb", "out", "x.xml"))
    assert "InputFile.RelativeLocation" in fault.value.message
    assert reason in fault.value.message
    with pytest.raises(zeep.exceptions.Fault) as fault:
        world.submit(("Sftp", "in", "x.png"), (connection, location, "x.xml"))
    assert "OutPutFile.RelativeLocation" in fault.value.message


def test_a_link_out_of_the_sftp_root_is_refused_both_ways(world: World) -> None:
    secret = world.servers.base / "secret"
    world.servers.folder(secret)
    (secret / "file.png").write_bytes(b"not yours")
    (world.servers.sftp_root / "door").symlink_to(secret)
    put_input(world.servers, "Smb", "scan.png", b"png")
    reading = world.submit(("Sftp", "door", "file.png"), ("Smb", "out", "a.xml"))
    writing = world.submit(("Smb", "in", "scan.png"), ("Sftp", "door", "b.xml"))
    world.run()
    assert world.status(reading) == ("Failed", "InputFileNotFound")
    assert "leads outside the connection root through a link" in world.reason(reading)
    assert world.status(writing) == ("Failed", "FailedToPutOutputFile")
    assert "leads outside the connection root through a link" in world.reason(writing)
    assert sorted(path.name for path in secret.iterdir()) == ["file.png"]


def test_a_link_out_of_the_smb_share_is_refused_by_the_server(world: World) -> None:
    secret = world.servers.base / "secret-smb"
    world.servers.folder(secret)
    (secret / "file.png").write_bytes(b"not yours")
    (world.servers.share_dir / "files" / "door").symlink_to(secret)
    put_input(world.servers, "Sftp", "scan.png", b"png")
    reading = world.submit(("Smb", "door", "file.png"), ("Sftp", "out", "a.xml"))
    writing = world.submit(("Sftp", "in", "scan.png"), ("Smb", "door", "b.xml"))
    world.run()
    assert world.status(reading) == ("Failed", "InputFileNotFound")
    assert world.reason(reading) == "input file Smb:door/file.png does not exist"
    assert world.status(writing) == ("Failed", "FailedToPutOutputFile")
    assert "Smb:" in world.reason(writing)
    assert not (world.servers.sftp_root / "out" / "a.xml").exists()
    assert sorted(path.name for path in secret.iterdir()) == ["file.png"]


# --- servers and credentials --------------------------------------------------------------
def test_a_server_stopped_mid_job_fails_the_job_with_the_reason_never_stuck(
    world: World,
) -> None:
    put_input(world.servers, "Sftp", "scan.png", b"png")
    job = world.submit(("Sftp", "in", "scan.png"), ("Smb", "out", "scan.xml"))
    world.worker.run(burst=True)  # the input is read over SFTP: the job waits for the robot
    assert world.services.jobs.show(job).state == JobState.WAITING_FOR_OUTPUT.value
    world.servers.smb.stop()
    world.run(rounds=6)  # each delivery fails; the worker tries again with backoff, then gives up
    assert world.status(job) == ("Failed", "FailedToPutOutputFile")
    reason = world.reason(job)
    assert f"output connection Smb (smb://{world.servers.user.name}@127.0.0.1" in reason
    assert "cannot reach" in reason and "given up after 3 tries" in reason

    world.servers.smb.start()
    put_input(world.servers, "Smb", "scan.png", b"png")
    again = world.submit(("Smb", "in", "scan.png"), ("Sftp", "out", "scan.xml"))
    world.servers.ssh.stop()
    world.run(rounds=6)
    assert world.status(again) == ("Failed", "FailedToPutOutputFile")
    assert "output connection Sftp" in world.reason(again)


def test_a_server_back_before_the_last_try_lets_the_job_complete(world: World) -> None:
    put_input(world.servers, "Sftp", "scan.png", b"png")
    job = world.submit(("Sftp", "in", "scan.png"), ("Smb", "out", "scan.xml"))
    world.worker.run(burst=True)
    world.servers.smb.stop()
    world.run(rounds=2)  # the robot's answer is seen, its delivery fails once
    waiting = world.services.jobs.show(job)
    assert (waiting.state, waiting.retries) == (JobState.DELIVERING.value, 1)
    world.servers.smb.start()
    world.run(rounds=2)
    assert world.status(job) == ("Completed", "NoError")


def test_a_stale_pooled_session_is_replaced_at_once(world: World) -> None:
    for name in ("Sftp", "Smb"):
        storage = world.services.connections.get("connection", name)
        target = storage.resolve("OutPutFile", "out", "one.txt")
        storage.put(io.BytesIO(b"one"), target, replace=True, tag="t")
        server = world.servers.ssh if name == "Sftp" else world.servers.smb
        server.stop()
        server.start()
        storage.put(io.BytesIO(b"two"), target, replace=True, tag="t")  # no error: new session
        with storage.open_read(target) as reader:
            assert reader.read() == b"two"


@pytest.mark.parametrize(
    ("connection", "reason"),
    [
        ("SftpWrongPassword", "authentication failed for user"),
        ("SmbWrongPassword", "authentication failed for user"),
        ("SftpUnknownHost", "is not in"),
    ],
)
def test_wrong_credentials_fail_the_job_at_once_with_a_clear_reason(
    world: World, connection: str, reason: str
) -> None:
    put_input(world.servers, "Sftp", "scan.png", b"png")
    reading = world.submit((connection, "in", "scan.png"), ("Smb", "out", "a.xml"))
    writing = world.submit(("Sftp", "in", "scan.png"), (connection, "out", "b.xml"))
    world.run(rounds=2)
    assert world.status(reading) == ("Failed", "FailedToPutInputFile")
    assert world.status(writing) == ("Failed", "FailedToPutOutputFile")
    for job in (reading, writing):
        assert f"connection {connection} (" in world.reason(job)
        assert reason in world.reason(job)
        assert "given up" not in world.reason(job)  # failed at once: a wrong password stays wrong
        assert world.servers.user.password not in world.reason(job)


def test_a_full_share_fails_the_delivery_with_the_reason(up: FileServers, tmp_path: Path) -> None:
    full = up.folder(up.share_dir / "files" / "full")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size=256k,uid={up.user.uid}", "tmpfs", str(full)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        with world_for(up, tmp_path) as world:
            put_input(up, "Sftp", "big.png", os.urandom(600_000))
            job = world.submit(("Sftp", "in", "big.png"), ("Smb", "full", "big.xml"))
            world.run(rounds=2)
            assert world.status(job) == ("Failed", "FailedToPutOutputFile")
            assert "the share cora is full" in world.reason(job)
            assert list(full.iterdir()) == []  # the temporary file went too
    finally:
        subprocess.run(["umount", str(full)], check=True)


def test_the_pool_keeps_at_most_pool_size_sessions(up: FileServers, tmp_path: Path) -> None:
    connections = Connections(specs(up, Sftp={"pool_size": 2, **sftp_entry(up)}))
    storage = connections.get("connection", "Sftp")
    log = up.ssh.base / "sshd.log"
    before = log.read_text().count("Accepted password")
    errors: list[BaseException] = []

    def copy(number: int) -> None:
        try:
            target = storage.resolve("OutPutFile", "pool", f"{number}.bin")
            for _ in range(3):
                storage.put(io.BytesIO(os.urandom(100_000)), target, replace=True, tag="p")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=copy, args=(number,)) for number in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    connections.close()
    assert errors == []
    assert len(list((up.sftp_root / "pool").iterdir())) == 6
    assert log.read_text().count("Accepted password") - before == 2


def sftp_entry(servers: FileServers) -> dict[str, Any]:
    return servers.sftp_entry(PASSWORD_ENV)


def smb_entry(servers: FileServers) -> dict[str, Any]:
    return servers.smb_entry(PASSWORD_ENV)


@dataclass
class One:
    """One connection of a kind, its server, and the folder its root is on this host."""

    connections: Connections
    storage: Storage
    server: Server
    root: Path


def one(servers: FileServers, kind: str, timeout: float) -> One:
    entry = sftp_entry(servers) if kind == "sftp" else smb_entry(servers)
    connections = Connections(specs(servers, Target={**entry, "timeout": timeout}))
    if kind == "sftp":
        return One(connections, connections.get("c", "Target"), servers.ssh, servers.sftp_root)
    root = servers.share_dir / "files"
    return One(connections, connections.get("c", "Target"), servers.smb, root)


def in_thread(action: Callable[[], object]) -> tuple[threading.Thread, list[BaseException]]:
    """action() running in a thread; what it raised, once it has ended."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            action()
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


@pytest.mark.parametrize("kind", ["sftp", "smb"])
def test_a_frozen_server_is_given_up_on_within_its_timeouts(up: FileServers, kind: str) -> None:
    target_of = one(up, kind, timeout=1)
    storage, server = target_of.storage, target_of.server
    target = storage.resolve("OutPutFile", "out", "a.bin")
    storage.put(io.BytesIO(b"before"), target, replace=True, tag="f")
    frozen = [server.pid, *descendants(server.pid)]
    try:
        signal_all(frozen, signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(StorageError) as error:
            storage.put(io.BytesIO(b"after"), target, replace=True, tag="f")
        took = time.monotonic() - started
    finally:
        signal_all(frozen, signal.SIGCONT)
        target_of.connections.close()
    assert error.value.transient
    assert "127.0.0.1" in error.value.reason
    assert took < 30  # a second per wait, a few waits: never stuck


class Slow(io.RawIOBase):
    """A large document read slowly: a transfer still under way when the server goes."""

    def __init__(self, megabytes: int, started: threading.Event) -> None:
        self.left, self.started = megabytes, started

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.left == 0:
            return 0
        self.left -= 1
        self.started.set()
        time.sleep(0.02)
        size = min(len(buffer), 1 << 20)
        buffer[:size] = b"x" * size
        return size


class SlowBytes(io.BytesIO):
    """A seekable document read slowly (a megabyte every 20 ms)."""

    def __init__(self, data: bytes, started: threading.Event) -> None:
        super().__init__(data)
        self.started = started

    def read(self, size: int | None = -1) -> bytes:
        self.started.set()
        time.sleep(0.02)
        return super().read(size)


@pytest.mark.parametrize("kind", ["sftp", "smb"])
def test_a_connection_cut_mid_put_is_sent_again_whole_on_a_new_session(
    up: FileServers, kind: str
) -> None:
    target_of = one(up, kind, timeout=5)
    storage = target_of.storage
    storage.put(io.BytesIO(b"warm"), storage.resolve("O", "out", "warm"), replace=True, tag="w")
    target = storage.resolve("OutPutFile", "out", "whole.bin")
    data, started = os.urandom(40 << 20), threading.Event()
    thread, errors = in_thread(
        lambda: storage.put(SlowBytes(data, started), target, replace=False, tag="c")
    )
    assert started.wait(10)
    time.sleep(0.2)
    assert target_of.server.cut_connections() >= 1
    thread.join(timeout=60)
    target_of.connections.close()
    assert errors == []
    assert (target_of.root / "out" / "whole.bin").read_bytes() == data  # all, from the start


@pytest.mark.parametrize("kind", ["sftp", "smb"])
def test_a_server_killed_during_a_transfer_fails_it_and_leaves_no_file(
    up: FileServers, kind: str
) -> None:
    target_of = one(up, kind, timeout=2)
    storage = target_of.storage
    target = storage.resolve("OutPutFile", "out", "big.bin")
    started = threading.Event()
    thread, errors = in_thread(
        lambda: storage.put(io.BufferedReader(Slow(200, started)), target, replace=False, tag="k")
    )
    assert started.wait(10)
    time.sleep(0.2)
    target_of.server.stop()
    thread.join(timeout=30)
    target_of.connections.close()
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], StorageError), errors
    assert errors[0].transient  # the worker tries again later, then fails the job
    assert not (target_of.root / "out" / "big.bin").exists()  # never half a file under its name


# --- cora-ocr connections check -----------------------------------------------------------
def test_connections_check_says_what_is_wrong_in_one_line_each(
    up: FileServers, tmp_path: Path
) -> None:
    entries = {"Sftp": sftp_entry(up), "Smb": smb_entry(up)}
    entries["SmbWrongPassword"] = {**entries["Smb"], "password_env": WRONG_ENV}
    entries["SftpNoRoot"] = {**entries["Sftp"], "root": str(up.sftp_root / "absent")}
    entries["SmbNoShare"] = {**entries["Smb"], "share": "nothere"}
    entries["SftpDown"] = {**entries["Sftp"], "port": 1, "timeout": 2}
    config = write_config(
        tmp_path / "cora-ocr.toml", {"data_dir": str(tmp_path), "connections": entries}
    )
    environ = {**os.environ, PASSWORD_ENV: up.user.password, WRONG_ENV: "wrong"}
    done = subprocess.run(
        [sys.executable, "-m", "cora_ocr.cli", "--config", str(config), "connections", "check"],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    said = dict(line.split(": ", 1) for line in done.stdout.splitlines())
    assert sorted(said) == sorted(entries)
    assert said["Sftp"].startswith("ok (sftp://")
    assert said["Smb"].startswith("ok (smb://")
    assert said["SmbWrongPassword"].startswith("authentication failed for user")
    assert said["SftpNoRoot"].startswith(f"root {up.sftp_root / 'absent'} is not a folder")
    assert said["SmbNoShare"].startswith("no share 'nothere'")
    assert said["SftpDown"].startswith("cannot reach 127.0.0.1:1")
    assert up.user.password not in done.stdout + done.stderr
    assert list(up.sftp_root.iterdir()) == []  # the probes were removed


# --- secrets ---------------------------------------------------------------------------
def test_an_unset_password_variable_is_said_when_the_connection_is_used(
    up: FileServers,
) -> None:
    connections = Connections(
        parse_connections("connections", {"Sftp": sftp_entry(up)}, environ={})
    )
    storage = connections.get("connection", "Sftp")
    with pytest.raises(StorageError) as error:
        storage.check()
    assert str(error.value) == f"environment variable {PASSWORD_ENV} (password_env) is not set"
