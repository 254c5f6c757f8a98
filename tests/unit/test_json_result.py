"""The JSON result (issue 38), from pages as the engine and the text layer make them: it
validates against the schema the package ships (and the OpenAPI document carries), its words
are ALTO's words in order with the same boxes, sizes in points follow the page's dpi, and
each page says where its text came from."""

from __future__ import annotations

import json

from jsonschema import Draft202012Validator
from lxml import etree

from cora_ocr.rest.openapi import document
from cora_ocr.robot.engine import Block, Line, PageResult, Word
from cora_ocr.robot.render import ALTO_NS, alto, json_result, result_schema


def pages() -> list[PageResult]:
    scanned = PageResult(
        1,
        1240,
        1754,
        "Invoice 4711\n",
        [
            Block(
                (100, 100, 500, 140),
                [
                    Line(
                        (100, 100, 500, 140),
                        [
                            Word("Invoice", (100, 100, 300, 140), 0.93),
                            Word("4711", (320, 100, 500, 140), 0.71),
                        ],
                    )
                ],
            )
        ],
        straightened=-1.5,
        dpi=150.0,
        rotation=90,
    )
    layer = PageResult(
        2,
        1240,
        1754,
        "Total\n",
        [
            Block(
                (80, 200, 200, 230),
                [Line((80, 200, 200, 230), [Word("Total", (80, 200, 200, 230), 1.0)])],
            )
        ],
        from_layer=True,
        dpi=150.0,
    )
    blank = PageResult(3, 1240, 1754, "", [])
    return [scanned, layer, blank]


def test_the_json_result_validates_and_says_each_pages_size_and_source() -> None:
    found = json.loads(json_result(pages(), "invoice.pdf", "tesseract", "5.5"))
    assert list(Draft202012Validator(result_schema()).iter_errors(found)) == []
    first, second, third = found["pages"]
    assert (first["widthPoints"], first["heightPoints"], first["dpi"]) == (595.2, 841.92, 150.0)
    assert (first["rotation"], first["skewCorrected"], first["source"]) == (90, -1.5, "ocr")
    assert first["lines"][0]["words"][1] == {
        "text": "4711",
        "box": [320, 100, 500, 140],
        "confidence": 71.0,
    }
    assert second["source"] == "layer" and third["lines"] == [] and third["dpi"] is None
    assert found["confidence"]["pages"][2] == {
        "page": 3,
        "words": 0,
        "mean": None,
        "min": None,
        "lowWords": None,
    }
    assert found["source"] == "invoice.pdf" and all(
        page["barcodes"] == [] for page in found["pages"]
    )


def test_its_words_are_altos_words_with_the_same_boxes() -> None:
    found = json.loads(json_result(pages(), "invoice.pdf", "tesseract", "5.5"))
    words = [
        (w["text"], w["box"]) for p in found["pages"] for line in p["lines"] for w in line["words"]
    ]
    strings = etree.fromstring(alto(pages(), "invoice.pdf", "tesseract", "5.5")).iter(
        f"{{{ALTO_NS}}}String"
    )
    boxes = [
        (
            s.get("CONTENT"),
            [
                int(s.get("HPOS")),
                int(s.get("VPOS")),
                int(s.get("HPOS")) + int(s.get("WIDTH")),
                int(s.get("VPOS")) + int(s.get("HEIGHT")),
            ],
        )
        for s in strings
    ]
    assert words == boxes


def test_the_openapi_document_carries_the_schema() -> None:
    openapi = document(["Default"], 604800)
    schema = openapi["components"]["schemas"]["OcrResult"]
    assert schema["properties"]["pages"]["items"] == {
        "$ref": "#/components/schemas/OcrResult/$defs/page"
    }
    result = openapi["paths"]["/api/v1/jobs/{job_id}/result"]["get"]["responses"]["200"]
    assert result["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/OcrResult"
    }
    [chosen] = openapi["paths"]["/api/v1/jobs/{job_id}/result"]["get"]["parameters"]
    assert "json" in chosen["schema"]["enum"]
