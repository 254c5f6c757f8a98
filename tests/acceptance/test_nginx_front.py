"""Acceptance (issue 26): the production front door. Debian's nginx on the configuration that
`cora-ocr nginx-config` prints, in front of `cora-ocr web` (its default server's workers, two
of them): slow and idle clients wait in nginx and GetStatus keeps answering; bodies too large
for their path are refused from their headers; an upload without valid credentials is refused
before its body; TLS 1.2+ only; a client's own X-Forwarded-* mean nothing; a reload under
load replaces every web process while the calls go on (none lost under gunicorn)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from cora_ocr.config import Settings, load_settings
from cora_ocr.host.nginx import NginxOptions, render
from cora_ocr.services import build_services
from cora_ocr.store import Store
from cora_ocr.store.migrate import upgrade
from tests.support.factories import SOAP11_CT, action, envelope, get_status_body, header_xml
from tests.support.nginx import generated
from tests.support.processes import (
    SERVICE,
    free_port,
    self_signed,
    wait_until_listening,
    web_process,
)
from tests.support.scans import scan
from tests.support.sockets import Trickler, read_answer, soap_head, status_of
from tests.support.waiting import wait_until

DEADLINE = 2.0  # header_timeout and body_timeout: nginx's client_header/body_timeout
LIMIT = 4 * 1024 * 1024  # max_request_bytes
UPLOAD_LIMIT = 100 * 1024 * 1024  # max_upload_bytes


@dataclass
class Front:
    port: int  # nginx
    upstream: int  # `cora-ocr web`
    log: Path  # web's stderr
    config: str
    scheme: str = "http"
    cert: Path | None = None
    plain_port: int = 0  # with TLS: nginx's plain HTTP port
    auth: tuple[str, str] | None = None
    verify: str | bool = field(default=True)
    web: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{SERVICE}"

    def connect(self) -> socket.socket:
        conn = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        if self.scheme == "https":
            context = ssl.create_default_context(cafile=str(self.cert))
            return context.wrap_socket(conn, server_hostname="127.0.0.1")
        return conn

    def get_status(self, job: int = 1, **headers: str) -> requests.Response:
        return requests.post(
            self.url,
            data=envelope(get_status_body(), header_xml(job)),
            headers={"Content-Type": SOAP11_CT, "SOAPAction": action("GetStatus"), **headers},
            auth=self.auth,
            verify=self.verify,
            timeout=10,
        )


@contextlib.contextmanager
def front(
    tmp_path: Path,
    *,
    licensed: bool = False,
    tls: bool = False,
    unix: bool = False,
    server: str = "granian",
) -> Iterator[Front]:
    """`cora-ocr web` (under `server`) and nginx in front of it. Anonymous on loopback (nginx
    not trusted: the app takes it for a local caller), or `licensed`: nginx trusted,
    credentials required; `unix`: web on a Unix socket, whose peer (nginx) is the trusted
    proxy."""
    upstream, port = free_port(), free_port()
    env = {
        **os.environ,
        "CORA_OCR_DATA_DIR": str(tmp_path / "data"),
        "CORA_OCR_DATABASE_URL": f"sqlite:///{tmp_path / 'front.db'}",
        "CORA_OCR_PORT": str(upstream),
        "CORA_OCR_WEB_WORKERS": "2",
        "CORA_OCR_WEB_SERVER": server,
        "CORA_OCR_HEADER_TIMEOUT": str(DEADLINE),
        "CORA_OCR_BODY_TIMEOUT": str(DEADLINE),
    }
    if unix:
        env["CORA_OCR_WEB_SOCKET"] = str(tmp_path / "web.sock")
    elif licensed:
        env["CORA_OCR_TRUSTED_PROXIES"] = "127.0.0.1"
    else:
        env.update(CORA_OCR_ALLOW_ANONYMOUS="true", CORA_OCR_REQUIRE_HTTPS="false")
    auth = None
    if licensed:
        settings = load_settings(environ=env)
        store = Store(settings.effective_database_url)
        upgrade(store.engine)
        licensing = build_services(settings, store).licensing
        license_id = licensing.create_license("Acme")
        auth = (license_id, licensing.create_app(license_id, "intake"))
        store.dispose()
    options = ["--listen", f"127.0.0.1:{port}"]
    cert = plain_port = None
    if tls:
        cert, key = self_signed(tmp_path)
        plain_port = free_port()
        options += ["--tls-cert", str(cert), "--tls-key", str(key)]
        options += ["--http-listen", f"127.0.0.1:{plain_port}"]
    log = tmp_path / "web.log"
    with web_process(env, log) as web:
        if unix:
            wait_until(lambda: answers(tmp_path / "web.sock"), 30, "web on its socket")
        else:
            wait_until_listening(upstream, web)
        with generated(tmp_path / "nginx", env, *options) as config:
            yield Front(
                port,
                upstream,
                log,
                config,
                "https" if tls else "http",
                cert,
                plain_port or 0,
                auth,
                str(cert) if cert else True,
                web,
            )


def answers(path: Path) -> bool:
    """Whether something listens on the Unix socket `path`."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def app_requests(front: Front) -> list[str]:
    """The access lines the web processes wrote."""
    return [line for line in front.log.read_text().splitlines() if "cora_ocr.access" in line]


def test_slow_and_idle_clients_wait_in_nginx_while_get_status_answers(tmp_path: Path) -> None:
    """Ten of each: silent, headers a byte at a time, a body stalled halfway (all cut at their
    deadlines), and a body trickled at 600 B/s. Two web processes: had any of these reached
    one, GetStatus would wait behind it."""
    body = envelope(get_status_body())
    with front(tmp_path) as door:
        clients = {
            "silent": [Trickler(door.connect(), b"", b"", 0) for _ in range(10)],
            "headers": [Trickler(door.connect(), b"", soap_head(len(body)), 1) for _ in range(10)],
            "stalled": [
                Trickler(door.connect(), soap_head(len(body)) + body[:100], b"", 0)
                for _ in range(10)
            ],
            # 60 bytes every 0.1 s: 600 B/s, each read resets nginx's body timeout.
            "600 B/s": [
                Trickler(door.connect(), soap_head(200_000), b" " * 200_000, 60) for _ in range(10)
            ],
        }
        everyone = [client for group in clients.values() for client in group]
        stop = threading.Event()

        def trickle() -> None:
            while not stop.is_set():
                for client in everyone:
                    client.step()
                time.sleep(0.1)

        thread = threading.Thread(target=trickle)
        thread.start()
        waits = []
        try:
            for job in range(30):  # about 3 s: past the deadlines
                started = time.monotonic()
                reply = door.get_status(job + 1)
                waits.append(time.monotonic() - started)
                assert reply.status_code == 200 and "<Status>" in reply.text
                time.sleep(0.1)
            time.sleep(DEADLINE)
        finally:
            stop.set()
            thread.join()
        for kind in ("silent", "headers", "stalled"):
            lasted = [client.closed_after for client in clients[kind]]
            assert all(t is not None and t <= DEADLINE + 2 for t in lasted), (kind, lasted)
        # nginx has no deadline for a whole body (see `cora-ocr nginx-config`'s comments):
        # the trickling clients are still being read, by nginx alone.
        assert all(client.closed_after is None for client in clients["600 B/s"])
        for client in everyone:
            client.conn.close()
    assert max(waits) < 1.0, waits
    lines = app_requests(door)
    assert len(lines) == 30 and all("GetStatus 200" in line for line in lines), lines


def test_a_thousand_idle_sockets_leave_get_status_answering(tmp_path: Path) -> None:
    with front(tmp_path) as door:
        idle = [door.connect() for _ in range(1000)]
        try:
            for job in range(10):
                assert door.get_status(job + 1).status_code == 200
            time.sleep(DEADLINE + 1)
            closed = 0
            for conn in idle:
                conn.setblocking(False)
                try:
                    closed += conn.recv(1) == b""
                except BlockingIOError:
                    pass
                except OSError:
                    closed += 1
            assert closed == 1000  # cut at the header deadline, unanswered
            assert door.get_status(11).status_code == 200
        finally:
            for conn in idle:
                conn.close()


@pytest.mark.parametrize(
    "path, limit",
    [(SERVICE, LIMIT), ("/api/v1/licenses", LIMIT), ("/api/v1/jobs", UPLOAD_LIMIT)],
)
def test_bodies_too_large_for_their_path_get_413_from_their_headers(
    tmp_path: Path, path: str, limit: int
) -> None:
    with front(tmp_path) as door:
        for size, refused in ((limit + 1, True), (limit, False)):
            for chunked in (False, True):
                with door.connect() as conn:
                    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
                    conn.sendall(
                        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {SOAP11_CT}\r\n"
                        f"{length}\r\n\r\n".encode()
                        + (b"%x\r\n<" % size if chunked else b"")
                    )
                    answer = read_answer(conn, timeout=1.5)
                assert (status_of(answer) == 413) == refused, (size, chunked, answer[:100])
        assert door.get_status().status_code == 200
    assert not [line for line in app_requests(door) if " 413 " in line]  # nginx's alone


def send_until_answered(
    conn: socket.socket, head: bytes, total: int, piece: int = 64 * 1024
) -> tuple[bytes, int]:
    """Sends `head`, then up to `total` bytes of body, looking for an answer before each
    piece: (what was answered, body bytes sent before it came)."""
    conn.sendall(head)
    sent, answer = 0, b""
    conn.settimeout(0.05)
    while sent < total:
        try:
            answer = conn.recv(65536)
        except TimeoutError:
            answer = b""
        if answer:
            break
        try:
            conn.sendall(b"\0" * piece)
        except OSError:
            break
        sent += piece
    conn.settimeout(5)
    with contextlib.suppress(OSError):
        while b"\r\n\r\n" not in answer or answer.startswith(b"HTTP/1.1 100"):
            more = conn.recv(65536)
            if not more:
                break
            answer += more
            if answer.startswith(b"HTTP/1.1 100") and answer.count(b"\r\n\r\n") >= 2:
                break
    return answer, sent


def upload_head(size: int, authorization: str = "", expect: bool = False) -> bytes:
    return (
        "POST /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {size}\r\n"
        + (f"Authorization: {authorization}\r\n" if authorization else "")
        + ("Expect: 100-continue\r\n" if expect else "")
        + "\r\n"
    ).encode()


def test_an_upload_without_valid_credentials_is_refused_before_its_body(tmp_path: Path) -> None:
    with front(tmp_path, licensed=True, tls=True) as door:
        for authorization, says in (
            ("", "credentials are required"),
            ("Basic d3Jvbmc6d3Jvbmc=", "do not grant access"),  # wrong:wrong
        ):
            for expect in (False, True):
                with door.connect() as conn:
                    answer, sent = send_until_answered(
                        conn, upload_head(UPLOAD_LIMIT, authorization, expect), UPLOAD_LIMIT
                    )
                final = (
                    answer.split(b"\r\n\r\n", 1)[1]
                    if answer.startswith(b"HTTP/1.1 100")
                    else answer
                )
                assert status_of(final) == 401, answer[:300]
                assert sent < 1024 * 1024, sent
                assert b"application/problem+json" in final and says.encode() in final
                assert b"WWW-Authenticate: Basic" in final
        # With its credentials the same way in, a real scan becomes a job.
        document = scan("png", 300_000)
        created = requests.post(
            f"https://127.0.0.1:{door.port}/api/v1/jobs",
            files={"file": ("scan.png", document, "image/png")},
            data={"profile": "Default"},
            auth=door.auth,
            verify=door.verify,
            timeout=30,
        )
        assert created.status_code == 201, created.text
        assert door.get_status().status_code == 200
    uploads = [line for line in app_requests(door) if "POST /api/v1/jobs" in line]
    assert len(uploads) == 1 and " 201 " in uploads[0], uploads  # refusals never reached it


def test_tls_only(tmp_path: Path) -> None:
    with front(tmp_path, licensed=True, tls=True) as door:
        assert door.get_status().status_code == 200
        plain = f"http://127.0.0.1:{door.plain_port}{SERVICE}"
        page = requests.get(plain + "?wsdl", allow_redirects=False, timeout=10)
        assert page.status_code == 301
        assert page.headers["Location"] == f"https://127.0.0.1{SERVICE}?wsdl"
        call = requests.post(plain, data=b"<x/>", auth=door.auth, timeout=10)
        assert call.status_code == 403 and "HTTPS is required" in call.text
        assert not [line for line in app_requests(door) if "GetStatus" not in line]
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            context = ssl.create_default_context(cafile=str(door.cert))
            context.minimum_version = context.maximum_version = version
            with (
                socket.create_connection(("127.0.0.1", door.port), timeout=10) as raw,
                context.wrap_socket(raw, server_hostname="127.0.0.1") as conn,
            ):
                assert conn.version() == {"TLSv1_2": "TLSv1.2", "TLSv1_3": "TLSv1.3"}[version.name]
        # TLS 1.1 offered (OpenSSL's client allows it at security level 0): nginx refuses it
        # with a protocol_version alert (a client that could not offer it says otherwise).
        older = subprocess.run(
            [
                *("openssl", "s_client", "-connect", f"127.0.0.1:{door.port}", "-tls1_1"),
                *("-cipher", "DEFAULT:@SECLEVEL=0"),
            ],
            input="",
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        assert "alert protocol version" in older.stdout + older.stderr, older.stderr
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in door.config


def test_tls_handshakes_and_headers_have_the_header_deadline(tmp_path: Path) -> None:
    with front(tmp_path, licensed=True, tls=True) as door:
        silent = socket.create_connection(("127.0.0.1", door.port), timeout=10)
        slow = door.connect()  # handshake done
        opened = time.monotonic()
        slow.sendall(f"GET {SERVICE}/GetStatus?MasterWorkflowInstanceId=1 HTTP/1.1\r\n".encode())
        assert door.get_status().status_code == 200
        assert status_of(read_answer(slow)) in (0, 408)  # nginx closes, answered or not
        assert read_answer(silent) == b""
        assert DEADLINE - 0.3 <= time.monotonic() - opened <= DEADLINE + 2.5
        silent.close()
        slow.close()


def test_a_clients_own_forwarded_headers_mean_nothing(tmp_path: Path) -> None:
    with front(tmp_path, licensed=True, tls=True) as door:
        spoofed = door.get_status(
            **{
                "X-Forwarded-For": "203.0.113.9",
                "X-Forwarded-Host": "evil.example",
                "X-Forwarded-Proto": "http",
                "Forwarded": "for=203.0.113.9;proto=http",
            }
        )
        assert spoofed.status_code == 200, spoofed.text
        wsdl = requests.get(
            door.url + "?wsdl",
            headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"},
            verify=door.verify,
            timeout=10,
        )
        assert f'location="https://127.0.0.1:{door.port}{SERVICE}"' in wsdl.text
        assert "evil.example" not in wsdl.text
        plain = requests.post(
            f"http://127.0.0.1:{door.plain_port}{SERVICE}",
            data=envelope(get_status_body(), header_xml(1)),
            headers={"Content-Type": SOAP11_CT, "X-Forwarded-Proto": "https"},
            auth=door.auth,
            timeout=10,
        )
        assert plain.status_code == 403
    lines = app_requests(door)
    assert lines and all("peer=127.0.0.1" in line for line in lines), lines
    assert not any("203.0.113.9" in line for line in lines)


def test_web_on_a_unix_socket_trusts_its_one_peer(tmp_path: Path) -> None:
    """`web_socket`: nginx reaches `web` through a file; the peer on it is the proxy, so the
    HTTPS rule holds through TLS at nginx, and credentials are still required. The socket
    file a killed `web` left behind (nothing listens on it) does not keep the next from
    starting."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as killed:
        killed.bind(str(tmp_path / "web.sock"))  # closed, never removed: as after a SIGKILL
    with front(tmp_path, licensed=True, tls=True, unix=True) as door:
        assert "server unix:" in door.config
        assert door.get_status().status_code == 200
        anonymous = requests.get(
            door.url + "/GetStatus?MasterWorkflowInstanceId=1", verify=door.verify, timeout=10
        )
        assert anonymous.status_code == 401
        plain = requests.post(
            f"http://127.0.0.1:{door.plain_port}{SERVICE}", data=b"<x/>", auth=door.auth, timeout=10
        )
        assert plain.status_code == 403
        mode = (tmp_path / "web.sock").stat().st_mode & 0o777
        assert mode == 0o770, oct(mode)  # nginx reaches it through the group, nobody else
    lines = app_requests(door)
    assert len(lines) == 2 and all("peer=127.0.0.1" in line for line in lines), lines


@pytest.mark.parametrize(
    "settings, options",
    [
        (Settings(require_https=False), NginxOptions(listen="127.0.0.1:8081")),
        (Settings(host="::1"), NginxOptions(listen="[::1]:443", upstream="unix:/run/web.sock")),
        (Settings(), NginxOptions(http_listen="8080", listen="8443")),
    ],
)
def test_nginx_accepts_what_the_command_prints(
    tmp_path: Path, settings: Settings, options: NginxOptions
) -> None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if options.listen != "127.0.0.1:8081":
        cert, key = self_signed(tmp_path)
        options = dataclasses.replace(options, tls_cert=cert, tls_key=key)
    options = dataclasses.replace(options, run_dir=tmp_path, user="root")
    (tmp_path / "nginx.conf").write_text(render(settings, options))
    checked = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr


def _web_processes(pid: int) -> set[int]:
    """The processes `pid` started, by each of its threads (one may end while looked at)."""
    children: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            children.update(int(child) for child in (task / "children").read_text().split())
    return children


@pytest.mark.parametrize(
    "server, unix", [("granian", True), ("gunicorn", False)], ids=["granian-socket", "gunicorn-tcp"]
)
def test_a_reload_under_load(tmp_path: Path, server: str, unix: bool) -> None:
    """`systemctl reload` (SIGHUP) while licensed callers keep calling through nginx (HTTPS), each on
    a kept connection: every web process is replaced by a new one, and the calls (SOAP POSTs)
    are answered 200. Each server where its processes share one listening socket: granian on
    `web_socket` (as deploy/ runs it; on TCP each granian process has a socket of its own,
    whose queued connections a reload resets: host/production.py, reload_caveat), gunicorn
    on either. gunicorn loses no call. granian (hyper) closes a connection it accepted but
    has not read a byte of when its process is told to stop, and nginx's request meets a
    closed socket (502, "writev() failed (32: Broken pipe) while sending request to
    upstream"): about one call in 25 reloads here; never more than one for each process
    replaced."""
    with front(tmp_path, licensed=True, tls=True, unix=unix, server=server) as door:
        assert door.web is not None
        before = _web_processes(door.web.pid)
        assert len(before) == 2
        statuses: list[int] = []
        calling = threading.Event()
        calling.set()

        def call() -> None:
            with requests.Session() as session:
                while calling.is_set():
                    answer = session.post(
                        door.url,
                        data=envelope(get_status_body(), header_xml(1)),
                        headers={"Content-Type": SOAP11_CT, "SOAPAction": action("GetStatus")},
                        auth=door.auth,
                        verify=door.verify,
                        timeout=10,
                    )
                    statuses.append(answer.status_code)

        callers = [threading.Thread(target=call) for _ in range(4)]
        for caller in callers:
            caller.start()
        try:
            wait_until(lambda: len(statuses) > 50, 30, "calls before the reload")
            door.web.send_signal(signal.SIGHUP)
            wait_until(
                lambda: len(now := _web_processes(door.web.pid)) == 2 and not now & before,  # type: ignore[union-attr]
                60,
                "new web processes",
            )
            served = len(statuses)
            wait_until(lambda: len(statuses) > served + 50, 30, "calls after the reload")
        finally:
            calling.clear()
            for caller in callers:
                caller.join(timeout=15)
        counts = {code: statuses.count(code) for code in set(statuses)}
        assert counts.get(200, 0) > 100, counts
        lost = len(statuses) - counts[200]
        if server == "gunicorn":
            assert lost == 0, counts
        else:
            assert set(counts) <= {200, 502} and lost <= len(before), counts
