"""The hardened XML parser every SOAP body goes through before anything else reads it."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from cora_ocr.errors import ClientError, MalformedRequest

# One parser per thread is not needed: lxml parsers are safe to share for parse calls
# made with the GIL held; a module constant would be import-time work, so callers build one.


def make_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,  # never expand entities: no XXE, no billion laughs
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=False,  # kept so that they can be refused below
        collect_ids=False,
    )


PI_REFUSED = "processing instructions are not allowed in SOAP messages"


@dataclass(frozen=True)
class XmlLimits:
    max_depth: int = 32
    max_elements: int = 2_000
    max_attributes: int = 2_000


def _precheck(body: bytes, limits: XmlLimits) -> None:
    """Byte counts that bound what the parser may be asked to build: an element needs a
    '<', an attribute a '="' or "='". Cheap, and before any allocation by libxml2."""
    if body.count(b"<") > 2 * limits.max_elements + 8:
        raise ClientError(f"the request has more than {limits.max_elements} elements")
    if body.count(b'="') + body.count(b"='") > limits.max_attributes:
        raise ClientError(f"the request has more than {limits.max_attributes} attributes")


def parse_soap_body(parser: etree.XMLParser, body: bytes, limits: XmlLimits) -> etree._Element:
    """Parse a request body; refuse DTDs and processing instructions (SOAP 1.1 forbids them)
    and anything deeper, larger or more attributed than the limits."""
    if not body.strip():
        raise MalformedRequest("the request body is empty; a SOAP envelope is required")
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise ClientError("DTDs are not allowed in SOAP messages")
    _precheck(body, limits)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        if "depth" in str(exc.msg).lower():
            raise ClientError(
                f"the request nests elements deeper than {limits.max_depth}"
            ) from None
        raise MalformedRequest(f"the request is not well-formed XML: {exc.msg}") from None
    if root.getroottree().docinfo.doctype:
        raise ClientError("DTDs are not allowed in SOAP messages")
    prolog_and_epilog = [*root.itersiblings(preceding=True), *root.itersiblings()]
    if any(isinstance(node, etree._ProcessingInstruction) for node in prolog_and_epilog):
        raise ClientError(PI_REFUSED)
    if _depth(root) > limits.max_depth:
        raise ClientError(f"the request nests elements deeper than {limits.max_depth}")
    return root


def _depth(root: etree._Element) -> int:
    """The nesting depth, refusing processing instructions on the way (one walk for both)."""
    deepest, stack = 0, [(root, 1)]
    while stack:
        element, level = stack.pop()
        if isinstance(element, etree._ProcessingInstruction):
            raise ClientError(PI_REFUSED)
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in element)
    return deepest
