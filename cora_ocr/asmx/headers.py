"""The ActivityMetadata header entry as the service's schema allows it: which of its fields a
GetStatus needs, what each field's text becomes, and the plain check that lets a plainly valid
entry skip lxml's schema validator (bindings.py validates every other one)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any, cast

from lxml import etree
from spyne import Integer, Unicode, Uuid

from cora_ocr.asmx.types import ActivityMetadata
from cora_ocr.namespaces import TNS


def converter(field: Any) -> Callable[[str], Any]:
    """How a schema-valid text of this Spyne type becomes its value."""
    if issubclass(field, Uuid):
        return lambda text: uuid.UUID(text.strip())
    if issubclass(field, Integer):
        return int  # takes the spaces around that XML Schema allows
    return str


HEADER_FIELDS = {
    name: converter(field) for name, field in cast(Any, ActivityMetadata)._type_info.items()
}

# --- the header entry, judged without lxml's validator where that is certain -----------
XML_SPACE = " \t\r\n"
INTEGER_TEXT = re.compile(r"[ \t\r\n]*[+-]?[0-9]+[ \t\r\n]*\Z")
INTEGER_BITS = {"long": 63, "int": 31}  # the XML Schema types Spyne's Long and Integer32 are


def plain_text_check(field: Any) -> Callable[[str], bool]:
    """Whether a text is certainly valid for this Spyne type by the schema Spyne generates
    from it; False where that is not certain (the schema then judges)."""
    if issubclass(field, Integer):
        bits = INTEGER_BITS.get(field.get_type_name())
        if bits is None:
            return lambda _text: False
        low, high = -(1 << bits), (1 << bits) - 1
        return lambda text: INTEGER_TEXT.match(text) is not None and low <= int(text) <= high
    pattern = field.Attributes.pattern
    if pattern is not None:  # Uuid: a string type whose pattern spans the whole text
        compiled = re.compile(f"(?:{pattern})\\Z")
        return lambda text: compiled.match(text) is not None
    max_len = field.Attributes.max_len
    if issubclass(field, Unicode) and field.Attributes.min_len == 0 and max_len != float("inf"):
        return lambda text: len(text) <= max_len  # code points, as XML Schema counts them
    return lambda _text: False


HEADER_ORDER = {
    f"{{{TNS}}}{name}": (index, plain_text_check(field))
    for index, (name, field) in enumerate(cast(Any, ActivityMetadata)._type_info.items())
}


def plainly_valid_header(entry: etree._Element) -> bool:
    """Whether the schema certainly accepts this ActivityMetadata entry: its fields in the
    schema's order, each at most once, each plain text its type accepts, no attributes, only
    whitespace between. Anything else (a nil field, a field out of order or unknown, a value
    out of range) is for the schema to judge, with its message. Under the server a validator
    call, which lets go of the GIL and takes a lock, cost a GetStatus 15-25 µs of CPU, for 3
    µs in a loop; Cora sends plain headers."""
    if entry.attrib or (entry.text is not None and entry.text.strip(XML_SPACE)):
        return False
    position = 0
    for child in entry:
        known = HEADER_ORDER.get(child.tag)
        if known is None or known[0] < position or len(child) or child.attrib:
            return False
        if child.tail is not None and child.tail.strip(XML_SPACE):
            return False
        if not known[1](child.text or ""):
            return False
        position = known[0] + 1
    return True
