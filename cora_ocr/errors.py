"""One exception tree. Client errors are the caller's fault; server errors are ours.

The one table mapping these to SOAP faults and HTTP statuses lives in ``cora_ocr.web.faults``.
"""

from __future__ import annotations


class CoraError(Exception):
    """Base of every error cora_ocr raises on purpose."""

    # HTTP headers the answer must carry (WWW-Authenticate, Retry-After).
    headers: tuple[tuple[str, str], ...] = ()


class ClientError(CoraError):
    """The request is wrong; the message says which field and why (safe to show)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class InvalidField(ClientError):
    """A field of the request is missing or has a value we cannot accept."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason, field=field)


class UnknownOperation(ClientError):
    """The request names an operation this service does not have."""


class MalformedRequest(ClientError):
    """The body is not well-formed XML (HTTP 400)."""


class VersionMismatch(ClientError):
    """The envelope is not of a SOAP version this service speaks."""


class MustUnderstand(ClientError):
    """A header marked mustUnderstand is not one this service knows."""


class UnsupportedMediaType(ClientError):
    """The Content-Type cannot carry a SOAP message (HTTP 415)."""


class RequestTooLarge(ClientError):
    """The body exceeds the configured size limit (HTTP 413)."""


class AuthenticationFailed(ClientError):
    """HTTP 401: the credentials are missing or do not grant access. `cause` says which
    (metrics and logs only: callers are never told more than the message)."""

    headers: tuple[tuple[str, str], ...] = (
        ("WWW-Authenticate", 'Basic realm="cora_ocr", charset="UTF-8"'),
    )  # the Guard sets every scheme it offers

    def __init__(self, message: str, cause: str = "refused") -> None:
        super().__init__(message)
        self.cause = cause


class QuotaExceeded(ClientError):
    """HTTP 429: the license's hourly request quota is spent."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.headers = (("Retry-After", str(retry_after)),)


class HttpsRequired(ClientError):
    """HTTP 403: the request came over plain HTTP and this service requires HTTPS."""


class KeyReused(ClientError):
    """HTTP 422: an `Idempotency-Key` sent again with a different document."""


class KeyInFlight(ClientError):
    """HTTP 409: an `Idempotency-Key` whose first request is still making its job."""


class ServerError(CoraError):
    """Something on our side failed; callers only ever see a generic text."""


class SettingsError(CoraError):
    """A setting has a bad value; the message names its key."""


class JobNotFound(CoraError):
    """No job has the given id (used by the CLI; SOAP answers NotFound instead)."""
