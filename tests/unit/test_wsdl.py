"""The project's WSDL is structurally the reference WSDL plus the one documented extension."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import requests
from lxml import etree

from cora_ocr.asmx.wsdl import WSDL_FILE
from cora_ocr.host.app import create_app
from cora_ocr.services import Services, build_services
from tests.conftest import LiveServer

# The reference WSDL, as captured from the Cora service, kept in the repository.
REFERENCE = (
    Path(__file__).resolve().parents[1] / "reference" / "coraOcrIntegration_v1.0.0.reference.wsdl"
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
    assert REFERENCE.is_file(), "tests/reference holds the reference WSDL"


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


def test_forwarded_headers_only_from_trusted_proxies(services: Services) -> None:
    from werkzeug.test import Client

    from cora_ocr.namespaces import SERVICE_PATH

    settings = dataclasses.replace(
        services.settings, allow_anonymous=False, trusted_proxies=frozenset({"127.0.0.2"})
    )
    client = Client(create_app(build_services(settings, services.store)))
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ocr.example.test"}

    def location(peer: str, headers: dict[str, str]) -> str:
        reply = client.get(
            SERVICE_PATH + "?wsdl", headers=headers, environ_base={"REMOTE_ADDR": peer}
        )
        port = etree.fromstring(reply.data).find(f".//{{{WSDL}}}port/*")
        assert port is not None
        return str(port.get("location"))

    assert location("127.0.0.2", forwarded) == "https://ocr.example.test" + SERVICE_PATH
    assert location("127.0.0.9", forwarded) == "http://localhost" + SERVICE_PATH
    # A proxy that appends: its own value, the last, is the one believed.
    appended = {**forwarded, "X-Forwarded-Proto": "https, http"}
    assert location("127.0.0.2", appended) == "http://ocr.example.test" + SERVICE_PATH


def test_host_header_cannot_inject_markup(server: LiveServer) -> None:
    body = server.app.wsdl.render('http://evil"/><x a="')
    root = etree.fromstring(body)  # still well-formed, the value is escaped
    assert root.find(f".//{{{WSDL}}}port/*").get("location") == 'http://evil"/><x a="'
