"""The checks every operation request passes before its body is read: HTTPS, credentials,
request quota. Each refusal is logged as a security decision (no secrets in the log).

Credentials are HTTP Basic (License ID + App ID), and, where `[windows_auth]` is on, Negotiate
and NTLM (web/windows.py) for a Windows principal mapped to a license's app. A 401 offers
every scheme that works here, as IIS does, so a client picks the one it has."""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from cora_ocr.clock import Clock, SystemClock
from cora_ocr.config import Settings
from cora_ocr.errors import AuthenticationFailed, HttpsRequired, QuotaExceeded
from cora_ocr.licensing import Licensing, Principal
from cora_ocr.web.proxy import PROXIED, is_local
from cora_ocr.web.windows import (
    CONNECTION,
    REPLY,
    SCHEMES,
    Accepted,
    Challenge,
    Connection,
    WindowsAuth,
)

log = logging.getLogger(__name__)
# Keys the guard leaves in a request's environ.
REFUSED = "cora_ocr.refused"  # (status, cause)
LICENSE = "cora_ocr.license"  # the caller's License ID
ACCEPTED = "cora_ocr.windows"  # the Windows caller this request's token named (Accepted)
BASIC_CHALLENGE = 'Basic realm="cora_ocr", charset="UTF-8"'
# The door's verdict on a Negotiate upload, as nginx hands it to the app (auth_request_set):
# believed from a trusted proxy only, which sets both on every request (host/nginx.py).
CALLER_HEADER, REPLY_HEADER = "X-Cora-Ocr-Caller", "X-Cora-Ocr-Reply"
CALLER_KEY, REPLY_KEY = "HTTP_X_CORA_OCR_CALLER", "HTTP_X_CORA_OCR_REPLY"


class Guard:
    def __init__(
        self, settings: Settings, licensing: Licensing, clock: Clock | None = None
    ) -> None:
        self.settings = settings
        self.licensing = licensing
        self.clock = clock or SystemClock()
        self.require_https = settings.require_https is not False
        self.allow_anonymous = settings.allow_anonymous is True
        windows = settings.windows_auth
        self.windows = WindowsAuth(windows) if windows.enabled else None

    @staticmethod
    def is_https(environ: dict[str, Any]) -> bool:
        """Served over TLS, here or at a trusted proxy (web/proxy.py set the scheme)."""
        return environ.get("wsgi.url_scheme") == "https"

    def admit(self, environ: dict[str, Any], any_region: bool = False) -> Principal | None:
        """Transport, then credentials and quota: the caller, or None if anonymous. The
        caller's License ID, or why it was refused, is left in the environ for the access
        log and the metrics (REFUSED, LICENSE)."""
        self.check_transport(environ)
        try:
            principal = self.principal(environ, any_region)
        except AuthenticationFailed as exc:
            environ[REFUSED] = ("401", exc.cause)
            raise
        except QuotaExceeded:
            environ[REFUSED] = ("429", "request quota")
            raise
        if principal is not None:
            environ[LICENSE] = principal.license_id
        return principal

    def check_transport(self, environ: dict[str, Any]) -> None:
        if self.require_https and not self.is_https(environ):
            log.warning(
                "plain HTTP refused",
                extra={"security": "https", "peer": environ.get("REMOTE_ADDR")},
            )
            raise HttpsRequired("HTTPS is required: this service refuses plain HTTP")

    def principal(self, environ: dict[str, Any], any_region: bool = False) -> Principal | None:
        """The authenticated caller (counted against its quota), or None if anonymous."""
        principal = self.identify(environ, any_region)
        if principal is not None:
            self.licensing.count_request(principal, self.clock.now())
        return principal

    def identify(self, environ: dict[str, Any], any_region: bool = False) -> Principal | None:
        """The authenticated caller, or None if anonymous; AuthenticationFailed otherwise,
        offering every scheme that works here. Counts nothing (the front door asks this from
        the headers alone, the app again)."""
        try:
            return self._identify(environ, any_region)
        except Challenge:
            raise
        except AuthenticationFailed as exc:
            exc.headers = self.challenges(environ)
            raise

    def challenges(self, environ: dict[str, Any]) -> tuple[tuple[str, str], ...]:
        offered = self.windows.offers(environ) if self.windows is not None else []
        return tuple(("WWW-Authenticate", value) for value in [*offered, BASIC_CHALLENGE])

    def _identify(self, environ: dict[str, Any], any_region: bool) -> Principal | None:
        header = environ.get("HTTP_AUTHORIZATION", "")
        if not header:
            peer = environ.get("REMOTE_ADDR", "")
            if self.allow_anonymous and is_local(environ):
                return None
            log.warning("no credentials", extra={"security": "auth", "peer": peer})
            raise AuthenticationFailed(
                "credentials are required: HTTP Basic with the License ID as user name "
                "and the App ID as password"
                + (", or Windows authentication" if self.windows is not None else ""),
                "no credentials",
            )
        scheme, _, token = header.strip().partition(" ")
        if self.windows is not None and scheme.lower() in SCHEMES:
            accepted = self.windows_caller(environ, scheme, token)
            if accepted.reply:
                environ[REPLY] = accepted.reply
            return self.licensing.authenticate_principal(
                accepted.principal, self.clock.now(), any_region
            )
        license_id, app_id = parse_basic(header)
        return self.licensing.authenticate(license_id, app_id, self.clock.now(), any_region)

    def windows_caller(self, environ: dict[str, Any], scheme: str, token: str) -> Accepted:
        """The Windows caller of this request, its token accepted once: a Kerberos token
        accepted twice is a replay. The door may have accepted it already: in this process
        (the connection keeps its verdict for the request it judged), or as nginx's
        auth_request (its sealed verdict in CALLER_HEADER, from a trusted proxy only)."""
        assert self.windows is not None
        accepted: Accepted | None = environ.get(ACCEPTED)
        connection: Connection | None = environ.get(CONNECTION)
        judged = connection.judged if connection is not None else None
        if accepted is None and connection is not None and judged is not None:
            connection.judged = None
            if judged[0] == token:
                accepted = judged[1]
        if accepted is None and environ.get(PROXIED) and environ.get(CALLER_KEY):
            # Sealed by the door: a proxy that passes a client's own header on proves nothing.
            opened = self.windows.opened(environ[CALLER_KEY], token)
            if opened is not None:
                accepted = Accepted(opened.principal, environ.get(REPLY_KEY) or None)
        if accepted is None:
            accepted = self.windows.accept(environ, scheme, token)
        environ[ACCEPTED] = accepted
        return accepted


def parse_basic(header: str) -> tuple[str, str]:
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        raise AuthenticationFailed(
            "Authorization: only HTTP Basic credentials are accepted", "not basic"
        )
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthenticationFailed(
            "Authorization: the Basic credentials are not valid", "garbled basic"
        ) from None
    license_id, sep, app_id = decoded.partition(":")
    if not sep or not license_id or not app_id or len(decoded) > 512:
        raise AuthenticationFailed("Authorization: expected License ID:App ID", "garbled basic")
    return license_id, app_id
