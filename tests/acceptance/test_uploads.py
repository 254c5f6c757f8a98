"""Uploads as users send them (issue 25, items 1 and 2): real-size scans through curl and
requests all become jobs; a refused or broken upload leaves nothing in the staging folder;
what a killed process left there is swept."""

from __future__ import annotations

import base64
import contextlib
import io
import os
import select
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
from werkzeug.test import Client

from cora_ocr.connections import STAGING
from cora_ocr.host.app import create_app
from cora_ocr.job_view import PREFIX
from cora_ocr.namespaces import SERVICE_PATH
from cora_ocr.services import Services
from tests.conftest import LiveServer, Strict
from tests.support.factories import SOAP11_CT, action
from tests.support.scans import KINDS, SUFFIXES, scan, sizes

PNG = b"\x89PNG\r\n\x1a\n" + b"page one"
READ_SIZE = 64 * 1024  # what Werkzeug's multipart parser reads at a time
LOCAL = {"REMOTE_ADDR": "127.0.0.1"}  # an anonymous caller on this host, as the local setup admits


def staged(services: Services) -> list[Path]:
    return sorted((services.settings.data_dir / "rest" / STAGING).glob("*"))


def curl_upload(url: str, path: Path, *headers: str) -> tuple[int, str]:
    """`curl -F file=@path` (with `-H` for each header): the status and the body."""
    sent = [arg for header in headers for arg in ("-H", header)]
    done = subprocess.run(
        [
            "curl",
            "-sS",
            "--max-time",
            "60",
            "-w",
            "\n%{http_code}",
            *sent,
            "-F",
            f"file=@{path}",
            url,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=90,
    )
    body, _, status = done.stdout.rpartition("\n")
    assert done.returncode == 0, done.stderr
    return int(status), body


def test_real_size_scans_upload_with_curl_and_with_requests(
    server: LiveServer, services: Services, tmp_path: Path
) -> None:
    url = server.base + PREFIX + "/jobs"
    inbox = services.settings.data_dir / "rest" / "inbox"
    before = set(inbox.iterdir()) if inbox.exists() else set()
    refused: list[str] = []
    created: list[int] = []
    for index, size in enumerate(sizes(100, 200_000, 20_000_000)):
        kind = KINDS[index % len(KINDS)]
        path = tmp_path / f"scan-{index}{SUFFIXES[kind]}"
        path.write_bytes(scan(kind, size, seed=index))
        if index % 2 == 0:
            status, body = curl_upload(url, path)
        else:
            with path.open("rb") as file:
                reply = requests.post(url, files={"file": (path.name, file)}, timeout=60)
            status, body = reply.status_code, reply.text
        if status == 201:
            created.append(int(body.split('"id":')[1].split(",")[0]))
        else:
            refused.append(f"{path.name} ({path.stat().st_size} bytes): {status} {body}")
        path.unlink()
    assert refused == []
    assert len(created) == 100
    assert staged(services) == []
    for job_id in created:
        assert requests.delete(f"{url}/{job_id}", timeout=10).status_code == 204
    assert set(inbox.iterdir()) == before  # each job's document went with it


def test_a_multi_megabyte_scan_retried_by_curl_with_its_key_makes_one_job(
    server: LiveServer, services: Services, tmp_path: Path
) -> None:
    """What a client that timed out does: send the same 8 MB scan again with the same
    Idempotency-Key. One job; the same key with another scan is refused with 422."""
    url = server.base + PREFIX + "/jobs"
    first_scan, other_scan = tmp_path / "scan.tif", tmp_path / "other.tif"
    first_scan.write_bytes(scan("tiff", 8_000_000, seed=1))
    other_scan.write_bytes(scan("tiff", 8_000_000, seed=2))
    key = "Idempotency-Key: claim-2026-4711"
    status, body = curl_upload(url, first_scan, key)
    assert status == 201, body
    again_status, again_body = curl_upload(url, first_scan, key)
    assert again_status == 200 and again_body == body
    other_status, other_body = curl_upload(url, other_scan, key)
    assert other_status == 422 and "Idempotency-Key" in other_body
    assert len(services.jobs.list(limit=10)) == 1
    assert staged(services) == []  # the retried and the refused bodies left nothing behind


def test_file_data_whose_read_ends_inside_a_boundary_is_accepted(services: Services) -> None:
    """Every placement of the closing boundary around the end of the parser's first read:
    each upload is parsed (and then refused for its unknown profile, so nothing is stored)."""
    client = Client(create_app(services))
    answers: dict[int, int] = {}
    for length in range(READ_SIZE - 400, READ_SIZE + 1):
        data = PNG + b"x" * (length - len(PNG))
        reply = client.post(
            PREFIX + "/jobs",
            data={"file": (io.BytesIO(data), "scan.png"), "profile": "Nope"},
            environ_base=LOCAL,
        )
        answers[reply.status_code] = answers.get(reply.status_code, 0) + 1
        if reply.status_code != 400:
            pytest.fail(f"{length} bytes of file data: {reply.status_code} {reply.text}")
    assert answers == {400: 401}
    assert staged(services) == []


def _multipart(parts: list[tuple[str, str | None, bytes]]) -> tuple[bytes, str]:
    boundary = "----cora-test-boundary"
    body = b""
    for name, filename, value in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += (
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"
        )
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize(
    ("case", "status", "says"),
    [
        ("a 17th part", 413, "at most 16 parts"),
        ("a text field of 600 KB", 413, "bytes in a text field"),
        ("no closing boundary", 400, "the multipart/form-data body is broken"),
        ("a scan that is no document", 415, "its content is not a document"),
        ("an unknown field after the file", 400, "colour: is not a field of a job"),
    ],
)
def test_a_refused_upload_leaves_nothing_staged(
    server: LiveServer, services: Services, case: str, status: int, says: str
) -> None:
    document = scan("jpeg", 1_500_000)
    parts: list[tuple[str, str | None, bytes]] = [("file", "scan.jpg", document)]
    if case == "a 17th part":
        parts += [(f"extra{index}", f"x{index}.jpg", document[:100_000]) for index in range(16)]
    elif case == "a text field of 600 KB":
        parts.append(("externalContext", None, b"x" * 600_000))
    elif case == "a scan that is no document":
        parts = [("file", "scan.jpg", b"%" + document[1:])]
    elif case == "an unknown field after the file":
        parts.append(("colour", None, b"red"))
    body, content_type = _multipart(parts)
    if case == "no closing boundary":
        body = body[: -len(b"--\r\n") - 40]
    reply = requests.post(
        server.base + PREFIX + "/jobs",
        data=body,
        headers={"Content-Type": content_type},
        timeout=30,
    )
    assert reply.status_code == status, reply.text
    assert says in reply.json()["detail"]
    assert staged(services) == []
    assert services.jobs.list(limit=10) == []


def test_a_body_cut_short_leaves_nothing_staged(services: Services) -> None:
    """As under a server that streams the body to the app (gunicorn): the client goes away
    after 1 MB of a 3 MB upload."""
    body, content_type = _multipart([("file", "scan.tif", scan("tiff", 3_000_000))])
    reply = Client(create_app(services)).post(
        PREFIX + "/jobs",
        input_stream=io.BytesIO(body[:1_000_000]),
        content_type=content_type,
        content_length=len(body),
        environ_base=LOCAL,
    )
    assert reply.status_code == 400, reply.text
    assert "body is broken or cut short" in reply.json["detail"]
    assert staged(services) == []
    assert services.jobs.list(limit=10) == []


def test_what_a_killed_request_left_staged_is_swept_by_workers_and_at_start(
    services: Services,
) -> None:
    staging = services.settings.data_dir / "rest" / STAGING
    staging.mkdir(parents=True, exist_ok=True)
    age = services.settings.orphan_seconds

    def leave(name: str, seconds_ago: float) -> Path:
        folder = staging / name
        folder.mkdir()
        (folder / "part-1").write_bytes(b"x" * 1000)
        then = time.time() - seconds_ago
        os.utime(folder, (then, then))
        return folder

    old, fresh = leave("request-old", age + 60), leave("request-fresh", 5)
    assert services.worker().sweep() >= 1
    assert staged(services) == [fresh]
    leave("request-old", age + 60)
    create_app(services)
    assert staged(services) == [fresh]
    assert not old.exists()
    shutil.rmtree(fresh)


def before_the_body(
    base: str, path: str, headers: dict[str, str], length: int = 100 << 20
) -> tuple[bytes, int]:
    """Headers announcing a body of `length` bytes, then (without `Expect: 100-continue`) the body as
    fast as the server takes it, until it answers: (the answer, body bytes it took first)."""
    host, port = base.split("//")[1].split(":")
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {length}\r\n"
    head += "".join(f"{key}: {value}\r\n" for key, value in headers.items()) + "\r\n"
    sent, answer, deadline = 0, b"", time.monotonic() + 30
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(head.encode())
        waiting = "Expect" in headers  # then nothing is sent before "100 Continue"
        while not answer and time.monotonic() < deadline:
            readable, writable, _ = select.select([conn], [] if waiting else [conn], [], 1)
            if readable:
                answer = conn.recv(65536)
                break
            if writable and sent < length:
                try:
                    sent += conn.send(b"\0" * 65536)
                except OSError:
                    break
        conn.settimeout(5)
        with contextlib.suppress(OSError):
            while chunk := conn.recv(65536):
                answer += chunk
    return answer, sent


def test_an_upload_without_credentials_is_refused_before_its_body(strict: Strict) -> None:
    base = strict.url.split("/SequenceServices/")[0]
    form = {"Content-Type": "multipart/form-data; boundary=x"}
    for headers in ({**form, "Expect": "100-continue"}, form):
        answer, sent = before_the_body(base, PREFIX + "/jobs", headers)
        assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]  # no "100 Continue" first
        assert b"www-authenticate: basic" in answer.lower()  # header names: any case
        assert b"application/problem+json" in answer
        # Not the 100 MiB, nor anything like it: without Expect, what was sent is only what
        # the two kernels' socket buffers took on loopback (a few MiB at most); with it, 0.
        assert sent < 8 << 20 if "Expect" not in headers else sent == 0, sent
    soap = {"Content-Type": SOAP11_CT, "SOAPAction": action("FileBatch")}
    answer, sent = before_the_body(base, SERVICE_PATH, {**soap, "Expect": "100-continue"}, 3 << 20)
    assert answer.startswith(b"HTTP/1.1 401 ") and b"<faultcode>soap:Client</faultcode>" in answer
    assert sent == 0
    garbled = {**form, "Expect": "100-continue", "Authorization": "Basic !!!"}
    assert before_the_body(base, PREFIX + "/jobs", garbled)[0].startswith(b"HTTP/1.1 401 ")
    # With valid credentials the body is asked for ("100 Continue") and read as usual.
    auth = strict.credentials()
    good = requests.post(
        base + PREFIX + "/jobs", files={"file": ("a.png", PNG)}, auth=auth, timeout=10
    )
    assert good.status_code == 201, good.text


def test_the_door_leaves_a_request_to_the_app_when_it_cannot_read_the_licenses(
    strict: Strict,
) -> None:
    """A database outage while the door judges: no exception on the server's event loop (the
    connection would close unanswered); the app answers, as it does in an outage."""

    class Unreadable:
        def authenticate(self, *_args: object) -> None:
            raise OSError("the database went away")

    door = strict.app.judge_headers
    door.guard.licensing, kept = Unreadable(), door.guard.licensing  # type: ignore[assignment]
    try:
        headers = {"AUTHORIZATION": "Basic " + base64.b64encode(b"a:b").decode()}
        assert door("POST", PREFIX + "/jobs", headers, "127.0.0.1", "http") is None
        assert door("POST", PREFIX + "/jobs", {}, "127.0.0.1", "http") is not None  # no header
    finally:
        door.guard.licensing = kept
