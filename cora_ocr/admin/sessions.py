"""The jobs page's sign-in: a signed session cookie whose nonce the database keeps until it
expires or the admin signs out, a CSRF token per session, failed logins that wait longer each
time, and the page template every view renders. AdminApp (admin/app.py) is this and its views."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import math
import secrets
import time
from typing import Any

from jinja2 import Environment
from werkzeug.wrappers import Request, Response

from cora_ocr.config import Settings
from cora_ocr.store.admin_rows import AdminRows

PREFIX = "/admin"
COOKIE = "cora_ocr_admin"
SESSION_SECONDS = 8 * 3600
log = logging.getLogger("cora_ocr.admin.app")  # the page's one logger


class AdminSessions:
    """Who is signed in to the jobs page (AdminApp's first half): it keeps no state of its
    own but the signing key; the sessions and failed logins are the database's."""

    guard: Any  # web/guard.py's Guard: the HTTPS rule
    key: bytes
    rows: AdminRows
    settings: Settings
    templates: Environment

    # --- the session ----------------------------------------------------------------------
    def _sign(self, text: str) -> str:
        return hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()

    def csrf(self, nonce: str) -> str:
        return self._sign(f"csrf:{nonce}")

    def session(self, request: Request) -> str | None:
        """The session's nonce, if its cookie is genuine and not expired."""
        expiry, _, rest = request.cookies.get(COOKIE, "").partition(".")
        nonce, _, signature = rest.partition(".")
        if not (expiry.isdigit() and nonce and signature):
            return None
        if not hmac.compare_digest(signature, self._sign(f"{expiry}.{nonce}")):
            return None
        if int(expiry) <= time.time():
            return None
        return nonce if self.rows.session_alive(nonce, self.guard.clock.now()) else None

    def page(
        self, template: str, status: int = 200, nonce: str | None = None, **values: Any
    ) -> Response:
        html = self.templates.get_template(template).render(
            prefix=PREFIX,
            csrf=self.csrf(nonce) if nonce else "",
            signed_in=nonce is not None,
            **values,
        )
        response = Response(html, status, content_type="text/html; charset=utf-8")
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:;"
            " form-action 'self'; frame-ancestors 'none'"
        )
        return response

    @staticmethod
    def redirect(location: str) -> Response:
        return Response("", 303, headers={"Location": location})

    def login(self, request: Request) -> Response:
        if request.method == "GET":
            return self.page("login.html")
        user = request.form.get("user", "")
        password = request.form.get("password", "")
        keys = [f"peer:{request.remote_addr}", f"user:{user[:300]}"]
        now = self.guard.clock.now()
        wait = self.rows.wait(keys, now)
        if wait > 0:
            log.warning(
                "admin login refused: too many failures",
                extra={"security": "admin", "peer": request.remote_addr},
            )
            response = self.page(
                "login.html",
                429,
                error=f"Too many failed logins: try again in {math.ceil(wait)} s.",
                user=user,
            )
            response.headers["Retry-After"] = str(math.ceil(wait))
            return response
        good_user = hmac.compare_digest(user.encode(), self.settings.admin_user.encode())
        good_password = hmac.compare_digest(
            password.encode(), self.settings.admin_password.encode()
        )
        if not (good_user and good_password):
            self.rows.failed(keys, now)
            log.warning(
                "admin login refused",
                extra={"security": "admin", "peer": request.remote_addr},
            )
            return self.page("login.html", 401, error="Wrong user name or password.", user=user)
        self.rows.succeeded(keys)
        expiry = str(int(time.time()) + SESSION_SECONDS)
        nonce = secrets.token_urlsafe(16)
        self.rows.start_session(nonce, now + dt.timedelta(seconds=SESSION_SECONDS), now)
        response = self.redirect(f"{PREFIX}/")
        response.set_cookie(
            COOKIE,
            f"{expiry}.{nonce}.{self._sign(f'{expiry}.{nonce}')}",
            max_age=SESSION_SECONDS,
            path=PREFIX,
            httponly=True,
            samesite="Strict",
            secure=self.guard.is_https(request.environ),
        )
        log.info("admin signed in", extra={"security": "admin", "peer": request.remote_addr})
        return response

    def logout(self, request: Request, nonce: str) -> Response:
        self.rows.end_session(nonce)
        response = self.redirect(f"{PREFIX}/login")
        response.delete_cookie(COOKIE, path=PREFIX)
        return response
