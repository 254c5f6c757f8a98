"""Callbacks of REST jobs (issue 14), on SQLite and PostgreSQL: a loopback listener started
here receives the job's JSON once it is final; failures are retried with backoff and each
attempt is in the job's history; a host not in callback_hosts is refused at creation and
never contacted."""

from __future__ import annotations

import dataclasses
import json
import select
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from cora_ocr.services import Services
from cora_ocr.worker.callbacks import FIRST_DELAY_SECONDS, signature
from tests.conftest import RunService
from tests.support.factories import ManualClock
from tests.support.processes import Trap
from tests.support.robots import SimulatedRobot

PNG = b"\x89PNG\r\n\x1a\n" + b"page one"


class Listener:
    """An HTTP server on loopback that records every POST and answers the given statuses
    in turn (200 once they run out)."""

    def __init__(self, statuses: list[int]) -> None:
        received: list[dict[str, Any]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(
                    {
                        "path": self.path,
                        "type": self.headers["Content-Type"],
                        "json": json.loads(body),
                        "body": body,
                        "signature": self.headers.get("Cora-Signature"),
                    }
                )
                self.send_response(statuses.pop(0) if statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@dataclasses.dataclass
class Setup:
    services: Services
    clock: ManualClock
    base: str
    robot: SimulatedRobot

    def create(self, callback: str, auth: tuple[str, str] | None = None) -> requests.Response:
        return requests.post(
            f"{self.base}/api/v1/jobs",
            files={"file": ("scan.png", PNG)},
            data={"callbackUrl": callback},
            auth=auth,
            timeout=10,
        )

    def work(self, poll: bool = False) -> None:
        """Run the worker until nothing is due (then, with poll, let one poll interval pass:
        a job waiting for the robot is looked at again after it)."""
        self.services.worker(clock=self.clock, name="callback-worker").run(burst=True)
        if poll:
            self.clock.advance(self.services.settings.poll_seconds)

    def history(self, job_id: int) -> list[str]:
        events = self.services.jobs.show(job_id).events
        return [event.reason or "" for event in events if event.actor == "callback"]


@pytest.fixture
def listener() -> Iterator[Listener]:
    statuses: list[int] = []
    running = Listener(statuses)
    running.statuses = statuses  # type: ignore[attr-defined]
    yield running
    running.close()


def serving(running_service: RunService, callback_host: str) -> Setup:
    """A live server whose jobs may call `callback_host` back, on a manual clock."""
    running = running_service(clock=ManualClock(), callback_hosts=frozenset({callback_host}))
    built = running.services
    built.profiles.ensure_folders()
    profile = built.profiles.get("Default")
    assert profile is not None
    return Setup(built, running.clock, running.base, SimulatedRobot(profile))


@pytest.fixture
def setup(running_service: RunService, listener: Listener) -> Setup:
    return serving(running_service, listener.host)


def complete(setup: Setup, callback: str, auth: tuple[str, str] | None = None) -> int:
    created = setup.create(callback, auth)
    assert created.status_code == 201, created.text
    job_id = int(created.json()["id"])
    setup.work(poll=True)
    assert setup.robot.process_all() == 1
    return job_id


def test_a_final_job_is_posted_to_its_callback(setup: Setup, listener: Listener) -> None:
    job_id = complete(setup, f"http://{listener.host}/hooks/ocr?ticket=7")
    assert listener.received == []  # not final yet
    setup.work()  # completes it, then sends the callback
    assert len(listener.received) == 1
    call = listener.received[0]
    assert call["path"] == "/hooks/ocr?ticket=7" and call["type"] == "application/json"
    assert (call["json"]["id"], call["json"]["status"]) == (job_id, "Completed")
    assert setup.history(job_id) == [f"callback to {listener.host}: HTTP 200"]
    setup.work()
    assert len(listener.received) == 1  # sent once


def readme_check() -> Callable[..., bool]:
    """The receiver's check as the REST guide prints it ("Signed callbacks"), run as printed."""
    readme = (Path(__file__).parents[2] / "docs" / "guides" / "rest.md").read_text()
    section = readme.split("**Signed callbacks.**", 1)[1]
    code = section.split("```py\n", 1)[1].split("```", 1)[0]
    names: dict[str, Any] = {}
    exec(code, names)
    return names["genuine"]  # type: ignore[no-any-return]


def test_a_licensed_jobs_callback_is_signed_with_its_license_secret(
    setup: Setup, listener: Listener
) -> None:
    licensing = setup.services.licensing
    license_id = licensing.create_license("Acme", region=setup.services.settings.region)
    auth = (license_id, licensing.create_app(license_id, "intake"))
    complete(setup, f"http://{listener.host}/hooks", auth)
    setup.work()
    [call] = listener.received
    header, body = call["signature"], call["body"]
    secret = licensing.callback_secret(license_id)
    genuine = readme_check()
    assert header is not None and header.startswith("t=") and ",v1=" in header
    assert genuine(header, body, secret)
    forged = header.split(",v1=")[0] + ",v1=" + "0" * 64
    assert not genuine(forged, body, secret)  # a forgery
    assert not genuine(header, body.replace(b"Completed", b"Aborted"), secret)  # changed body
    assert not genuine(header, body, "another license's secret")
    stale = int(header.split(",")[0][2:]) - 3600
    old = signature(secret, body, stale)
    assert not genuine(old, body, secret)  # a replay an hour later
    assert licensing.callback_secret(license_id, rotate=True) != secret
    assert not genuine(header, body, licensing.callback_secret(license_id))


def test_a_job_made_without_credentials_is_not_signed(setup: Setup, listener: Listener) -> None:
    complete(setup, f"http://{listener.host}/hooks")
    setup.work()
    assert [call["signature"] for call in listener.received] == [None]


def test_failed_callbacks_are_retried_with_backoff(setup: Setup, listener: Listener) -> None:
    listener.statuses.extend([500, 503])  # type: ignore[attr-defined]
    job_id = complete(setup, f"http://{listener.host}/hook")
    setup.work()
    assert len(listener.received) == 1
    setup.clock.advance(4)
    setup.work()
    assert len(listener.received) == 1  # the second attempt is due after 5 s
    setup.clock.advance(1)
    setup.work()
    assert len(listener.received) == 2
    setup.clock.advance(10)
    setup.work()
    assert len(listener.received) == 3
    assert setup.history(job_id) == [
        f"callback to {listener.host} failed (HTTP 500); attempt 2 in 5 s",
        f"callback to {listener.host} failed (HTTP 503); attempt 3 in 10 s",
        f"callback to {listener.host}: HTTP 200",
    ]


def test_a_callback_that_keeps_failing_is_given_up(setup: Setup, listener: Listener) -> None:
    listener.statuses.extend([500] * 10)  # type: ignore[attr-defined]
    job_id = complete(setup, f"http://{listener.host}/hook")
    for delay in (0, 5, 10, 20, 40, 80):
        setup.clock.advance(delay)
        setup.work()
    assert len(listener.received) == 5
    assert setup.history(job_id)[-1] == (
        f"callback to {listener.host} failed (HTTP 500); gave up after 5 attempts"
    )


def test_a_host_not_listed_is_refused_and_never_contacted(setup: Setup) -> None:
    trap = Trap()
    try:
        port = trap.url.split(":")[2].split("/")[0]
        before = len(setup.services.jobs.list(limit=10_000))
        for url in (
            f"http://127.0.0.1:{port}/hook",
            f"http://localhost:{port}/hook",
            "ftp://127.0.0.1/hook",
            "not a url",
        ):
            refused = setup.create(url)
            assert refused.status_code == 400, url
            assert refused.json()["detail"].startswith("callbackUrl"), refused.text
        assert len(setup.services.jobs.list(limit=10_000)) == before
        setup.work()
    finally:
        trap.close()
    assert trap.connections == 0


class Trickler:
    """A callback endpoint that accepts, reads the request, then sends its answer one byte
    every half second and never finishes the status line: the slowest client-side attack on
    a sender without a wall-clock deadline. Counts connections open at once."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.host = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.open_now = self.most_at_once = self.connections = 0
        self.lock, self.stop = threading.Lock(), threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with self.lock:
            self.connections += 1
            self.open_now += 1
            self.most_at_once = max(self.most_at_once, self.open_now)
        try:
            conn.recv(65536)
            while not self.stop.is_set():
                readable, _, _ = select.select([conn], [], [], 0.5)
                if readable and not conn.recv(1):
                    break  # the sender hung up: what a deadline does
                conn.sendall(b"H")
        except OSError:
            pass  # the sender cut it: what a deadline does
        finally:
            conn.close()
            with self.lock:
                self.open_now -= 1

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


def test_a_slow_callback_endpoint_holds_no_job_and_is_cut_at_its_deadline(
    running_service: RunService,
) -> None:
    trickler = Trickler()
    try:
        setup = serving(running_service, trickler.host)
        built, clock = setup.services, setup.clock
        worker = built.worker(clock=clock, name="callback-worker")
        callbacks = worker.callbacks
        callbacks.status_seconds, callbacks.attempt_seconds = 1.0, 2.0  # the test's deadlines
        jobs = [int(setup.create(f"http://{trickler.host}/hook").json()["id"]) for _ in range(5)]
        processed = 0  # the robot is handed its backlog at a time: two turns
        for robot_turn in (False, True, False, True, False):
            while worker.run_once():  # the jobs' steps alone: no callback sent here
                pass
            clock.advance(built.settings.poll_seconds)
            if robot_turn:
                processed += setup.robot.process_all()
        assert processed == 5
        assert {built.jobs.get(job).state for job in jobs} == {"completed"}
        assert callbacks.run_due() == 2  # two at a time for one host; the rest wait their turn
        assert callbacks.in_flight() == 2  # returned at once: the attempts run elsewhere
        assert callbacks.run_due() == 0
        callbacks.wait()  # returns: each was cut at its deadline (the peer never stops)
        clock.advance(FIRST_DELAY_SECONDS)
        assert callbacks.run_due() == 2
        callbacks.wait()
        callbacks.close()
    finally:
        trickler.close()
    assert trickler.most_at_once == 2 and trickler.connections == 4
    histories = [setup.history(job_id) for job_id in jobs]
    cut = [h for h in histories if h]
    assert len(cut) == 4
    assert all(
        reasons[0]
        == f"callback to {trickler.host} failed (no status line within 1 s); attempt 2 in 5 s"
        for reasons in cut
    ), cut
