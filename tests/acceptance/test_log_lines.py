"""Log forging: no CR, LF or NUL from a request can start or break a log line, on `serve` and
`web` (issue 13, item 3): every line that starts at its first column is a record's first line,
and control characters travel escaped."""

from __future__ import annotations

import logging
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cora_ocr.config import DEFAULT_CONNECTION
from cora_ocr.logs import FORMAT, OneLineFormatter
from tests.support.factories import SOAP11_CT, action, envelope, file_batch_body
from tests.support.processes import SERVICE, wait_until_listening

FORGED = "2026-01-01 00:00:00,000 ERROR cora_ocr.forged: fake line"
# The first line of a record: ours, or gunicorn's own ("[date] [pid] [LEVEL] ...").
RECORD_START = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} |\[\d{4}-\d\d-\d\d )")


def check_lines(text: str) -> None:
    assert "\r" not in text and "\x00" not in text and "\u2028" not in text
    for line in text.split("\n"):
        assert line == "" or RECORD_START.match(line) or line.startswith("  "), line
        assert not line.startswith(FORGED), line


def test_the_formatter_keeps_a_record_on_its_first_line_and_escapes_controls() -> None:
    formatter = OneLineFormatter(FORMAT)
    try:
        raise ValueError(f"bad value\r\n{FORGED}")
    except ValueError:
        record = logging.LogRecord(
            "cora_ocr.test",
            logging.INFO,
            __file__,
            1,
            "refused %r: %s",
            ("a\x00b", f"x\n{FORGED}\u2028y\x85z\tend"),
            sys.exc_info(),
        )
    text = formatter.format(record)
    check_lines(text)
    first, *rest = text.split("\n")
    assert first.endswith(
        f"refused 'a\\x00b': x\\n{FORGED}\\u2028y\\x85z\tend"
    )  # tab kept, the rest escaped
    assert rest[0] == "  Traceback (most recent call last):"
    # In a traceback a line break is the traceback's: the request's one breaks the line, but
    # what follows is indented like every further line of the record.
    assert rest[-2:] == ["  ValueError: bad value\\r", "  " + FORGED]


def raw_request(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def forging_requests() -> list[bytes]:
    body = envelope(
        file_batch_body().replace(
            f"<Connection>{DEFAULT_CONNECTION}</Connection>",
            f"<Connection>x&#13;&#10;{FORGED}</Connection>",
            1,
        )
    )
    soap = (
        f"POST {SERVICE} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {SOAP11_CT}\r\n"
        f"SOAPAction: {action('FileBatch')}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body
    paths = [
        f"{SERVICE}/GetStatus%0D%0A{FORGED.replace(' ', '%20')}",
        f"{SERVICE}/Get%00Status%0A{FORGED.replace(' ', '%20')}",
        f"/nowhere%0D%0A{FORGED.replace(' ', '%20')}",
    ]
    gets = [
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        for path in paths
    ]
    return [*gets, soap]


@pytest.mark.parametrize("command", ["serve", "web"])
def test_requests_cannot_forge_log_lines(
    command: str,
    web_env: dict[str, str],
    tmp_path: Path,
) -> None:
    log_file = tmp_path / "stderr.log"
    env = {**web_env, "CORA_OCR_REQUIRE_HTTPS": "false", "CORA_OCR_ALLOW_ANONYMOUS": "true"}
    with log_file.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "cora_ocr.cli", "--log-level", "INFO", command],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            port = int(env["CORA_OCR_PORT"])
            wait_until_listening(port, process)
            answers = [raw_request(port, request) for request in forging_requests()]
            statuses = [answer.split(b" ", 2)[1] for answer in answers]
            assert statuses == [b"500", b"500", b"404", b"500"], answers
            deadline = time.monotonic() + 10
            while log_file.read_bytes().count(b"request refused") < 3:
                assert time.monotonic() < deadline, log_file.read_text()
                time.sleep(0.05)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    text = log_file.read_bytes().decode("utf-8")
    check_lines(text)
    refused = [line for line in text.split("\n") if "request refused" in line]
    assert len(refused) == 3  # a path outside the service is answered 404 unlogged
    assert all(FORGED in line for line in refused)
    assert any("\\r\\n" + FORGED in line for line in refused)
    assert any("\\x00" in line for line in refused)
