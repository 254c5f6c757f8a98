"""A tiny response value: handlers return one, the WSGI edge sends it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

TEXT_PLAIN = "text/plain; charset=utf-8"
TEXT_XML = "text/xml; charset=utf-8"
TEXT_HTML = "text/html; charset=utf-8"
# Looked up once: HTTPStatus(code) is an enum call on every response.
_STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}


@dataclass
class Response:
    status: int
    content_type: str
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def status_line(self) -> str:
        return _STATUS_LINES[self.status]

    def header_list(self) -> list[tuple[str, str]]:
        return [
            ("Content-Type", self.content_type),
            ("Content-Length", str(len(self.body))),
            ("Cache-Control", "private"),
            *self.headers,
        ]

    def send(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        """As a WSGI app answers (no body to HEAD)."""
        start_response(self.status_line, self.header_list())
        return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [self.body]


def plain(status: int, text: str) -> Response:
    """GET/POST and transport errors: one line of text (docs/reference/contract.md)."""
    line = " ".join(text.split())
    return Response(status, TEXT_PLAIN, line.encode("utf-8"))


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    media, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for item in rest.split(";"):
        key, sep, val = item.partition("=")
        if sep:
            params[key.strip().lower()] = val.strip().strip('"')
    return media.strip().lower(), params
