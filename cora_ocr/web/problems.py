"""RFC 9457 problem documents (`application/problem+json`) for HTTP faces: an error's status
and text by the one fault table (web/faults.py). The REST face answers with them, and so does
the header door for a refused upload."""

from __future__ import annotations

import json
from collections.abc import Iterable
from http import HTTPStatus

from werkzeug.wrappers import Response

from cora_ocr import errors
from cora_ocr.web.faults import message_for, rule_for

PROBLEM = "application/problem+json"


def problem(
    status: int, title: str, detail: str, headers: Iterable[tuple[str, str]] = ()
) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return Response(json.dumps(body), status, list(headers), content_type=PROBLEM)


def refused(exc: BaseException) -> Response:
    """The problem document for an error, by the one fault table (web/faults.py)."""
    rule = rule_for(exc)
    status = 400 if rule.http_status == 500 and rule.code == "Client" else rule.http_status
    headers = list(exc.headers) if isinstance(exc, errors.CoraError) else []
    return problem(status, HTTPStatus(status).phrase, message_for(exc, rule), headers)
