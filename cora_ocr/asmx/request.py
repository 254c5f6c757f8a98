"""What a SOAP request may hold: the envelope's shape, its header entries and the operation it
names (ASMX's rules). The front door (cora_ocr.web) has parsed it with the hardened parser."""

from __future__ import annotations

from typing import NoReturn

from lxml import etree

from cora_ocr.asmx.envelope import SOAP11, VERSIONS, SoapVersion
from cora_ocr.errors import ClientError, MustUnderstand, UnknownOperation, VersionMismatch
from cora_ocr.namespaces import HEADER_NAME, HEADER_TAG, OPERATIONS, TNS

_ACTIONS = {f"{TNS}{op}": op for op in OPERATIONS}
_TRUE = ("1", "true")
_BOOLEANS = ("0", "1", "true", "false")
# The attributes SOAP gives a header entry, in the envelope's namespace: name -> whether its
# value is a boolean. SOAP 1.1 writes mustUnderstand as 0/1; true/false are taken too, as
# the .NET original takes them (gSOAP sends "true").
_ENTRY_ATTRIBUTES = {
    "1.1": {"mustUnderstand": True, "actor": False, "encodingStyle": False},
    "1.2": {"mustUnderstand": True, "role": False, "relay": True, "encodingStyle": False},
}


def _elements(parent: etree._Element) -> list[etree._Element]:
    return [child for child in parent if isinstance(child.tag, str)]


def split_envelope(
    version: SoapVersion, root: etree._Element
) -> tuple[etree._Element | None, etree._Element]:
    """(Header or None, the one Body child) of an envelope, refusing any other shape."""
    if root.tag != version.envelope_tag:
        _refuse_root(version, root)
    children = _elements(root)
    if [child.tag for child in children] not in version.envelope_shapes:
        raise ClientError("the Envelope must hold an optional Header followed by one Body")
    body = children[-1]
    payload = _elements(body)
    if len(payload) != 1 or (body.text or "").strip():
        raise ClientError(f"the Body must hold exactly one element, found {len(payload)}")
    return (children[0] if len(children) == 2 else None), payload[0]


def _refuse_root(version: SoapVersion, root: etree._Element) -> NoReturn:
    qname = etree.QName(root)
    if qname.localname != "Envelope":
        raise ClientError(f"the root element must be a SOAP Envelope, not {qname.localname!r}")
    if qname.namespace not in VERSIONS:
        raise VersionMismatch(
            f"the Envelope namespace {qname.namespace or '(none)'!r} is not SOAP 1.1 or SOAP 1.2"
        )
    raise VersionMismatch(
        f"a SOAP {VERSIONS[qname.namespace].name} envelope was sent with the content type "
        f"of SOAP {version.name} ({version.media_type})"
    )


def check_headers(version: SoapVersion, header: etree._Element | None) -> None:
    """Header entries as ASMX takes them: ActivityMetadata once at most, whatever SOAP
    attributes it carries (they are honoured here and removed: they address the SOAP node,
    carry no data, and the service's schema has no place for them); any other entry is
    ignored unless it must be understood."""
    if header is None:
        return
    seen = 0
    for entry in _elements(header):
        must_understand = _entry_attributes(version, entry)
        if entry.tag == HEADER_TAG:
            seen += 1
            if seen > 1:
                raise ClientError(f"{HEADER_NAME}: the header appears more than once")
            entry.attrib.clear()
        elif must_understand:
            raise MustUnderstand(f"SOAP header {etree.QName(entry).localname} was not understood.")


def _entry_attributes(version: SoapVersion, entry: etree._Element) -> bool:
    """Check the SOAP attributes of a header entry (those of other namespaces are anyone's);
    whether it must be understood."""
    must_understand = False
    for name, value in entry.attrib.items():
        qname = etree.QName(name)
        if qname.namespace != version.envelope_ns:
            continue
        where = f"{etree.QName(entry).localname}: soap:{qname.localname}"
        boolean = _ENTRY_ATTRIBUTES[version.name].get(qname.localname)
        if boolean is None:
            raise ClientError(f"{where} is not an attribute of a SOAP {version.name} header")
        if boolean:
            flag = value.strip().lower()
            if flag not in _BOOLEANS:
                raise ClientError(f"{where}={value!r} is not one of {', '.join(_BOOLEANS)}")
            if qname.localname == "mustUnderstand":
                must_understand = flag in _TRUE
    return must_understand


def route(version: SoapVersion, action: str | None, payload: etree._Element) -> str:
    """The operation name, from SOAPAction (1.1) or the action parameter / body element (1.2)."""
    element = etree.QName(payload)
    if version is SOAP11 or action is not None:
        if action is None:
            raise ClientError("SOAPAction: the HTTP header is missing")
        action = action.strip().strip('"')
        op = _ACTIONS.get(action)
        if op is None:
            expected = " or ".join(f'"{known}"' for known in _ACTIONS)
            raise UnknownOperation(
                f"SOAPAction: server did not recognize the value {action!r}; expected {expected}"
            )
        if payload.tag != f"{{{TNS}}}{op}":
            raise ClientError(
                f"SOAPAction: names {op} but the Body holds {element.localname!r}"
                f" in namespace {element.namespace or '(none)'!r}"
            )
        return op
    if element.namespace == TNS and element.localname in OPERATIONS:
        return element.localname
    raise UnknownOperation(
        f"the request element {element.localname!r} in namespace "
        f"{element.namespace or '(none)'!r} is not an operation of this service"
    )
