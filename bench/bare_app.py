"""The ceiling: a bare WSGI app answering the same SOAP 1.1 GetStatus bytes, no work at all."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

BODY = (
    b'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org'
    b'/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://'
    b'www.w3.org/2001/XMLSchema"><soap:Body><GetStatusResponse xmlns="http://genpact.com/cora/'
    b'orchestration/ocr/1.0.0/api/"><GetStatusResult><Status>Queued</Status><ErrorCode>NoError'
    b"</ErrorCode><ExternalContext>bench-500</ExternalContext></GetStatusResult>"
    b"</GetStatusResponse></soap:Body></soap:Envelope>"
)
HEADERS = [
    ("Content-Type", "text/xml; charset=utf-8"),
    ("Content-Length", str(len(BODY))),
    ("Cache-Control", "private"),
]


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    environ["wsgi.input"].read()
    start_response("200 OK", HEADERS)
    return [BODY]
