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


def _precheck(body: bytes, limits: XmlLimits) -> int:
    """Byte counts that bound what the parser may be asked to build: an element needs a
    '<', an attribute a '="' or "='". Cheap, and before any allocation by libxml2. Returns
    the count of '<' bytes."""
    opening = body.count(b"<")
    if opening > 2 * limits.max_elements + 8:
        raise ClientError(f"the request has more than {limits.max_elements} elements")
    if body.count(b'="') + body.count(b"='") > limits.max_attributes:
        raise ClientError(f"the request has more than {limits.max_attributes} attributes")
    return opening


def parse_soap_body(parser: etree.XMLParser, body: bytes, limits: XmlLimits) -> etree._Element:
    """Parse a request body; refuse DTDs and processing instructions (SOAP 1.1 forbids them)
    and anything deeper, larger or more attributed than the limits."""
    if not body.strip():
        raise MalformedRequest("the request body is empty; a SOAP envelope is required")
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise ClientError("DTDs are not allowed in SOAP messages")
    opening = _precheck(body, limits)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        if "depth" in str(exc.msg).lower():
            raise ClientError(
                f"the request nests elements deeper than {limits.max_depth}"
            ) from None
        raise MalformedRequest(f"the request is not well-formed XML: {exc.msg}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype:
        raise ClientError("DTDs are not allowed in SOAP messages")
    outside = [*root.itersiblings(preceding=True), *root.itersiblings()]
    if any(isinstance(node, etree._ProcessingInstruction) for node in outside) or (
        next(root.iter(etree.ProcessingInstruction), None) is not None
    ):
        raise ClientError(PI_REFUSED)
    # Every element starts with a '<': in an ASCII-based encoding a body with no more '<'
    # bytes than the depth limit cannot nest deeper, and the tree need not be walked (the
    # common case: a GetStatus envelope has a dozen).
    walk = opening > limits.max_depth or docinfo.encoding.upper() not in _ASCII_BASED
    if walk and _depth(root) > limits.max_depth:
        raise ClientError(f"the request nests elements deeper than {limits.max_depth}")
    return root


_ASCII_BASED = frozenset({"UTF-8", "US-ASCII", "ASCII", "ISO-8859-1"})


def _depth(root: etree._Element) -> int:
    deepest, stack = 0, [(root, 1)]
    while stack:
        element, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in element)
    return deepest
