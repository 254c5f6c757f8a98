"""Result documents: ALTO v4 XML (the default), hOCR, plain text."""

from __future__ import annotations

import html
from collections.abc import Sequence

from lxml import etree

from cora_ocr.robot.engine import Box, PageResult

ALTO_NS = "http://www.loc.gov/standards/alto/ns-v4#"
ALTO_SCHEMA = "http://www.loc.gov/standards/alto/v4/alto-4-2.xsd"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


def _position(element: etree._Element, box: Box) -> None:
    left, top, right, bottom = box
    element.set("HPOS", str(left))
    element.set("VPOS", str(top))
    element.set("WIDTH", str(right - left))
    element.set("HEIGHT", str(bottom - top))


def alto(pages: Sequence[PageResult], source_name: str, engine: str, version: str) -> bytes:
    def el(parent: etree._Element, name: str, **attrs: str) -> etree._Element:
        return etree.SubElement(parent, f"{{{ALTO_NS}}}{name}", attrs)

    root = etree.Element(f"{{{ALTO_NS}}}alto", nsmap={None: ALTO_NS, "xsi": XSI})
    root.set(f"{{{XSI}}}schemaLocation", f"{ALTO_NS} {ALTO_SCHEMA}")
    description = el(root, "Description")
    el(description, "MeasurementUnit").text = "pixel"
    source = el(el(description, "sourceImageInformation"), "fileName")
    source.text = source_name
    software = el(
        el(el(description, "OCRProcessing", ID="ocr"), "ocrProcessingStep"), "processingSoftware"
    )
    el(software, "softwareName").text = f"cora_ocr/{engine}"
    el(software, "softwareVersion").text = version
    layout = el(root, "Layout")
    for page in pages:
        p = el(
            layout,
            "Page",
            ID=f"page_{page.number}",
            PHYSICAL_IMG_NR=str(page.number),
            WIDTH=str(page.width),
            HEIGHT=str(page.height),
        )
        space = el(
            p, "PrintSpace", HPOS="0", VPOS="0", WIDTH=str(page.width), HEIGHT=str(page.height)
        )
        for b, block in enumerate(page.blocks, 1):
            text_block = el(space, "TextBlock", ID=f"p{page.number}_b{b}")
            _position(text_block, block.box)
            for n, line in enumerate(block.lines, 1):
                text_line = el(text_block, "TextLine", ID=f"p{page.number}_b{b}_l{n}")
                _position(text_line, line.box)
                for w, word in enumerate(line.words):
                    if w:
                        el(text_line, "SP")
                    string = el(text_line, "String", CONTENT=word.text, WC=f"{word.confidence:.2f}")
                    _position(string, word.box)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)


def hocr(pages: Sequence[PageResult], source_name: str, engine: str, version: str) -> bytes:
    body = "\n".join(page.hocr or "" for page in pages)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
        '    "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
        '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n<head>\n'
        f"  <title>{html.escape(source_name)}</title>\n"
        '  <meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>\n'
        f'  <meta name="ocr-system" content="cora_ocr/{engine} {html.escape(version)}"/>\n'
        '  <meta name="ocr-capabilities"'
        ' content="ocr_page ocr_carea ocr_par ocr_line ocrx_word"/>\n'
        f"</head>\n<body>\n{body}\n</body>\n</html>\n"
    ).encode()


def text(pages: Sequence[PageResult], source_name: str, engine: str, version: str) -> bytes:
    # Pages are separated by a form feed, as Tesseract's own text renderer does.
    return "\f".join(page.text for page in pages).encode("utf-8")


RENDERERS = {"alto": alto, "hocr": hocr, "text": text}


def words_of_alto(document: bytes) -> list[str]:
    """The recognised words of an ALTO document, in reading order."""
    root = etree.fromstring(document)
    return [s.get("CONTENT", "") for s in root.iter(f"{{{ALTO_NS}}}String")]
