"""The pieces the OpenAPI document of the REST face is made of (rest/openapi.py): its
vocabularies, the problem answers each route may give, the schemas shared by routes."""

from __future__ import annotations

from typing import Any

MAX_ID = 2**63 - 1
STATUSES = [
    "Queued",
    "Throttled",
    "Processing",
    "Completed",
    "Aborted",
    "ProcessingError",
    "UnsupportedMediaType",
    "LicenseError",
]
PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _problem(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "content": PROBLEM}
    if headers:
        answer["headers"] = headers
    return answer


UNAUTHORIZED = _problem(
    "No credentials, credentials that do not grant access, or a license of another region",
    {"WWW-Authenticate": {"schema": {"type": "string"}}},
)
FORBIDDEN = _problem("Plain HTTP where HTTPS is required")
TOO_MANY = _problem(
    "The license's hourly request quota is spent",
    {"Retry-After": {"schema": {"type": "string"}, "description": "seconds"}},
)
GUARDED = {"401": UNAUTHORIZED, "403": FORBIDDEN, "429": TOO_MANY}
JOB_ID = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
}
NOT_FOUND = _problem("No such job, or another license's")
PRIORITIES = ["low", "normal", "high"]
FORMATS = ["alto", "hocr", "text", "pdf", "json", "pdfa"]
_CONFIDENCE = {
    "mean": {"type": "number", "minimum": 0, "maximum": 100},
    "min": {"type": "number", "minimum": 0, "maximum": 100},
    "lowWords": {
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        "description": "the share of words read with a confidence under 60",
    },
}
CONFIDENCE = {
    "type": ["object", "null"],
    "description": "Word confidences (0-100) of a completed job, per job and page; null "
    "where the result has no words to judge (a blank document, a PDF-only profile's)",
    "required": ["mean", "min", "lowWords", "pages"],
    "properties": {
        **_CONFIDENCE,
        "pages": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["page", "words", "mean", "min", "lowWords"],
                "properties": {
                    "page": {"type": "integer", "minimum": 1},
                    "words": {"type": "integer", "minimum": 0},
                    "mean": {"type": ["number", "null"], "minimum": 0, "maximum": 100},
                    "min": {"type": ["number", "null"], "minimum": 0, "maximum": 100},
                    "lowWords": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                },
            },
        },
    },
}
