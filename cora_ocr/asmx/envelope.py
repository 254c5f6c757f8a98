"""SOAP versions and the ASMX-shaped envelopes we send (docs/reference/contract.md, "Wire
shapes")."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from xml.sax.saxutils import escape

from lxml import etree

from cora_ocr.namespaces import SOAP11_ENV, SOAP12_ENV, TNS, XML, XSD, XSI

XML_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>'


@dataclass(frozen=True, eq=False)  # identity: there are exactly two
class SoapVersion:
    name: str
    envelope_ns: str
    media_type: str
    # Fault codes by meaning: ours are "Client" and "Server", SOAP 1.2 says Sender/Receiver.
    fault_codes: dict[str, str]

    @property
    def content_type(self) -> str:
        return f"{self.media_type}; charset=utf-8"

    def _element(self, local: str) -> str:
        return f"{{{self.envelope_ns}}}{local}"

    @functools.cached_property
    def envelope_tag(self) -> str:
        return self._element("Envelope")

    @functools.cached_property
    def envelope_shapes(self) -> tuple[list[str], list[str]]:
        """The child tags an Envelope may hold: a Body, or a Header then a Body."""
        return [self._element("Body")], [self._element("Header"), self._element("Body")]

    def envelope(self) -> tuple[etree._Element, etree._Element]:
        env = etree.Element(
            self.envelope_tag,
            nsmap={"soap": self.envelope_ns, "xsi": XSI, "xsd": XSD},
        )
        return env, etree.SubElement(env, self._element("Body"))


SOAP11 = SoapVersion(
    "1.1",
    SOAP11_ENV,
    "text/xml",
    {
        "Client": "Client",
        "Server": "Server",
        "VersionMismatch": "VersionMismatch",
        "MustUnderstand": "MustUnderstand",
    },
)
SOAP12 = SoapVersion(
    "1.2",
    SOAP12_ENV,
    "application/soap+xml",
    {
        "Client": "Sender",
        "Server": "Receiver",
        "VersionMismatch": "VersionMismatch",
        "MustUnderstand": "MustUnderstand",
    },
)
VERSIONS = {SOAP11.envelope_ns: SOAP11, SOAP12.envelope_ns: SOAP12}


def _copy_into(parent: etree._Element, source: etree._Element) -> None:
    for child in source:
        if not isinstance(child.tag, str):
            continue
        copy = etree.SubElement(parent, child.tag, dict(child.attrib))
        copy.text = child.text
        _copy_into(copy, child)


def requalify(payload: etree._Element) -> etree._Element:
    """A copy of payload with the service namespace as the default one, as ASMX writes it."""
    root = etree.Element(payload.tag, dict(payload.attrib), nsmap={None: TNS})
    root.text = payload.text
    _copy_into(root, payload)
    return root


def render_response(version: SoapVersion, payload: etree._Element) -> bytes:
    env, body = version.envelope()
    body.append(requalify(payload))
    return XML_DECLARATION + etree.tostring(env, encoding="utf-8")


def render_status_response(
    version: SoapVersion, status: str, error_code: str, context: str | None
) -> bytes:
    """A GetStatusResponse envelope; ExternalContext is omitted when null."""
    env, body = version.envelope()
    response = etree.SubElement(body, f"{{{TNS}}}GetStatusResponse", nsmap={None: TNS})
    result = etree.SubElement(response, f"{{{TNS}}}GetStatusResult")
    etree.SubElement(result, f"{{{TNS}}}Status").text = status
    etree.SubElement(result, f"{{{TNS}}}ErrorCode").text = error_code
    if context is not None:
        etree.SubElement(result, f"{{{TNS}}}ExternalContext").text = context
    return XML_DECLARATION + etree.tostring(env, encoding="utf-8")


_MARKERS = ("@Status@", "@ErrorCode@", "@ExternalContext@")
# Text escaped as lxml escapes it: a raw CR would reach the caller as LF (XML parsers
# normalise line ends), so it travels as a character reference.
_TEXT_ENTITIES = {"\r": "&#13;"}


def _split(text: str, markers: tuple[str, ...]) -> list[str]:
    parts = []
    for marker in markers:
        head, text = text.split(marker)
        parts.append(head)
    return [*parts, text]


class StatusTemplate:
    """A status answer (status, error code, external context) rendered once with markers in
    place of the values: the GetStatus hot path only fills them in, and gets the bytes the
    renderer itself would produce."""

    def __init__(self, render: Callable[[str, str, str | None], bytes]) -> None:
        self._with_context = _split(render(*_MARKERS).decode("utf-8"), _MARKERS)
        self._without_context = _split(render(*_MARKERS[:2], None).decode("utf-8"), _MARKERS[:2])

    def render(self, status: str, error_code: str, context: str | None) -> bytes:
        if context is None:
            head, middle, tail = self._without_context
            return (head + status + middle + error_code + tail).encode("utf-8")
        head, middle, before_context, tail = self._with_context
        context = escape(context, _TEXT_ENTITIES)
        text = head + status + middle + error_code + before_context + context + tail
        return text.encode("utf-8")


def render_fault(version: SoapVersion, code: str, message: str) -> bytes:
    env, body = version.envelope()
    fault = etree.SubElement(body, version._element("Fault"))
    qualified_code = f"soap:{version.fault_codes[code]}"
    if version is SOAP11:
        etree.SubElement(fault, "faultcode").text = qualified_code
        etree.SubElement(fault, "faultstring").text = message
        etree.SubElement(fault, "detail")
    else:
        value = etree.SubElement(
            etree.SubElement(fault, version._element("Code")), version._element("Value")
        )
        value.text = qualified_code
        text = etree.SubElement(
            etree.SubElement(fault, version._element("Reason")), version._element("Text")
        )
        text.set(f"{{{XML}}}lang", "en")
        text.text = message
        etree.SubElement(fault, version._element("Detail"))
    return XML_DECLARATION + etree.tostring(env, encoding="utf-8")
