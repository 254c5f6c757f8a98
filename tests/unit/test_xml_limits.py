"""The XML limits per element (issue 26): CXF, the strictest common SOAP stack, refuses an
element with more than 500 attributes; so do we, however the body is spelled or sized, while
the same attributes spread over several elements stay within the document's limits."""

from __future__ import annotations

import pytest

from cora_ocr.asmx.xmlparse import XmlLimits, make_parser, parse_soap_body
from cora_ocr.errors import ClientError

LIMITS = XmlLimits()  # the defaults: 2,000 per document, 500 per element


def document(*counts: int, namespaces: bool = False, pad: int = 0) -> bytes:
    """An envelope whose header has one element per count, each with that many attributes
    (or namespace declarations); `pad` elements more keep the body past the counted path's
    thresholds."""
    elements = []
    for index, count in enumerate(counts):
        if namespaces:
            attrs = " ".join(f'xmlns:p{i}="urn:{index}:{i}"' for i in range(count))
        else:
            attrs = " ".join(f'a{i}="{i}"' for i in range(count))
        elements.append(f"<e{index} {attrs}/>")
    filler = "<f/>" * pad
    return (
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header>'
        + "".join(elements)
        + filler
        + "</s:Header><s:Body/></s:Envelope>"
    ).encode()


@pytest.mark.parametrize("namespaces", [False, True])
@pytest.mark.parametrize("pad", [0, 2_100])  # parsed in one call, or counted event by event
def test_an_element_may_carry_500_attributes_and_not_501(namespaces: bool, pad: int) -> None:
    limits = XmlLimits(max_elements=5_000)
    parse_soap_body(make_parser(), document(500, namespaces=namespaces, pad=pad), limits)
    with pytest.raises(ClientError, match="an element of the request has more than 500"):
        parse_soap_body(make_parser(), document(501, namespaces=namespaces, pad=pad), limits)


def test_attributes_and_declarations_count_together_on_one_element() -> None:
    body = document(400).replace(
        b"<e0 ", b"<e0 " + b" ".join(b'xmlns:n%d="urn:%d"' % (i, i) for i in range(101)) + b" "
    )
    with pytest.raises(ClientError, match="more than 500"):
        parse_soap_body(make_parser(), body, LIMITS)


def test_the_same_attributes_spread_over_elements_stay_within_the_document_limit() -> None:
    root = parse_soap_body(make_parser(), document(400, 400, 400, 400), LIMITS)
    assert len(root[0]) == 4
    with pytest.raises(ClientError, match="more than 2000 attributes"):
        parse_soap_body(make_parser(), document(450, 450, 450, 450, 450), LIMITS)
