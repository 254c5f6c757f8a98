"""The hardened XML parser every SOAP body goes through before anything else reads it."""

from __future__ import annotations

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


def parse_soap_body(parser: etree.XMLParser, body: bytes) -> etree._Element:
    """Parse a request body; refuse DTDs and processing instructions (SOAP 1.1 forbids them)."""
    if not body.strip():
        raise MalformedRequest("the request body is empty; a SOAP envelope is required")
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise ClientError("DTDs are not allowed in SOAP messages")
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise MalformedRequest(f"the request is not well-formed XML: {exc.msg}") from None
    if root.getroottree().docinfo.doctype:
        raise ClientError("DTDs are not allowed in SOAP messages")
    if (
        next(root.iter(etree.ProcessingInstruction), None) is not None
        or any(
            isinstance(node, etree._ProcessingInstruction)
            for node in root.itersiblings(preceding=True)
        )
        or any(isinstance(node, etree._ProcessingInstruction) for node in root.itersiblings())
    ):
        raise ClientError("processing instructions are not allowed in SOAP messages")
    return root
