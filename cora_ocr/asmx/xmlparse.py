"""The hardened XML parser every SOAP body goes through before anything else reads it.

Limits are counted as the parser sees the document, whatever its spelling:

1. The encoding is found the way XML finds it (byte order mark, else the first bytes, then
   the declaration) and must be UTF-8 or UTF-16, the encodings SOAP allows; anything else is
   a Client fault before the parser sees a byte. UTF-16 is transcoded to UTF-8 first, so
   what follows reads one byte per markup character.
2. Every element starts with a '<' and every attribute or namespace declaration has a '=':
   a body with no more of those bytes than the limits cannot exceed them, and is parsed in
   one call (a GetStatus or FileBatch envelope has a few dozen).
3. Any other body is fed to lxml's pull parser in pieces and its events are counted:
   elements, attributes, namespace declarations and depth. Parsing stops at the first event
   past a limit, so memory stays bounded by the limits, not by the body. libxml2 reports a
   start tag only once the whole tag has been read, with all its attributes; so before that
   the attributes of a single tag are bounded: a tag cannot contain a '<' (attribute values
   may not), so no tag has more attributes than there are '=' bytes between one '<' and
   the next '>' that ends the stretch. A body whose widest tag may carry more than one
   element's limit (500, CXF's) is counted the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from cora_ocr.errors import ClientError, MalformedRequest

PARSER_OPTIONS = dict(
    resolve_entities=False,  # never expand entities: no XXE, no billion laughs
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=False,  # kept so that they can be refused below
    collect_ids=False,
)
FEED_BYTES = 16 * 1024


def make_parser() -> etree.XMLParser:
    return etree.XMLParser(**PARSER_OPTIONS)


PI_REFUSED = "processing instructions are not allowed in SOAP messages"
ENCODINGS_ALLOWED = "SOAP messages are UTF-8 or UTF-16"


@dataclass(frozen=True)
class XmlLimits:
    max_depth: int = 32
    max_elements: int = 2_000
    max_attributes: int = 2_000  # attributes and namespace declarations, all elements
    # ... and on any one element: CXF, the strictest common SOAP stack, refuses more than 500
    # (org.apache.cxf.stax.maxAttributeCount); what it would refuse is not ours to accept.
    max_element_attributes: int = 500


# --- encodings ---------------------------------------------------------------------------
_UTF8_NAMES = frozenset({"utf-8", "utf8"})
_UTF16_NAMES = frozenset({"utf-16", "utf16", "utf-16le", "utf-16be"})
_DECLARED = re.compile(r"""^<\?xml\s[^>]*?\bencoding\s*=\s*(["'])([^"'<>]{0,64})\1""")
# First bytes of the documents XML can recognise (XML 1.0, appendix F) that are not ours.
_REFUSED_STARTS = {
    b"\x00\x00\xfe\xff": "UCS-4",
    b"\xff\xfe\x00\x00": "UCS-4",
    b"\x00\x00\x00<": "UCS-4",
    b"<\x00\x00\x00": "UCS-4",
    b"\x4c\x6f\xa7\x94": "EBCDIC",
}


def charset_allowed(charset: str) -> bool:
    """A Content-Type charset parameter (lower case) SOAP allows."""
    return charset in _UTF8_NAMES or charset in _UTF16_NAMES


def as_utf8(body: bytes) -> bytes:
    """The body as UTF-8 bytes, or a Client fault naming the encoding that is refused."""
    start = body[:4]
    refused = _REFUSED_STARTS.get(start)
    if refused is not None:
        raise ClientError(f"the request is encoded in {refused}; {ENCODINGS_ALLOWED}")
    if start[:2] in (b"\xff\xfe", b"\xfe\xff") or start in (b"<\x00?\x00", b"\x00<\x00?"):
        codec = (
            "utf-16"
            if start[:2] in (b"\xff\xfe", b"\xfe\xff")
            else ("utf-16-le" if start[0] == 0x3C else "utf-16-be")
        )
        _check_declared(body[:512].decode(codec, "replace").lstrip("\ufeff"), _UTF16_NAMES)
        try:
            text = body.decode(codec)
        except UnicodeDecodeError as exc:
            raise MalformedRequest(f"the request is not valid UTF-16: {exc.reason}") from None
        # The declaration names UTF-16, which the UTF-8 bytes no longer are: it goes.
        return _without_declaration(text.lstrip("\ufeff")).encode("utf-8")
    _check_declared(body[:512].decode("latin-1").removeprefix("\xef\xbb\xbf"), _UTF8_NAMES)
    return body


def _check_declared(head: str, allowed: frozenset[str]) -> None:
    match = _DECLARED.match(head)
    if match is None:
        return
    declared = match.group(2)
    if declared.lower() not in allowed:
        if declared.lower() in _UTF8_NAMES | _UTF16_NAMES:
            raise ClientError(f"the request declares encoding {declared!r} but is not in it")
        raise ClientError(f"encoding {declared!r} is not allowed; {ENCODINGS_ALLOWED}")


def _without_declaration(text: str) -> str:
    if text.startswith("<?xml"):
        end = text.find("?>")
        if end >= 0:
            return text[end + 2 :]
    return text


# --- limits ------------------------------------------------------------------------------
def _widest_tag(body: bytes, limit: int) -> bool:
    """Whether some start tag may have more than `limit` attributes and namespace
    declarations: more '=' bytes between a '<' and the last '>' before the next '<' (or the
    end: an unclosed tag is still parsed, when the parser is closed). Walks the body in
    place: splitting it would allocate an object per tag."""
    start = body.find(b"<")
    while start >= 0:
        following = body.find(b"<", start + 1)
        stop = len(body) if following < 0 else following
        close = body.rfind(b">", start, stop)
        if body.count(b"=", start, close if close > start else stop) > limit:
            return True
        start = following
    return False


def _parse_counted(body: bytes, limits: XmlLimits, equals: int) -> etree._Element:
    if equals > limits.max_attributes and _widest_tag(body, limits.max_attributes):
        raise ClientError(f"the request has more than {limits.max_attributes} attributes")
    parser = etree.XMLPullParser(events=("start", "end", "start-ns"), **PARSER_OPTIONS)
    elements = attributes = depth = declared = 0  # declared: namespaces of the next element
    for offset in range(0, len(body), FEED_BYTES):
        parser.feed(body[offset : offset + FEED_BYTES])
        for event, item in parser.read_events():
            if event == "end":
                depth -= 1
            elif event == "start":
                elements += 1
                depth += 1
                attributes += len(item.attrib)
                if len(item.attrib) + declared > limits.max_element_attributes:
                    raise ClientError(
                        f"an element of the request has more than "
                        f"{limits.max_element_attributes} attributes and namespace declarations"
                    )
                declared = 0
                if depth > limits.max_depth:
                    raise ClientError(f"the request nests elements deeper than {limits.max_depth}")
                if elements > limits.max_elements:
                    raise ClientError(f"the request has more than {limits.max_elements} elements")
            else:  # start-ns: before the start of the element that declares it
                attributes += 1
                declared += 1
            if attributes > limits.max_attributes:
                raise ClientError(
                    f"the request has more than {limits.max_attributes} attributes "
                    "and namespace declarations"
                )
    root: etree._Element = parser.close()
    return root


def parse_soap_body(parser: etree.XMLParser, body: bytes, limits: XmlLimits) -> etree._Element:
    """Parse a request body; refuse encodings other than UTF-8 and UTF-16, DTDs and
    processing instructions (SOAP 1.1 forbids them), and anything deeper, larger or more
    attributed than the limits."""
    if not body.strip():
        raise MalformedRequest("the request body is empty; a SOAP envelope is required")
    body = as_utf8(body)
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise ClientError("DTDs are not allowed in SOAP messages")
    opening, equals = body.count(b"<"), body.count(b"=")
    counted = (
        opening > limits.max_elements
        or equals > limits.max_attributes
        or (
            equals > limits.max_element_attributes
            and _widest_tag(body, limits.max_element_attributes)
        )
    )
    try:
        root = _parse_counted(body, limits, equals) if counted else etree.fromstring(body, parser)
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
    # A body with no more '<' bytes than the depth limit cannot nest deeper; a counted one
    # had its depth counted.
    if not counted and opening > limits.max_depth and _depth(root) > limits.max_depth:
        raise ClientError(f"the request nests elements deeper than {limits.max_depth}")
    return root


def _depth(root: etree._Element) -> int:
    deepest, stack = 0, [(root, 1)]
    while stack:
        element, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in element)
    return deepest
