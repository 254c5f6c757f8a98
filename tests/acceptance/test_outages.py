"""Acceptance (nothing stops silently) with real processes and real outages: every backend of
a PostgreSQL database terminated, then the server restarted, while `cora-ocr worker` and
`cora-ocr serve` run jobs; and an SQLite write lock held past `busy_timeout` under two
workers. No job is lost or duplicated,
every job ends, every process is still running, and each outage is logged once."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
import zeep
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from cora_ocr.config import DEFAULT_CONNECTION
from cora_ocr.robot import samples
from cora_ocr.store import Job, JobEvent
from tests.conftest import PG_URL
from tests.support.factories import file_batch_args, file_ref
from tests.support.processes import free_port
from tests.support.robots import RobotThread, SimulatedRobot
from tests.support.waiting import read_line, wait_until

ROOT = Path(__file__).resolve().parents[2]
FINAL = ("completed", "failed", "aborted")


class Process:
    """A `cora-ocr` command with its standard error kept in a file for the test to read."""

    def __init__(self, directory: Path, name: str, *args: str) -> None:
        self.log = directory / f"{name}.log"
        self._err: IO[str] = self.log.open("w")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "cora_ocr.cli", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self._err,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.popen.stdout is not None
        self.first_line = read_line(self.popen.stdout, 60, "its first line").strip()

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> int:
        if self.running:
            self.popen.send_signal(signal.SIGTERM)
        try:
            code = self.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            code = self.popen.wait()
        self._err.close()
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        return code

    def text(self) -> str:
        return self.log.read_text()


def write_config(directory: Path, database_url: str, port: int = 0) -> Path:
    config = directory / "cora.toml"
    config.write_text(
        f'data_dir = "{directory / "data"}"\ndatabase_url = "{database_url}"\nport = {port}\n'
        "lease_seconds = 3\npoll_seconds = 0.1\n"
        f'[connections]\n{DEFAULT_CONNECTION} = "{directory / "files"}"\n'
        # Every document of a test is handed to the robot at once (no backlog to wait out).
        '[profiles.Default]\noutput_format = "text"\ndpi = 150\nrobot_backlog = 100\n'
    )
    return config


def unfinished(engine: Engine) -> int:
    """Jobs not yet final, read on a connection of the test's own (it may be cut too)."""
    try:
        with engine.connect() as conn:
            query = select(func.count()).select_from(Job).where(Job.state.not_in(FINAL))
            return int(conn.execute(query).scalar_one())
    except Exception:
        return -1


def assert_each_completed_once(engine: Engine, ids: list[int]) -> None:
    with engine.connect() as conn:
        states = Counter(conn.execute(select(Job.state)).scalars())
        completions = Counter(
            conn.execute(select(JobEvent.job_id).where(JobEvent.to_state == "completed")).scalars()
        )
    assert states == {"completed": len(ids)}, states
    assert sorted(completions) == sorted(ids) and set(completions.values()) == {1}


def admin_engine() -> Engine:
    """The server's maintenance database, a new connection each time (none kept to go stale)."""
    return create_engine(
        make_url(PG_URL).set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A database of the test's own: its backends can all be cut without touching others'."""
    name = f"cora_outage_{uuid.uuid4().hex[:10]}"
    admin = admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def cut_every_backend(url: str) -> int:
    """pg_terminate_backend on every connection to the database, as a restart does."""
    name = make_url(url).database
    admin = admin_engine()
    try:
        with admin.connect() as conn:
            return len(
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                ).all()
            )
    finally:
        admin.dispose()


def restart_postgresql(down_for: float = 1.5) -> None:
    """Stop the server under everything, as maintenance does, and start it again: for
    `down_for` seconds every connection attempt is refused."""
    version = sorted(os.listdir("/etc/postgresql"))[0]
    for action in ("stop", "start"):
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
            check=True,
            capture_output=True,
        )
        if action == "stop":
            time.sleep(down_for)
    wait_until(
        lambda: (
            subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"], check=False).returncode == 0
        ),
        30,
        "PostgreSQL is back",
    )


def submit(client: zeep.Client, files: Path, n: int) -> int:
    """A one-line document with marker 10000 + n, submitted through the service; a fault
    while the database is cut is answered, and the submission tried again."""
    samples.render_page([f"case {10000 + n}"], width=600, height=160, font_size=40).save(
        files / "in" / f"doc{n}.png"
    )
    args = file_batch_args(
        InputFile=file_ref(f"doc{n}.png", "in"), OutPutFile=file_ref(f"doc{n}.txt", "out")
    )
    for _ in range(20):
        try:
            return int(client.service.FileBatch(**args))
        except zeep.exceptions.Fault as fault:
            assert "Server" in str(fault.code) or "Receiver" in str(fault.code)
            time.sleep(0.2)
    raise AssertionError("FileBatch kept failing after the outage")


def test_worker_and_serve_survive_cut_connections_and_a_postgresql_restart(
    tmp_path: Path, pg_database: str
) -> None:
    files = tmp_path / "files"
    (files / "in").mkdir(parents=True)
    config = write_config(tmp_path, pg_database, free_port())
    serve = Process(tmp_path, "serve", "--config", str(config), "serve")
    worker = Process(tmp_path, "worker", "--config", str(config), "worker", "--name", "outside")
    engine = create_engine(pg_database, pool_pre_ping=True)
    try:
        assert serve.first_line.startswith("cora-ocr serving http://"), serve.text()
        client = zeep.Client(serve.first_line.split()[2] + "?wsdl")
        ids = [submit(client, files, n) for n in range(12)]
        wait_until(lambda: unfinished(engine) < 12, 60, "work starts")
        cut = 0
        for _ in range(2):
            cut += cut_every_backend(pg_database)
            time.sleep(0.4)
        assert cut >= 2
        restart_postgresql()  # down for 1.5 s: every worker meets a refused connection
        ids += [submit(client, files, n) for n in range(12, 15)]
        wait_until(lambda: unfinished(engine) == 0, 120, "every job ends")

        assert serve.running and worker.running, serve.text() + worker.text()
        assert_each_completed_once(engine, ids)
        for n in range(15):
            text_out = (files / "out" / f"doc{n}.txt").read_text()
            assert set(re.findall(r"\d{5}", text_out)) == {str(10000 + n)}
        assert sorted(p.name for p in (files / "out").iterdir()) == sorted(
            f"doc{n}.txt" for n in range(15)
        )
        for process in (worker, serve):
            log = process.text()
            outages = log.count("database unavailable (")
            assert outages >= 1 and log.count("database available again") == outages, log
            assert "Traceback" not in log, log
    finally:
        engine.dispose()
        codes = [worker.stop(), serve.stop()]
    assert codes == [0, 0], serve.text() + worker.text()


def test_workers_survive_an_sqlite_write_lock_held_past_busy_timeout(tmp_path: Path) -> None:
    database = tmp_path / "data" / "cora.db"
    url = f"sqlite:///{database}"
    config = write_config(tmp_path, url)
    files = tmp_path / "files"
    (files / "in").mkdir(parents=True)
    subprocess.run(
        [sys.executable, "-m", "cora_ocr.cli", "--config", str(config), "db", "upgrade"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    from cora_ocr.config import load_settings
    from cora_ocr.services import build_services
    from cora_ocr.store import Store
    from tests.support.processes import request

    store = Store(url)
    services = build_services(load_settings(config, environ={}), store)
    services.profiles.ensure_folders()
    profile = services.profiles.get("Default")
    assert profile is not None
    robot = RobotThread(SimulatedRobot(profile))
    workers = [
        Process(tmp_path, name, "--config", str(config), "worker", "--name", name)
        for name in ("w1", "w2")
    ]
    lock = sqlite3.connect(database, isolation_level=None)
    try:
        ids = []
        for n in range(10):
            (files / "in" / f"doc{n}.png").write_bytes(f"document {n}".encode())
            ids.append(services.jobs.submit(request(f"doc{n}.png"), actor="test"))
        wait_until(
            lambda: sum(1 for p in profile.input_dir.iterdir() if not p.name.startswith(".")) == 10,
            60,
            "the workers place every document",
        )
        lock.execute("BEGIN IMMEDIATE")  # the write lock, held past busy_timeout (10 s)
        robot.start()  # results arrive while the workers cannot write
        time.sleep(11.5)
        lock.execute("COMMIT")
        wait_until(lambda: unfinished(store.engine) == 0, 60, "every job ends")
        assert all(worker.running for worker in workers)
        assert_each_completed_once(store.engine, ids)
        logs = "".join(worker.text() for worker in workers)
        assert "database is locked" in logs and "database available again" in logs, logs
        assert "Traceback" not in logs, logs
    finally:
        lock.close()
        robot.stop()
        codes = [worker.stop() for worker in workers]
        store.dispose()
    assert codes == [0, 0]
