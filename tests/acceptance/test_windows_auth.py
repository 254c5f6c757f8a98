"""Acceptance (issue 36): callers that sign in the IIS way. A real MIT Kerberos realm on
loopback (tests/support/kerberos.py), `cora-ocr serve` and nginx + `cora-ocr web` with
`[windows_auth]` on, and the clients Cora sites use from Python and the shell: zeep with
requests-kerberos and requests_ntlm, curl --negotiate and --ntlm. Each refusal is a 401 with
a security log line, and no job."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import zeep
from requests_ntlm import HttpNtlmAuth
from zeep.transports import Transport

from cora_ocr.config import load_settings
from cora_ocr.services import build_services
from cora_ocr.statuses import OcrStatus
from cora_ocr.store import Store
from cora_ocr.store.migrate import upgrade
from tests.support.factories import (
    SOAP11_CT,
    action,
    envelope,
    file_batch_args,
    file_batch_body,
    get_status_body,
    header_xml,
    wire_status,
)
from tests.support.kerberos import NTLM_PASSWORD, NTLM_USER, Realm, applied, realm
from tests.support.nginx import generated
from tests.support.processes import SERVICE, free_port, wait_until_listening, web_process
from tests.support.scans import scan
from tests.support.waiting import read_line, wait_until

SCHEME = re.compile(r"(?:^|,\s*)(Negotiate|NTLM|Basic)(?=\s|,|$)")
LIVE = {OcrStatus.Queued, OcrStatus.ProcessingInput, OcrStatus.WaitingForOutput, OcrStatus.Failed}
# A realm needs MIT's KDC and the `test-kerberos` extra (gssapi, k5test, requests-kerberos),
# which build against libkrb5-dev: .ci/run installs all of them; a bare `[test]` install
# skips this module, saying why.
if not Path("/usr/sbin/krb5kdc").exists():
    pytest.skip("needs Debian's krb5-kdc (.ci/run installs it)", allow_module_level=True)
pytest.importorskip("k5test", reason="needs the test-kerberos extra (.ci/run installs it)")
HTTPKerberosAuth = pytest.importorskip(
    "requests_kerberos", reason="needs the test-kerberos extra"
).HTTPKerberosAuth


@pytest.fixture(scope="module")
def kdc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Realm]:
    with realm(tmp_path_factory.mktemp("realm")) as running, applied(running.env):
        yield running


@dataclass
class Site:
    """A running service with a license whose app Alice (Kerberos) and CORP\\bob (NTLM) call
    as, and a second license that is suspended, mapped to nobody yet."""

    base: str  # http://localhost:PORT
    env: dict[str, str]
    log: Path
    license_id: str
    app_id: str
    suspended: tuple[str, str]  # License ID, App ID

    @property
    def url(self) -> str:
        return self.base + SERVICE

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cora_ocr.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def jobs(self) -> int:
        listed = self.cli("jobs", "list").stdout.strip().splitlines()
        return max(0, len(listed) - 1)


def licensed_env(tmp_path: Path, kdc: Realm, **windows: object) -> dict[str, str]:
    return {
        **os.environ,
        **kdc.windows_auth_env(**windows),
        "CORA_OCR_DATA_DIR": str(tmp_path / "data"),
        "CORA_OCR_DATABASE_URL": f"sqlite:///{tmp_path / 'windows.db'}",
        "CORA_OCR_PORT": str(free_port()),
        "CORA_OCR_POLL_SECONDS": "0.1",
        "CORA_OCR_ALLOW_ANONYMOUS": "false",
    }


def licenses(env: dict[str, str], kdc: Realm) -> tuple[str, str, tuple[str, str]]:
    """A license and app mapped to Alice and CORP\\bob, and a suspended license."""
    settings = load_settings(environ=env)
    store = Store(settings.effective_database_url)
    upgrade(store.engine)
    licensing = build_services(settings, store).licensing
    license_id = licensing.create_license("Acme")
    app_id = licensing.create_app(license_id, "intake")
    licensing.map_principal(license_id, app_id, kdc.user)
    licensing.map_principal(license_id, app_id, NTLM_USER)
    other = licensing.create_license("Suspended Inc")
    other_app = licensing.create_app(other, "intake")
    licensing.set_license_suspended(other, True)
    store.dispose()
    return license_id, app_id, (other, other_app)


@contextlib.contextmanager
def serving(tmp_path: Path, kdc: Realm, **windows: object) -> Iterator[Site]:
    env = licensed_env(tmp_path, kdc, **windows)
    license_id, app_id, suspended = licenses(env, kdc)
    log = tmp_path / "serve.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "cora_ocr.cli", "--log-level", "INFO", "serve"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        assert process.stdout is not None
        assert "cora-ocr serving" in read_line(process.stdout, 60, "serve starts")
        base = f"http://localhost:{env['CORA_OCR_PORT']}"
        yield Site(base, env, log, license_id, app_id, suspended)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture(scope="module")
def site(kdc: Realm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with serving(tmp_path_factory.mktemp("serve"), kdc) as running:
        yield running


def soap_client(site: Site, auth: object) -> zeep.Client:
    session = requests.Session()
    session.auth = auth  # type: ignore[assignment]
    return zeep.Client(site.url + "?wsdl", transport=Transport(session=session))


def file_batch_then_get_status(client: zeep.Client) -> tuple[int, str]:
    job = int(client.service.FileBatch(**file_batch_args()))
    status, _code = wire_status(client, job)
    return job, status


def get_status(
    site: Site, authorization: str, session: requests.Session | None = None, job: int = 1
) -> requests.Response:
    return (session or requests).post(
        site.url,
        data=envelope(get_status_body(), header_xml(job)),
        headers={
            "Content-Type": SOAP11_CT,
            "SOAPAction": action("GetStatus"),
            "Authorization": authorization,
        },
        timeout=30,
    )


def offered(reply: requests.Response) -> list[str]:
    """The schemes a 401 offers, in order."""
    values = reply.raw.headers.getlist("WWW-Authenticate")
    return [scheme for value in values for scheme in SCHEME.findall(value)]


# --- Kerberos -------------------------------------------------------------------------------
def test_zeep_with_requests_kerberos_runs_file_batch_then_get_status(site: Site) -> None:
    client = soap_client(site, HTTPKerberosAuth())  # mutual authentication REQUIRED (default)
    job, status = file_batch_then_get_status(client)
    assert job > 0 and status in LIVE
    listed = site.cli("jobs", "show", str(job)).stdout
    assert site.license_id in listed  # the job belongs to the mapped license


def test_the_401_offers_every_scheme_and_the_200_carries_the_mutual_token(site: Site) -> None:
    refused = requests.get(site.url + "/GetStatus?MasterWorkflowInstanceId=1", timeout=30)
    assert refused.status_code == 401
    assert offered(refused) == ["Negotiate", "NTLM", "Basic"]
    answered = get_status(site, "Negotiate " + kdc_token(site))
    assert answered.status_code == 200, answered.text
    scheme, _, token = answered.headers["WWW-Authenticate"].partition(" ")
    assert scheme == "Negotiate" and base64.b64decode(token)


def kdc_token(site: Site, target: str = "HTTP@localhost") -> str:
    import gssapi

    context = gssapi.SecurityContext(
        name=gssapi.Name(target, gssapi.NameType.hostbased_service),
        usage="initiate",
        mech=gssapi.OID.from_int_seq("1.3.6.1.5.5.2"),
    )
    return base64.b64encode(context.step()).decode()


def test_curl_negotiate_gets_the_wsdl_and_the_rest_face_takes_an_upload(site: Site) -> None:
    wsdl = subprocess.run(
        [
            "curl",
            "-sS",
            "--negotiate",
            "-u",
            ":",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            site.url + "?wsdl",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )
    body, _, code = wsdl.stdout.rpartition("\n")
    assert code == "200" and "wsdl:definitions" in body
    upload = requests.post(
        site.base + "/api/v1/jobs",
        files={"file": ("scan.png", scan("png", 1), "image/png")},
        auth=HTTPKerberosAuth(),
        timeout=60,
    )
    assert upload.status_code == 201, upload.text
    assert upload.headers["WWW-Authenticate"].startswith("Negotiate ")
    # A large one is judged from its headers by the door, which accepts the token; the app
    # then takes the door's verdict (accepting the token again would be a replay).
    large = requests.post(
        site.base + "/api/v1/jobs",
        files={"file": ("large.png", scan("png", 2_000_000), "image/png")},
        auth=HTTPKerberosAuth(force_preemptive=True),
        timeout=60,
    )
    assert large.status_code == 201, large.text
    assert large.json()["id"] > upload.json()["id"]


def test_a_replayed_kerberos_token_is_refused(site: Site) -> None:
    token = kdc_token(site)
    assert get_status(site, "Negotiate " + token).status_code == 200
    replayed = get_status(site, "Negotiate " + token)
    assert replayed.status_code == 401
    assert "Kerberos refused the ticket" in site.log_text()


def test_a_ticket_for_another_service_is_refused(site: Site) -> None:
    refused = get_status(site, "Negotiate " + kdc_token(site, "HTTP@otherhost"))
    assert refused.status_code == 401
    assert "Negotiate token refused" in site.log_text()


def test_an_authenticated_but_unmapped_principal_is_refused_and_named_only_in_the_log(
    site: Site, kdc: Realm
) -> None:
    assert site.cli("apps", "unmap-principal", kdc.user).returncode == 0
    try:
        # Verdicts are kept by each process for licensing's cache_seconds (5 s).
        wait_until(
            lambda: get_status(site, "Negotiate " + kdc_token(site)).status_code == 401,
            15,
            "the unmapping seen by serve",
        )
        refused = get_status(site, "Negotiate " + kdc_token(site))
        assert refused.status_code == 401
        assert "alice" not in refused.text.lower()
        assert f"windows principal {kdc.user} is not mapped" in site.log_text()
    finally:
        assert (
            site.cli("apps", "map-principal", site.license_id, site.app_id, kdc.user).returncode
            == 0
        )


def test_a_mapped_user_of_a_suspended_license_gets_the_basic_callers_answer(
    tmp_path: Path, kdc: Realm
) -> None:
    with serving(tmp_path, kdc) as running:
        other, other_app = running.suspended
        assert running.cli("apps", "map-principal", other, other_app, kdc.user).returncode == 0
        windows = get_status(running, "Negotiate " + kdc_token(running))
        basic = get_status(
            running, "Basic " + base64.b64encode(f"{other}:{other_app}".encode()).decode()
        )
    assert windows.status_code == basic.status_code == 401
    assert windows.text == basic.text
    assert "license suspended" in running.log_text()


# --- NTLM through serve -------------------------------------------------------------------
def test_zeep_with_requests_ntlm_runs_file_batch_then_get_status(site: Site) -> None:
    client = soap_client(site, HttpNtlmAuth(NTLM_USER, NTLM_PASSWORD))
    job, status = file_batch_then_get_status(client)
    assert job > 0 and status in LIVE


def test_curl_ntlm_runs_file_batch_then_get_status(site: Site, tmp_path: Path) -> None:
    body = tmp_path / "file_batch.xml"
    body.write_bytes(envelope(file_batch_body(put_model="Rename")))

    def curl(data: Path, soap_action: str) -> str:
        done = subprocess.run(
            [
                "curl",
                "-sS",
                "--ntlm",
                "-u",
                f"{NTLM_USER}:{NTLM_PASSWORD}",
                "-H",
                f"Content-Type: {SOAP11_CT}",
                "-H",
                f"SOAPAction: {action(soap_action)}",
                "--data-binary",
                f"@{data}",
                "-w",
                "\n%{http_code}",
                site.url,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        answer, _, code = done.stdout.rpartition("\n")
        assert code == "200", (code, answer, done.stderr)
        return answer

    answer = curl(body, "FileBatch")
    job = int(answer.split("<MasterWorkflowInstanceId>")[1].split("<")[0])
    status = tmp_path / "get_status.xml"
    status.write_bytes(envelope(get_status_body(), header_xml(job)))
    assert "<Status>" in curl(status, "GetStatus")


def ntlm_leg(session: requests.Session, site: Site, token: bytes) -> requests.Response:
    return get_status(site, "NTLM " + base64.b64encode(token).decode(), session)


def ntlm_client(password: str = NTLM_PASSWORD, user: str = NTLM_USER) -> object:
    import spnego

    return spnego.client(user, password, hostname="localhost", service="HTTP", protocol="ntlm")


def challenge_of(reply: requests.Response) -> bytes:
    assert reply.status_code == 401
    return base64.b64decode(reply.headers["WWW-Authenticate"].partition(" ")[2])


def test_ntlm_refusals(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong password, an unknown user, NTLMv1 where only v2 is accepted, a type-3 message
    on another connection: each a 401, logged, and the connection's handshake gone."""
    jobs = site.jobs()
    for password, user in ((f"not-{NTLM_PASSWORD}", NTLM_USER), (NTLM_PASSWORD, "CORP\\mallory")):
        with requests.Session() as session:
            client = ntlm_client(password, user)
            challenge = challenge_of(ntlm_leg(session, site, client.step()))
            refused = ntlm_leg(session, site, client.step(challenge))
            assert refused.status_code == 401
    assert "NTLM token refused" in site.log_text()

    monkeypatch.setenv("LM_COMPAT_LEVEL", "1")  # this client answers with NTLMv1
    v1 = ntlm_client()
    monkeypatch.delenv("LM_COMPAT_LEVEL")
    with requests.Session() as session:
        challenge = challenge_of(ntlm_leg(session, site, v1.step()))
        assert ntlm_leg(session, site, v1.step(challenge)).status_code == 401

    client = ntlm_client()
    with requests.Session() as first, requests.Session() as second:
        challenge = challenge_of(ntlm_leg(first, site, client.step()))
        elsewhere = ntlm_leg(second, site, client.step(challenge))
    assert elsewhere.status_code == 401
    assert "without its beginning on this connection" in site.log_text()
    assert site.jobs() == jobs


def test_basic_callers_are_unchanged(site: Site) -> None:
    basic = base64.b64encode(f"{site.license_id}:{site.app_id}".encode()).decode()
    assert get_status(site, "Basic " + basic).status_code == 200
    assert get_status(site, "Basic " + base64.b64encode(b"x:y").decode()).status_code == 401


# --- Kerberos through nginx + web ---------------------------------------------------------
def test_kerberos_through_nginx_and_web(tmp_path: Path, kdc: Realm) -> None:
    env = licensed_env(tmp_path, kdc, ntlm_user_file="")
    env.update(
        CORA_OCR_TRUSTED_PROXIES="127.0.0.1",
        CORA_OCR_REQUIRE_HTTPS="false",
        CORA_OCR_WEB_WORKERS="2",
    )
    license_id, _app, _other = licenses(env, kdc)
    port = free_port()
    log = tmp_path / "web.log"
    with web_process(env, log) as web:
        wait_until_listening(int(env["CORA_OCR_PORT"]), web)
        with generated(tmp_path / "nginx", env, "--listen", f"127.0.0.1:{port}") as config:
            assert "auth_request_set $cora_ocr_caller" in config
            front = Site(f"http://localhost:{port}", env, log, license_id, "", ("", ""))
            refused = get_status(front, "")
            assert refused.status_code == 401
            assert offered(refused) == ["Negotiate", "Basic"]  # no NTLM behind nginx
            client = soap_client(front, HTTPKerberosAuth())
            job, status = file_batch_then_get_status(client)
            assert job > 0 and status in LIVE
            # An upload: the door accepts the token from its headers, the app takes its
            # verdict from nginx (accepting the token again would be a replay).
            upload = requests.post(
                front.base + "/api/v1/jobs",
                files={"file": ("scan.png", scan("png", 1), "image/png")},
                auth=HTTPKerberosAuth(),
                timeout=60,
            )
            assert upload.status_code == 201, upload.text
            assert upload.json()["id"] > job
            door_refused = requests.post(
                front.base + "/api/v1/jobs",
                files={"file": ("scan.png", b"x" * 1000, "image/png")},
                headers={"Authorization": "Negotiate " + kdc_token(front, "HTTP@otherhost")},
                timeout=60,
            )
            assert door_refused.status_code == 401
            assert "Negotiate" in door_refused.headers.get("WWW-Authenticate", "")
            assert json.loads(door_refused.text)["status"] == 401
        # Straight to web, from its trusted proxy's address: a verdict header the door did
        # not seal is not believed (its token is judged, and refused).
        forged = requests.post(
            f"http://127.0.0.1:{env['CORA_OCR_PORT']}/api/v1/jobs",
            files={"file": ("scan.png", scan("png", 1), "image/png")},
            headers={
                "Authorization": "Negotiate YWJjZGVm",
                "X-Cora-Ocr-Caller": "0" * 64 + " " + kdc.user,
                "X-Forwarded-Proto": "http",
            },
            timeout=60,
        )
        assert forged.status_code == 401, forged.text


def test_windows_auth_check(tmp_path: Path, kdc: Realm) -> None:
    env = licensed_env(tmp_path, kdc)
    run = Site("", env, tmp_path / "none", "", "", ("", ""))
    good = run.cli("windows-auth", "check")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "keytab: ok" in good.stdout and "ntlm_user_file: ok" in good.stdout
    assert "Secret" not in good.stdout
    kdc.user_file.chmod(0o644)
    try:
        bad = run.cli("windows-auth", "check")
        refused = run.cli("serve")
    finally:
        kdc.user_file.chmod(0o600)
    assert bad.returncode == 1 and "must be 0600" in bad.stdout
    assert refused.returncode != 0 and "0600" in refused.stderr
    wrong = {**env, **kdc.windows_auth_env(service_principal="HTTP/otherhost")}
    other = Site("", wrong, tmp_path / "none", "", "", ("", "")).cli("windows-auth", "check")
    assert other.returncode == 1 and "holds no key for HTTP/otherhost" in other.stdout


def test_nothing_is_read_from_a_refused_uploads_body(site: Site) -> None:
    """A refused Negotiate is answered from the headers: no "100 Continue", no body read."""
    import socket

    port = int(site.env["CORA_OCR_PORT"])
    head = (
        b"POST /api/v1/jobs HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/pdf\r\nContent-Length: 50000000\r\n"
        b"Expect: 100-continue\r\nAuthorization: Negotiate YWJj\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(head)
        answer = conn.recv(65536).decode(errors="replace")
    assert answer.startswith("HTTP/1.1 401"), answer[:200]
    assert "100 Continue" not in answer
    wait_until(lambda: "Negotiate" in site.log_text(), 10, "the refusal logged")


def test_ntlm_legs_that_wait_for_100_continue_are_answered_from_the_headers(site: Site) -> None:
    """A client that asks for "100 Continue" (.NET does, for a POST) gets NTLM's challenge from
    the headers, no "100 Continue", on a connection that stays open; its third message on
    that connection completes the handshake and only then is the body sent."""
    import socket

    port = int(site.env["CORA_OCR_PORT"])
    body = envelope(get_status_body(), header_xml(1)) + b" " * 100_000  # past the door's size
    client = ntlm_client()

    def head(token: bytes, expect: bool = True) -> bytes:
        lines = [
            f"POST {SERVICE} HTTP/1.1",
            "Host: localhost",
            f"Content-Type: {SOAP11_CT}",
            f"SOAPAction: {action('GetStatus')}",
            f"Content-Length: {len(body)}",
            f"Authorization: NTLM {base64.b64encode(token).decode()}",
        ]
        return (
            "\r\n".join([*lines, *(["Expect: 100-continue"] if expect else [])]) + "\r\n\r\n"
        ).encode()

    def answer(conn: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        headers, _, rest = data.partition(b"\r\n\r\n")
        length = int(
            next(
                line.split(b":", 1)[1]
                for line in headers.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
        )
        while len(rest) < length:
            rest += conn.recv(65536)
        return headers

    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(head(client.step()))
        first = answer(conn)
        assert first.startswith(b"HTTP/1.1 401") and b"100 Continue" not in first, first
        assert b"connection: close" not in first.lower()
        challenge = next(
            line.split(b" ", 2)[2]
            for line in first.split(b"\r\n")
            if line.lower().startswith(b"www-authenticate: ntlm ")
        )
        conn.sendall(head(client.step(base64.b64decode(challenge))))
        go_on = conn.recv(65536)
        assert go_on.startswith(b"HTTP/1.1 100 Continue"), go_on
        conn.sendall(body)
        last = answer(conn)
    assert last.startswith(b"HTTP/1.1 200"), last
