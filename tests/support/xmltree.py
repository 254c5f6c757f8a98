"""Compare XML as trees: tags, prefixes, attributes, text and order; whitespace between
elements does not count (it is not content in these documents)."""

from __future__ import annotations

from typing import Any

from lxml import etree


def shape(element: etree._Element) -> tuple[Any, ...]:
    children = tuple(shape(child) for child in element if isinstance(child.tag, str))
    text = (element.text or "").strip()
    return (element.tag, element.prefix, tuple(sorted(element.attrib.items())), text, children)


def declared_namespaces(element: etree._Element) -> dict[str | None, str]:
    parent = element.getparent()
    inherited = parent.nsmap if parent is not None else {}
    return {prefix: uri for prefix, uri in element.nsmap.items() if inherited.get(prefix) != uri}


def assert_same_tree(actual: bytes, expected: bytes) -> None:
    got, want = etree.fromstring(actual), etree.fromstring(expected)
    assert shape(got) == shape(want)
    got_elements = [e for e in got.iter() if isinstance(e.tag, str)]
    want_elements = [e for e in want.iter() if isinstance(e.tag, str)]
    for mine, theirs in zip(got_elements, want_elements, strict=True):
        assert declared_namespaces(mine) == declared_namespaces(theirs), mine.tag
