"""The OpenAPI 3.1 document of the REST face (GET /api/v1/openapi.json). Tested against the
app by Schemathesis (tests/integration/test_rest_openapi.py): every answer must match it."""

from __future__ import annotations

import json
from typing import Any

from cora_ocr.rest.parts import (
    CONFIDENCE,
    FORMATS,
    GUARDED,
    JOB_ID,
    MAX_ID,
    NOT_FOUND,
    PRIORITIES,
    STATUSES,
    _problem,
)

__all__ = ["MAX_ID", "document"]


def document(profiles: list[str], max_timeout: int) -> dict[str, Any]:
    """The document for this deployment: its profiles and longest timeout are part of it."""
    job = {
        "type": "object",
        "required": [
            "id",
            "status",
            "errorCode",
            "profile",
            "priority",
            "formats",
            "created",
            "updated",
            "links",
        ],
        "properties": {
            "id": {"type": "integer"},
            "status": {"type": "string", "enum": STATUSES},
            "errorCode": {"type": "string"},
            "pagesDone": {"type": ["integer", "null"]},
            "pagesTotal": {"type": ["integer", "null"]},
            "profile": {"type": "string"},
            "externalContext": {"type": ["string", "null"]},
            "priority": {"type": "string", "enum": PRIORITIES},
            "confidence": CONFIDENCE,
            "needsReview": {
                "type": ["boolean", "null"],
                "description": "Completed with a mean confidence under the profile's "
                "review_below (null: not judged)",
            },
            "barcodes": {
                "type": ["integer", "null"],
                "description": "Barcodes read on its pages (null: its profile reads none)",
            },
            "pdfa": {
                "type": ["boolean", "null"],
                "description": "Whether the pdfa result is PDF/A (false: a plain searchable PDF, "
                "the reason in the job's history; null: its profile makes none)",
            },
            "formats": {
                "type": "array",
                "items": {"type": "string", "enum": FORMATS},
                "description": "The result's formats, the first the default of /result",
            },
            "created": {"type": "string", "format": "date-time"},
            "updated": {"type": "string", "format": "date-time"},
            "links": {
                "type": "object",
                "required": ["self", "result"],
                "properties": {"self": {"type": "string"}, "result": {"type": "string"}},
            },
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "cora_ocr job API",
            "version": "1",
            "description": "The OCR job service beside the Cora SeQuence SOAP contract.",
        },
        "security": [{"basic": []}],
        "paths": {
            "/api/v1/jobs": {
                "get": {
                    "summary": "The caller's jobs, newest first, a page at a time",
                    "parameters": [
                        {
                            "name": "status",
                            "in": "query",
                            "schema": {"type": "string", "enum": STATUSES},
                        },
                        {
                            "name": "needsReview",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["true", "false"]},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 200},
                        },
                        {
                            "name": "after",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "A page of jobs; `next` links to the following one",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/JobPage"}
                                }
                            },
                        },
                        "400": _problem("A parameter is not acceptable; the detail names it"),
                        **GUARDED,
                    },
                },
                "post": {
                    "summary": "A job from an uploaded document",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "description": "The same key again within 24 hours (same caller)"
                            " answers the job the first request made (200), or 422 with another"
                            " document",
                            "schema": {
                                "type": "string",
                                "minLength": 1,
                                "maxLength": 255,
                                "pattern": "^[!-~]+$",
                            },
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["file"],
                                    "properties": {
                                        "file": {
                                            "type": "string",
                                            "format": "binary",
                                            "description": "A PDF, TIFF, PNG or JPEG document, "
                                            "judged by its content (else 415)",
                                        },
                                        "profile": {"type": "string", "enum": profiles},
                                        "externalContext": {"type": "string", "maxLength": 4000},
                                        "callbackUrl": {
                                            "type": "string",
                                            "format": "uri",
                                            "description": "POSTed the job once it is final; "
                                            "its host must be in callback_hosts (else 400)",
                                        },
                                        "timeout": {
                                            "type": "integer",
                                            "minimum": 1,
                                            "maximum": max_timeout,
                                        },
                                        "priority": {
                                            "type": "string",
                                            "enum": PRIORITIES,
                                            "description": "Among the license's queued jobs;"
                                            " default the profile's; above the license's"
                                            " highest: 400",
                                        },
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "The job, queued",
                            "headers": {"Location": {"schema": {"type": "string"}}},
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Job"}}
                            },
                        },
                        "200": {
                            "description": "The job an earlier request with the same"
                            " Idempotency-Key made",
                            "headers": {"Location": {"schema": {"type": "string"}}},
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Job"}}
                            },
                        },
                        "400": _problem("A field is not acceptable; the detail names it"),
                        "409": _problem(
                            "The Idempotency-Key's first request is still making its job"
                        ),
                        "413": _problem("The upload is larger than max_upload_bytes"),
                        "415": _problem(
                            "Not multipart/form-data, or the document is empty or not a PDF, "
                            "TIFF, PNG or JPEG the profile reads"
                        ),
                        "422": _problem("The Idempotency-Key came before with another document"),
                        **GUARDED,
                    },
                },
            },
            "/api/v1/jobs/{job_id}": {
                "parameters": [JOB_ID],
                "get": {
                    "summary": "A job",
                    "responses": {
                        "200": {
                            "description": "The job",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Job"}}
                            },
                        },
                        "404": NOT_FOUND,
                        **GUARDED,
                    },
                },
                "delete": {
                    "summary": (
                        "Delete a job: aborted if it is running, an uploaded job's files"
                        " removed; from then on it answers 404 and is not listed"
                    ),
                    "responses": {"204": {"description": "Done"}, "404": NOT_FOUND, **GUARDED},
                },
            },
            "/api/v1/jobs/{job_id}/result": {
                "parameters": [JOB_ID],
                "get": {
                    "summary": "The result document of a completed job",
                    "parameters": [
                        {
                            "name": "format",
                            "in": "query",
                            "description": "One of the job's formats (default: the first)",
                            "schema": {"type": "string", "enum": [*FORMATS, "txt", "xml"]},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The result, in the profile's format",
                            "content": {
                                **{
                                    media: {"schema": {"type": "string", "format": "binary"}}
                                    for media in (
                                        "application/xml",
                                        "text/plain",
                                        "text/html",
                                        "application/pdf",
                                    )
                                },
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/OcrResult"}
                                },
                            },
                        },
                        "400": _problem(
                            "The job delivers its result to a connection, or has no result "
                            "in that format"
                        ),
                        "404": _problem("No such job or result"),
                        "409": _problem("The job is not completed"),
                        **GUARDED,
                    },
                },
            },
            "/api/v1/licenses": {
                "get": {
                    "summary": "The caller's license; answered in every region",
                    "responses": {
                        "200": {
                            "description": "The license and this hour's usage",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/License"}
                                }
                            },
                        },
                        "400": _problem("The anonymous local caller has no license"),
                        **GUARDED,
                    },
                },
            },
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                },
            },
        },
        "components": {
            "securitySchemes": {
                "basic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "User name: the License ID; password: the App ID",
                }
            },
            "schemas": {
                "OcrResult": _ocr_result(),
                "Job": job,
                "JobPage": {
                    "type": "object",
                    "required": ["jobs"],
                    "properties": {
                        "jobs": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}},
                        "next": {"type": "string"},
                    },
                },
                "License": {
                    "type": "object",
                    "required": [
                        "licenseId",
                        "processingRegion",
                        "status",
                        "hourlyRequestQuota",
                        "hourlyPageQuota",
                        "monthlyPageQuota",
                        "maxPriority",
                        "usage",
                    ],
                    "properties": {
                        "licenseId": {"type": "string"},
                        "processingRegion": {"type": "string"},
                        "status": {"type": "string", "enum": ["Active"]},
                        "expires": {"type": ["string", "null"], "format": "date-time"},
                        "hourlyRequestQuota": {"type": "integer"},
                        "hourlyPageQuota": {"type": "integer"},
                        "monthlyPageQuota": {
                            "type": "integer",
                            "description": "Pages a month; 0: no monthly quota",
                        },
                        "maxPriority": {
                            "type": "string",
                            "enum": PRIORITIES,
                            "description": "The highest priority its jobs may ask for",
                        },
                        "usage": {
                            "type": "object",
                            "required": ["hour", "requests", "pages", "secondsToNextHour", "month"],
                            "properties": {
                                "hour": {"type": "string", "format": "date-time"},
                                "requests": {"type": "integer"},
                                "pages": {"type": "integer"},
                                "secondsToNextHour": {"type": "integer"},
                                "month": {
                                    "type": "object",
                                    "required": ["start", "pages"],
                                    "properties": {
                                        "start": {"type": "string", "format": "date-time"},
                                        "pages": {"type": "integer"},
                                    },
                                },
                            },
                        },
                    },
                },
                "Problem": {
                    "type": "object",
                    "description": "RFC 9457",
                    "required": ["type", "title", "status", "detail"],
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                    },
                },
            },
        },
    }


def _ocr_result() -> dict[str, Any]:
    """The JSON result's schema (robot/result.schema.json), its $defs under its own name."""
    from cora_ocr.robot.render import result_schema

    schema = result_schema()
    definitions = schema.pop("$defs")
    schema.pop("$schema", None)
    schema.pop("$id", None)
    text = json.dumps({**schema, "$defs": definitions})
    return dict(json.loads(text.replace("#/$defs/", "#/components/schemas/OcrResult/$defs/")))
