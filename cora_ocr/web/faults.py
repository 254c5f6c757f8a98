"""The one table mapping the exception tree to HTTP statuses and SOAP fault codes."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from cora_ocr import errors
from cora_ocr.outages import describe, is_database_trouble
from cora_ocr.web.response import Response, plain

log = logging.getLogger(__name__)

# What an unexpected error looks like from outside: no stack trace, no internals.
GENERIC_SERVER_TEXT = "Server was unable to process request."


@dataclass(frozen=True)
class FaultRule:
    http_status: int
    code: str  # Client, Server, VersionMismatch or MustUnderstand


# Most specific first; the last row catches everything else.
FAULT_TABLE: tuple[tuple[type[BaseException], FaultRule], ...] = (
    (errors.MalformedRequest, FaultRule(400, "Client")),
    (errors.AuthenticationFailed, FaultRule(401, "Client")),
    (errors.HttpsRequired, FaultRule(403, "Client")),
    (errors.QuotaExceeded, FaultRule(429, "Client")),
    (errors.RequestTooLarge, FaultRule(413, "Client")),
    (errors.UnsupportedMediaType, FaultRule(415, "Client")),
    (errors.KeyReused, FaultRule(422, "Client")),
    (errors.KeyInFlight, FaultRule(409, "Client")),
    (errors.VersionMismatch, FaultRule(500, "VersionMismatch")),
    (errors.MustUnderstand, FaultRule(500, "MustUnderstand")),
    (errors.ClientError, FaultRule(500, "Client")),
    (Exception, FaultRule(500, "Server")),
)


def rule_for(exc: BaseException) -> FaultRule:
    for kind, rule in FAULT_TABLE:
        if isinstance(exc, kind):
            return rule
    raise AssertionError("the fault table ends with Exception")  # pragma: no cover


def message_for(exc: BaseException, rule: FaultRule) -> str:
    if rule.code == "Server":
        if is_database_trouble(exc):  # weather, not a defect: one line, no traceback
            log.warning("request failed: database unavailable (%s)", describe(exc))
        else:
            log.error("unexpected error while serving a request", exc_info=exc)
        return GENERIC_SERVER_TEXT
    log.info("request refused: %s", exc, extra={"error": type(exc).__name__})
    return str(exc)


def headers_of(exc: BaseException) -> list[tuple[str, str]]:
    return list(exc.headers) if isinstance(exc, errors.CoraError) else []


def plain_error(exc: BaseException) -> Response:
    rule = rule_for(exc)
    response = plain(rule.http_status, message_for(exc, rule))
    response.headers.extend(headers_of(exc))
    return response
