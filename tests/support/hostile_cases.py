"""Hostile requests and the answers they must get; shared by tests/acceptance/test_hostile.py and
bench/hostile.py (which prints how long each took and the server's memory growth)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import requests

from cora_ocr.namespaces import TNS
from tests.support.factories import (
    GUID,
    SOAP11_CT,
    SOAP12_CT,
    action,
    envelope,
    file_batch_body,
    get_status_body,
    header_xml,
)
from tests.support.processes import SERVICE, Service

# Content of a file on the server's disk that no answer may ever contain.
CANARY = "cora-canary-7f3e9b1d"


@dataclass
class Case:
    name: str
    body: Callable[[], bytes | Iterator[bytes]]
    status: int
    says: str  # a fragment the answer's text must contain
    headers: dict[str, str] = field(default_factory=dict)
    path: str = ""
    method: str = "POST"


def soap11(op: str = "GetStatus") -> dict[str, str]:
    return {"Content-Type": SOAP11_CT, "SOAPAction": action(op)}


def doctype(
    decl: str,
    root: str = "<soap:Envelope xmlns:soap='http://schemas.xmlsoap.org/soap/envelope/'><soap:Body>&e;</soap:Body></soap:Envelope>",
) -> bytes:
    return f"<?xml version='1.0'?><!DOCTYPE soap:Envelope [{decl}]>{root}".encode()


def nested(depth: int) -> bytes:
    return envelope(f'<GetStatus xmlns="{TNS}">' + "<a>" * depth + "</a>" * depth + "</GetStatus>")


def many_attributes(count: int) -> bytes:
    attrs = " ".join(f'a{n}="x"' for n in range(count))
    return envelope(f'<GetStatus xmlns="{TNS}" {attrs}/>')


def many_namespaces(count: int) -> bytes:
    attrs = " ".join(f'xmlns:n{n}="urn:{n}"' for n in range(count))
    return envelope(f'<GetStatus xmlns="{TNS}" {attrs}/>')


def many_elements(count: int) -> bytes:
    return envelope(f'<GetStatus xmlns="{TNS}">' + "<x/>" * count + "</GetStatus>")


def spelled_attributes(count: int) -> bytes:
    attrs = " ".join(f"a{n} = '1'" for n in range(count))
    return envelope(f'<GetStatus xmlns="{TNS}" {attrs}/>')


def spelled_namespaces(count: int) -> bytes:
    attrs = " ".join(f"xmlns:n{n} = 'urn:{n}'" for n in range(count))
    return envelope(f'<GetStatus xmlns="{TNS}" {attrs}/>')


def utf7(body: bytes, name: str) -> bytes:
    """A UTF-8 envelope declared as UTF-7, every '<' and '=' after the declaration spelled
    the UTF-7 way (+ADw- and +AD0-): no '<' or '=' byte is left to find."""
    declaration, rest = body.split(b"?>", 1)
    rest = rest.replace(b"<", b"+ADw-").replace(b"=", b"+AD0-")
    return declaration.replace(b"utf-8", name.encode()) + b"?>" + rest


def header_elements(count: int) -> bytes:
    return envelope(get_status_body(), '<Ignored xmlns="urn:x">' + "<e/>" * count + "</Ignored>")


FIFTY_MB = 50 * 1024 * 1024


def fifty_megabytes() -> Iterator[bytes]:
    """50 MB of comment inside an envelope, produced lazily (the client holds 1 MB at most)."""
    head = envelope(get_status_body()).replace(b"</soap:Body>", b"<!--")
    tail = b"--></soap:Body></soap:Envelope>"
    yield head
    left = FIFTY_MB - len(head) - len(tail)
    while left > 0:
        size = min(left, 1 << 20)
        yield b"x" * size
        left -= size
    yield tail


def billion_laughs() -> bytes:
    entities = "<!ENTITY l0 'lol'>" + "".join(
        f"<!ENTITY l{i} '{('&l' + str(i - 1) + ';') * 10}'>" for i in range(1, 10)
    )
    return doctype(entities + "<!ENTITY e '&l9;'>")


def file_batch(**fields: str) -> bytes:
    body = file_batch_body()
    for name, value in fields.items():
        start = body.index(f"<{name}>") + len(name) + 2
        end = body.index(f"</{name}>", start)
        body = body[:start] + value + body[end:]
    return envelope(body)


def header_with(**fields: str) -> bytes:
    header = header_xml(1)
    for name, value in fields.items():
        header = header.replace(
            "</ActivityMetadata>", f"<{name}>{value}</{name}></ActivityMetadata>", 1
        )
    return envelope(get_status_body(), header)


def cases(canary_path: str, trap_url: str) -> list[Case]:
    big = "x" * 300
    return [
        Case(
            "XXE file",
            lambda: doctype(f"<!ENTITY e SYSTEM 'file://{canary_path}'>"),
            500,
            "DTD",
            soap11(),
        ),
        Case("XXE URL", lambda: doctype(f"<!ENTITY e SYSTEM '{trap_url}'>"), 500, "DTD", soap11()),
        Case(
            "parameter entities",
            lambda: doctype(f"<!ENTITY % p SYSTEM '{trap_url}'> %p;"),
            500,
            "DTD",
            soap11(),
        ),
        Case("billion laughs", billion_laughs, 500, "DTD", soap11()),
        Case(
            "quadratic blowup",
            lambda: doctype(
                f"<!ENTITY e '{'x' * 100_000}'>",
                "<soap:Envelope xmlns:soap='x'>" + "&e;" * 30 + "</soap:Envelope>",
            ),
            500,
            "DTD",
            soap11(),
        ),
        Case(
            "entity without a DTD",
            lambda: envelope(f'<GetStatus xmlns="{TNS}">&e;</GetStatus>'),
            400,
            "well-formed",
            soap11(),
        ),
        # Counted as the parser sees it: refused at the 33rd level, nothing deeper is built.
        Case("10k-deep nesting", lambda: nested(10_000), 500, "deeper", soap11()),
        Case("300-deep nesting", lambda: nested(300), 500, "deeper", soap11()),
        Case("40-deep nesting", lambda: nested(40), 500, "deeper", soap11()),
        Case("100k attributes", lambda: many_attributes(100_000), 500, "attributes", soap11()),
        Case(
            "100k namespace declarations",
            lambda: many_namespaces(100_000),
            500,
            "attributes",
            soap11(),
        ),
        Case("100k elements", lambda: many_elements(100_000), 500, "elements", soap11()),
        # The same floods spelled so that no byte pattern sees them.
        Case(
            "100k spaced attributes",
            lambda: spelled_attributes(100_000),
            500,
            "attributes",
            soap11(),
        ),
        Case(
            "10k spaced namespace declarations",
            lambda: spelled_namespaces(10_000),
            500,
            "attributes",
            soap11(),
        ),
        Case(
            "200k elements in an ignored header",
            lambda: header_elements(200_000),
            500,
            "elements",
            soap11(),
        ),
        Case(
            "UTF-7, 200k elements in a header",
            lambda: utf7(header_elements(200_000), "UTF-7"),
            500,
            "UTF-7",
            soap11(),
        ),
        Case(
            "UTF-7 spelled, 100k attributes",
            lambda: (
                spelled_attributes(100_000)
                .decode()
                .replace('encoding="utf-8"', 'encoding="utf-7"')
                .encode("utf-7")
            ),
            500,
            "utf-7",
            soap11(),
        ),
        Case(
            "EBCDIC",
            lambda: envelope(get_status_body()).decode().replace("utf-8", "IBM037").encode("cp037"),
            500,
            "EBCDIC",
            soap11(),
        ),
        Case(
            "UTF-16, 100k spaced attributes",
            lambda: (
                spelled_attributes(100_000)
                .decode()
                .replace('encoding="utf-8"', 'encoding="utf-16"')
                .encode("utf-16")
            ),
            500,
            "attributes",
            soap11(),
        ),
        Case(
            "charset UTF-7",
            lambda: envelope(get_status_body()),
            500,
            "charset",
            {**soap11(), "Content-Type": "text/xml; charset=utf-7"},
        ),
        Case("50 MB body", fifty_megabytes, 413, "", soap11()),
        Case(
            "invalid UTF-8",
            lambda: envelope(get_status_body()).replace(
                b"GetStatus xmlns", b"GetStatus\xff\xfe xmlns"
            ),
            400,
            "well-formed",
            soap11(),
        ),
        Case(
            "XInclude",
            lambda: envelope(
                f'<GetStatus xmlns="{TNS}"><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file://{canary_path}" parse="text"/></GetStatus>'
            ),
            500,
            "not allowed",
            soap11(),
        ),
        Case(
            "wrong SOAPAction",
            lambda: envelope(get_status_body()),
            500,
            "SOAPAction",
            soap11("Nope"),
        ),
        Case(
            "SOAP 1.2 envelope as text/xml",
            lambda: envelope(get_status_body(), soap12=True),
            500,
            "VersionMismatch",
            soap11(),
        ),
        Case(
            "SOAP 1.1 envelope as SOAP 1.2",
            lambda: envelope(get_status_body()),
            500,
            "VersionMismatch",
            {"Content-Type": SOAP12_CT},
        ),
        Case(
            "duplicate headers",
            lambda: envelope(get_status_body(), header_xml(1) + header_xml(2)),
            500,
            "more than once",
            soap11(),
        ),
        Case(
            "unknown mustUnderstand header",
            lambda: envelope(
                get_status_body(),
                '<S xmlns="urn:x" xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:mustUnderstand="1"/>',
            ),
            500,
            "not understood",
            soap11(),
        ),
        Case(
            "processing instruction",
            lambda: envelope(f'<?php system("id"); ?><GetStatus xmlns="{TNS}"/>'),
            500,
            "processing instructions",
            soap11(),
        ),
        Case(
            "oversized TimeOut",
            lambda: file_batch(TimeOut="9" * 400),
            500,
            "TimeOut",
            soap11("FileBatch"),
        ),
        Case(
            "oversized ExternalContext",
            lambda: file_batch(ExternalContext="c" * 100_000),
            500,
            "ExternalContext",
            soap11("FileBatch"),
        ),
        Case(
            "oversized Connection",
            lambda: file_batch(Connection=big),
            500,
            "InputFile.Connection",
            soap11("FileBatch"),
        ),
        Case(
            "oversized RelativeLocation",
            lambda: file_batch(RelativeLocation="d/" * 1000),
            500,
            "InputFile.RelativeLocation",
            soap11("FileBatch"),
        ),
        Case(
            "oversized FileName",
            lambda: file_batch(FileName=big),
            500,
            "InputFile.FileName",
            soap11("FileBatch"),
        ),
        Case(
            "oversized OCRProfile",
            lambda: file_batch(OCRProfile=big),
            500,
            "OCRProfile",
            soap11("FileBatch"),
        ),
        Case(
            "oversized PutModel",
            lambda: file_batch(PutModel="p" * 100_000),
            500,
            "PutModel",
            soap11("FileBatch"),
        ),
        Case(
            "oversized header name",
            lambda: header_with(WorkflowSpaceName="n" * 5000),
            500,
            "WorkflowSpaceName",
            soap11(),
        ),
        Case(
            "oversized header id",
            lambda: header_xml_big(),
            500,
            "MasterWorkflowInstanceId",
            soap11(),
        ),
        Case(
            "oversized GET id",
            lambda: b"",
            500,
            "MasterWorkflowInstanceId",
            {},
            "/GetStatus?MasterWorkflowInstanceId=" + "9" * 5000,
            "GET",
        ),
    ]


def header_xml_big() -> bytes:
    header = header_xml(1).replace(
        "<MasterWorkflowInstanceId>1<", "<MasterWorkflowInstanceId>" + "9" * 500 + "<"
    )
    return envelope(get_status_body(), header.replace(GUID, GUID))


def send(service: Service, case: Case) -> tuple[int, str]:
    if case.name == "50 MB body":
        return send_declared_size(service, case)
    body = case.body()
    reply = requests.request(
        case.method, service.url + case.path, data=body, headers=case.headers, timeout=30
    )
    return reply.status_code, reply.text


def send_declared_size(service: Service, case: Case) -> tuple[int, str]:
    """Declare 50 MB; if the server does not refuse on the headers alone, stream it all.
    (Streaming into a server that has already answered ends in a reset that can eat the
    answer, so the answer is looked for first.)"""
    with socket.create_connection(("127.0.0.1", service.port), timeout=30) as conn:
        head = (
            f"POST {SERVICE} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {FIFTY_MB}\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in case.headers.items())
            + "\r\n"
        )
        conn.sendall(head.encode())
        conn.settimeout(2)
        try:
            answer = conn.recv(65536)
        except TimeoutError:
            conn.settimeout(30)
            for chunk in case.body():  # type: ignore[union-attr]
                conn.sendall(chunk)
            answer = conn.recv(65536)
    status_line = answer.split(b"\r\n", 1)[0].decode()
    return int(status_line.split()[1]), answer.decode("latin-1")
