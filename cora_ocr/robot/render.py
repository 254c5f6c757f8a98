"""Result documents: ALTO v4 XML (the default), hOCR, plain text, and JSON with the layout
(its schema: robot/result.schema.json, also in the OpenAPI document)."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from importlib import resources
from typing import Any

from lxml import etree

from cora_ocr.robot.barcodes import as_dict
from cora_ocr.robot.engine import Box, PageResult
from cora_ocr.robot.quality import confidence

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
    coded = [(page, n, code) for page in pages for n, code in enumerate(page.barcodes, 1)]
    if coded:  # ALTO v4: Tags after Description, before Layout
        tags = el(root, "Tags")
        for page, n, code in coded:
            el(
                tags,
                "OtherTag",
                ID=f"p{page.number}_code{n}",
                TYPE="barcode",
                LABEL=code.format,
                VALUE=code.text,
            )
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
        for n, code in enumerate(page.barcodes, 1):
            illustration = el(
                space,
                "Illustration",
                ID=f"p{page.number}_bc{n}",
                TYPE="barcode",
                TAGREFS=f"p{page.number}_code{n}",
            )
            _position(illustration, code.box)
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


def json_result(pages: Sequence[PageResult], source_name: str, engine: str, version: str) -> bytes:
    """The document as JSON (robot/result.schema.json): each page with its size in pixels and
    points, its dpi, the orientation and skew it was read in, where its text came from, its
    lines and words with their boxes on the page as delivered and their confidences (0-100),
    its barcodes; the confidence summary of the document and of each page."""
    document = {
        "version": 1,
        "source": source_name,
        "engine": {"name": f"cora_ocr/{engine}", "version": version},
        "confidence": confidence(pages),
        "pages": [_json_page(page) for page in pages],
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _json_page(page: PageResult) -> dict[str, Any]:
    dpi = page.dpi if page.dpi > 0 else None

    def points(pixels: int) -> float | None:
        return None if dpi is None else round(pixels * 72 / dpi, 2)

    def box(value: Box) -> list[int]:
        return [max(0, int(edge)) for edge in value]

    return {
        "number": page.number,
        "width": page.width,
        "height": page.height,
        "widthPoints": points(page.width),
        "heightPoints": points(page.height),
        "dpi": None if dpi is None else round(dpi, 2),
        "rotation": page.rotation,
        "skewCorrected": round(page.straightened, 2),
        "source": "layer" if page.from_layer else "ocr",
        "lines": [
            {
                "text": " ".join(word.text for word in line.words),
                "box": box(line.box),
                "words": [
                    {
                        "text": word.text,
                        "box": box(word.box),
                        "confidence": round(min(100.0, max(0.0, word.confidence * 100)), 2),
                    }
                    for word in line.words
                ],
            }
            for block in page.blocks
            for line in block.lines
            if line.words
        ],
        "barcodes": [as_dict(code) for code in page.barcodes],
    }


def result_schema() -> dict[str, Any]:
    """The JSON result's schema, as the package ships it."""
    text = resources.files("cora_ocr.robot").joinpath("result.schema.json").read_text()
    return dict(json.loads(text))


RENDERERS = {"alto": alto, "hocr": hocr, "text": text, "json": json_result}


def words_of_alto(document: bytes) -> list[str]:
    """The recognised words of an ALTO document, in reading order."""
    root = etree.fromstring(document)
    return [s.get("CONTENT", "") for s in root.iter(f"{{{ALTO_NS}}}String")]
