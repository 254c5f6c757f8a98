"""What `cora-ocr serve`'s front (host/server.py) assumes of waitress's internals, each checked
on its own and in-process: an upgrade of waitress that changes one fails here, by name, before
the front-door tests fail for reasons harder to read. No module but host/server.py imports
waitress."""

from __future__ import annotations

import ast
import inspect
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from waitress.adjustments import Adjustments
from waitress.parser import HTTPRequestParser
from waitress.task import ErrorTask
from waitress.utilities import Error

from cora_ocr.host import server as adapter

PACKAGE = Path(adapter.__file__).resolve().parents[1]


def test_the_installed_waitress_is_the_release_the_adapter_was_written_for() -> None:
    major, minor = (int(part) for part in version("waitress").split(".")[:2])
    assert (major, minor) >= adapter.WAITRESS and major == adapter.WAITRESS[0]


def test_no_other_module_imports_waitress() -> None:
    importers = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name.split(".")[0] == "waitress" for name in names):
                importers.append(path.relative_to(PACKAGE).as_posix())
    assert set(importers) == {"host/server.py"}


def parse(data: bytes) -> tuple[HTTPRequestParser, int]:
    parser = HTTPRequestParser(Adjustments())
    return parser, parser.received(data)


def test_the_parser_says_what_it_read_of_the_headers() -> None:
    head = (
        b"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
        b"Expect: 100-continue\r\nX-Thing: 1\r\n\r\n"
    )
    parser, consumed = parse(head + b"abc")
    assert consumed == len(head)  # received() returns what it consumed, the headers first
    assert parser.headers_finished and not parser.completed
    assert (parser.command, parser.path, parser.content_length) == ("POST", "/api/v1/jobs", 10)
    assert parser.expect_continue and not parser.chunked and parser.error is None
    assert parser.headers["X_THING"] == "1"  # upper case, dashes as underscores
    assert parser.received(b"abc") == 3 and parser.received(b"defghij") == 7
    assert parser.completed


def test_a_chunked_body_says_what_its_current_chunk_still_owes() -> None:
    parser, _ = parse(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert parser.chunked
    parser.received(b"400\r\nab")
    assert parser.body_rcv.chunk_remainder == 0x400 - 2
    assert len(parser.body_rcv) == 2


def test_an_error_set_on_the_parser_is_answered_by_its_to_response() -> None:
    class Refused(Error):  # type: ignore[misc]
        def to_response(self, ident: Any = None) -> tuple[str, list[tuple[str, str]], bytes]:
            return "401 Unauthorized", [("X-Ours", "1")], b"no"

    assert "to_response" in inspect.getsource(ErrorTask.execute)
    assert issubclass(adapter._Refused, Error)
    status, _headers, body = Refused("").to_response()
    assert status.startswith("401") and body == b"no"


@pytest.mark.parametrize("name", ["received", "headers_finished", "completed", "error"])
def test_the_parser_base_class_still_names(name: str) -> None:
    assert hasattr(HTTPRequestParser, name), name
