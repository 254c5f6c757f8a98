"""What the front door decides from a request's headers alone, before its body is read and
before "100 Continue" is sent (host/server.py calls it as the headers complete): a SOAP call or
a document upload without valid credentials, or over plain HTTP where HTTPS is required, is
refused there, so an unauthenticated client cannot make the server take a 100 MiB body first.

The decision is the Guard's own (the HTTPS rule, the anonymous rule, the credentials), on the
client as web/proxy.py sees it; nothing is counted against a quota here (the app admits the
request again, and counts it, once the body is in). The answer is the one the app would give:
a SOAP fault for a SOAP caller, a problem document for REST."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, NamedTuple

from cora_ocr.asmx.envelope import SOAP11, SOAP12
from cora_ocr.asmx.faults import soap_error
from cora_ocr.errors import AuthenticationFailed, HttpsRequired
from cora_ocr.job_view import PREFIX as REST_PREFIX
from cora_ocr.namespaces import SERVICE_PATH
from cora_ocr.web.faults import plain_error
from cora_ocr.web.guard import (
    ACCEPTED,
    CALLER_HEADER,
    CALLER_KEY,
    REPLY_HEADER,
    REPLY_KEY,
    Guard,
)
from cora_ocr.web.problems import refused
from cora_ocr.web.proxy import as_forwarded
from cora_ocr.web.response import parse_content_type
from cora_ocr.web.windows import CONNECTION, Accepted, Challenge, Connection

log = logging.getLogger(__name__)
UPLOAD_PATH = REST_PREFIX + "/jobs"
# nginx's auth_request asks here before it reads an upload's body (`cora-ocr nginx-config`).
DOOR_PATH = "/door"
# The door's refusal, as one header line too: nginx answers with it (it passes no body on).
REFUSAL_HEADER = "X-Cora-Ocr-Refusal"
# The schemes a 401 offers, as one header line: nginx cannot pass several on from the door.
CHALLENGE_HEADER = "X-Cora-Ocr-Challenge"
Verdict = tuple[int, list[tuple[str, str]], bytes]  # status, headers, body


class Leg(NamedTuple):
    """A handshake's next step answered from the headers (NTLM's challenge to a request that
    waits for "100 Continue", or has no body): the connection stays open for the next leg,
    and the body, never asked for, is never read."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


class HeaderJudge:
    def __init__(self, guard: Guard, trusted_proxies: frozenset[str]) -> None:
        self.guard = guard
        self.trusted = trusted_proxies

    def __call__(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        peer: str,
        scheme: str,
        connection: Connection | None = None,
    ) -> Verdict | None:
        """A refusal for this request, or None to read its body and let the app decide.
        `headers` as waitress keeps them: upper case, dashes as underscores. A Windows
        caller accepted here is left with the connection for the app (web/guard.py)."""
        if not judged(method, path):
            return None
        environ: dict[str, Any] = {f"HTTP_{key}": value for key, value in headers.items()}
        environ.update(REMOTE_ADDR=peer, REQUEST_METHOD=method, PATH_INFO=path)
        environ["wsgi.url_scheme"] = scheme
        if connection is not None:
            environ[CONNECTION] = connection
        environ = as_forwarded(environ, self.trusted)
        verdict = judge(self.guard, environ, method, path)
        accepted: Accepted | None = environ.get(ACCEPTED)
        if verdict is None and connection is not None and accepted is not None:
            token = environ.get("HTTP_AUTHORIZATION", "").strip().partition(" ")[2]
            connection.judged = (token, accepted)
        return verdict


class Door:
    """GET /door: the same judgement for nginx's `auth_request`, which asks with the upload's
    headers (no body) and its method and URI in X-Original-Method and X-Original-URI: 204 to go
    on, or the refusal (nginx then has the app answer the request without its body)."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        # The door's own verdict is what it is asked for: none taken from the request.
        environ.pop(CALLER_KEY, None)
        environ.pop(REPLY_KEY, None)
        method = environ.get("HTTP_X_ORIGINAL_METHOD", "")
        path = environ.get("HTTP_X_ORIGINAL_URI", "").partition("?")[0]
        verdict = judge(self.guard, environ, method, path) if judged(method, path) else None
        status, headers, body = verdict or (204, _passed(self.guard, environ), b"")
        if verdict is not None and body.isascii() and b"\n" not in body and b"\r" not in body:
            headers = [*headers, (REFUSAL_HEADER, body.decode("ascii"))]
        challenges = [value for key, value in headers if key.lower() == "www-authenticate"]
        if verdict is not None and challenges:
            headers = [*headers, (CHALLENGE_HEADER, ", ".join(challenges))]
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [body]


def _passed(guard: Guard, environ: dict[str, Any]) -> list[tuple[str, str]]:
    """The Windows caller the door accepted, sealed (web/windows.py: seal), for nginx to hand
    to the app with the request (its token must not be accepted twice: the replay cache
    would refuse it)."""
    accepted: Accepted | None = environ.get(ACCEPTED)
    if accepted is None or guard.windows is None:
        return []
    token = environ.get("HTTP_AUTHORIZATION", "").strip().partition(" ")[2]
    sealed = guard.windows.seal(accepted.principal, token)
    return [(CALLER_HEADER, sealed), (REPLY_HEADER, accepted.reply or "")]


def judged(method: str, path: str) -> bool:
    """Requests that may carry a large body: a SOAP call, a document upload."""
    soap = path.lower() == SERVICE_PATH.lower()
    return method == "POST" and (soap or path.rstrip("/") == UPLOAD_PATH)


def judge(guard: Guard, environ: dict[str, Any], method: str, path: str) -> Verdict | None:
    """A refusal for this request, or None to let the app decide once the body is in."""
    try:
        guard.check_transport(environ)
        guard.identify(environ)
    except Challenge as leg:
        expects = environ.get("HTTP_EXPECT", "").lower() == "100-continue"
        if expects or environ.get("HTTP_CONTENT_LENGTH", "0") == "0":
            status, headers, body = _answer(
                leg, path.lower() == SERVICE_PATH.lower(), environ.get("HTTP_CONTENT_TYPE", "")
            )
            return Leg(status, headers, body)
        # A client that sent its body with the leg anyway (requests_ntlm): the app answers
        # once the body is in, drained unread, so that the connection, and the handshake,
        # live on.
        return None
    except (HttpsRequired, AuthenticationFailed) as exc:
        soap = path.lower() == SERVICE_PATH.lower()
        return _answer(
            exc, soap, environ.get("CONTENT_TYPE") or environ.get("HTTP_CONTENT_TYPE", "")
        )
    except Exception:  # the licenses unreadable now (a database outage): the app answers
        log.debug("the door could not judge %s %s; the app will", method, path, exc_info=True)
    return None


def _answer(exc: Exception, soap: bool, content_type: str) -> Verdict:
    if not soap:
        rest = refused(exc)
        return rest.status_code, list(rest.headers.items()), rest.get_data()
    media, _params = parse_content_type(content_type)
    versions = {"text/xml": SOAP11, "application/soap+xml": SOAP12}
    version = versions.get(media)
    response = soap_error(version, exc) if version is not None else plain_error(exc)
    return response.status, response.header_list(), response.body
