"""The project's WSDL is structurally the reference WSDL plus the one documented extension."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from lxml import etree

from cora_ocr.web.wsdl import WSDL_FILE
from tests.conftest import LiveServer

REFERENCE = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "reference"
    / "coraOcrIntegration_v1.0.0.reference.wsdl"
)
WSDL = "http://schemas.xmlsoap.org/wsdl/"
XSD = "http://www.w3.org/2001/XMLSchema"
EXTENSION_MESSAGES = ("GetStatusHttpGetIn", "GetStatusHttpPostIn")


def resolve_qname(element: etree._Element, value: str) -> str:
    prefix, sep, local = value.rpartition(":")
    if not sep or prefix not in element.nsmap:
        return value
    return f"{{{element.nsmap[prefix]}}}{local}"


def structure(element: etree._Element) -> tuple[Any, ...]:
    """Tag, attributes with QName values resolved by namespace (prefixes do not matter),
    and children in order; text, comments and whitespace are ignored."""
    attrs = tuple(
        sorted((key, resolve_qname(element, value)) for key, value in element.attrib.items())
    )
    children = tuple(structure(child) for child in element if isinstance(child.tag, str))
    return (element.tag, attrs, children)


def load(path: Path) -> etree._Element:
    return etree.parse(str(path)).getroot()


def without_extension(root: etree._Element) -> etree._Element:
    for name in EXTENSION_MESSAGES:
        message = root.find(f"{{{WSDL}}}message[@name='{name}']")
        assert message is not None
        for part in list(message):
            message.remove(part)
    return root


def test_reference_is_present() -> None:
    assert REFERENCE.is_file(), "shared/reference must sit beside the checkout"


def test_wsdl_equals_reference_apart_from_the_extension() -> None:
    ours, reference = load(WSDL_FILE), load(REFERENCE)
    assert structure(without_extension(ours)) == structure(reference)


@pytest.mark.parametrize("name", EXTENSION_MESSAGES)
def test_the_extension_is_the_job_id_part(name: str) -> None:
    message = load(WSDL_FILE).find(f"{{{WSDL}}}message[@name='{name}']")
    assert message is not None
    parts = [(p.get("name"), resolve_qname(p, p.get("type", ""))) for p in message]
    assert parts == [("MasterWorkflowInstanceId", f"{{{XSD}}}string")]


def test_a_changed_wsdl_is_detected() -> None:
    """The comparison itself can fail: rename one enum value and it must differ."""
    reference = load(REFERENCE)
    changed = load(REFERENCE)
    value = changed.find(f".//{{{XSD}}}enumeration[@value='TimedOut']")
    assert value is not None
    value.set("value", "TimedOut2")
    assert structure(changed) != structure(reference)


def test_served_wsdl_has_the_callers_address(http: requests.Session, server: LiveServer) -> None:
    for query in ("wsdl", "WSDL", "Wsdl"):
        reply = http.get(f"{server.url}?{query}")
        assert reply.status_code == 200
        assert reply.headers["Content-Type"] == "text/xml; charset=utf-8"
        root = etree.fromstring(reply.content)
        locations = [
            a.get("location") for a in root.iterfind(f"{{{WSDL}}}service/{{{WSDL}}}port/*")
        ]
        assert locations == [server.url] * 4
        file_root = load(WSDL_FILE)
        for address in file_root.iterfind(f"{{{WSDL}}}service/{{{WSDL}}}port/*"):
            address.set("location", server.url)
        assert structure(root) == structure(file_root)


def test_forwarded_headers_only_from_trusted_proxies(server: LiveServer) -> None:
    from cora_ocr.namespaces import SERVICE_PATH

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": SERVICE_PATH,
        "wsgi.url_scheme": "http",
        "HTTP_HOST": "internal:8080",
        "HTTP_X_FORWARDED_PROTO": "https",
        "HTTP_X_FORWARDED_HOST": "ocr.example.test",
    }
    trusted = server.app.public_url({**environ, "REMOTE_ADDR": "127.0.0.2"})
    untrusted = server.app.public_url({**environ, "REMOTE_ADDR": "127.0.0.9"})
    assert trusted == "https://ocr.example.test" + SERVICE_PATH
    assert untrusted == "http://internal:8080" + SERVICE_PATH


def test_host_header_cannot_inject_markup(server: LiveServer) -> None:
    body = server.app.wsdl.render('http://evil"/><x a="')
    root = etree.fromstring(body)  # still well-formed, the value is escaped
    assert root.find(f".//{{{WSDL}}}port/*").get("location") == 'http://evil"/><x a="'
