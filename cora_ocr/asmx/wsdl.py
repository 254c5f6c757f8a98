"""The WSDL, read once, served with every address set to the URL the caller used."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

from lxml import etree

WSDL_FILE = Path(__file__).resolve().parents[2] / "wsdl" / "coraOcrIntegration_v1.0.0.wsdl"
_MARKER = "urn:cora-ocr:address-placeholder"
_WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"


class WsdlDocument:
    """The WSDL split at its address attributes so that a request only joins strings."""

    def __init__(self, path: Path = WSDL_FILE) -> None:
        tree = etree.parse(str(path))
        ports = tree.getroot().findall(f"{{{_WSDL_NS}}}service/{{{_WSDL_NS}}}port")
        for port in ports:
            for address in port:
                address.set("location", _MARKER)
        text = etree.tostring(tree, encoding="utf-8", xml_declaration=True).decode("utf-8")
        self._pieces = text.split(f'"{_MARKER}"')
        if len(self._pieces) != len(ports) + 1:
            raise ValueError(f"{path}: expected one address per port")

    def render(self, address: str) -> bytes:
        return quoteattr(address).join(self._pieces).encode("utf-8")
