"""What every HTTP request leaves behind: one access-log line and the request metrics; and
GET /metrics, answered to loopback peers, trusted proxies and bearers of `metrics_token`.

The request's face comes from its path; its binding and operation from what the app found
(BINDING, OPERATION in the environ), its license or refusal from the guard (web/guard.py).
A body that is streamed (REST downloads) is counted as it is sent, and the line is written
when it has been.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from cora_ocr.config import Settings
from cora_ocr.job_view import PREFIX as REST_PREFIX
from cora_ocr.metrics import Exposition, Metrics
from cora_ocr.namespaces import SERVICE_PATH
from cora_ocr.store.records import JobCounts
from cora_ocr.web.guard import LICENSE, REFUSED
from cora_ocr.web.health import PATHS as HEALTH_PATHS
from cora_ocr.web.proxy import is_local
from cora_ocr.web.response import Response, plain

access = logging.getLogger("cora_ocr.access")
METRICS_PATH = "/metrics"
BINDING = "cora_ocr.binding"  # soap11, soap12, http-get, http-post
OPERATION = "cora_ocr.operation"  # FileBatch, GetStatus, or the REST route's name
_SERVICE = SERVICE_PATH.lower()

StartResponse = Callable[..., Any]
App = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def face_of(path: str) -> str:
    if path.startswith(REST_PREFIX):
        return "rest"
    if path.lower().startswith(_SERVICE):
        return "asmx"
    if path in HEALTH_PATHS:
        return "health"
    if path == METRICS_PATH:
        return "metrics"
    if path.startswith("/admin"):
        return "admin"
    return "other"


class Observer:
    def __init__(
        self,
        settings: Settings,
        job_counts: Callable[[], JobCounts],
        metrics: Metrics,
        profiles: Callable[[], list[Any]] | None = None,
    ) -> None:
        self.settings = settings
        self.access_log = settings.access_log
        self.counters = metrics
        self.exposition = Exposition(job_counts, metrics, profiles)
        self._token = settings.metrics_token.encode()
        self._children: dict[tuple[str, str, str, str], tuple[Any, Any]] = {}

    def around(self, app: App) -> App:
        """The middleware: `app` with every request it answers observed."""
        return lambda environ, start_response: self(environ, start_response, app)

    def __call__(
        self, environ: dict[str, Any], start_response: StartResponse, app: App
    ) -> Iterable[bytes]:
        started = time.perf_counter()
        status: list[str] = []

        def capture(line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status[:] = [line]
            return start_response(line, headers, exc_info)

        body = app(environ, capture)
        if isinstance(body, list):
            self.record(environ, status, sum(map(len, body)), started)
            return body
        return self._streamed(environ, status, body, started)

    def _streamed(
        self, environ: dict[str, Any], status: list[str], body: Iterable[bytes], started: float
    ) -> Iterator[bytes]:
        sent = 0
        try:
            for chunk in body:
                sent += len(chunk)
                yield chunk
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
            self.record(environ, status, sent, started)

    def record(self, environ: dict[str, Any], status: list[str], sent: int, started: float) -> None:
        seconds = time.perf_counter() - started
        code = status[0].split(" ", 1)[0] if status else "500"
        path = environ.get("PATH_INFO") or "/"
        face = face_of(path)
        binding = environ.get(BINDING, "-")
        operation = environ.get(OPERATION, "-")
        key = (face, binding, operation, code)
        children = self._children.get(key)
        if children is None:  # labels() looks the child up under a lock: once per kind
            children = self._children[key] = (
                self.counters.requests.labels(*key),
                self.counters.request_seconds.labels(face, binding, operation),
            )
        children[0].inc()
        children[1].observe(seconds)
        refused = environ.get(REFUSED)
        if refused is not None:
            self.counters.refused.labels(*refused).inc()
        if not self.access_log or not access.isEnabledFor(logging.INFO):
            return
        license_id = environ.get(LICENSE, "-")
        peer = environ.get("REMOTE_ADDR", "-")
        method = environ.get("REQUEST_METHOD", "-")
        access.info(
            "%s %s %s %s %s %s %.1fms %dB license=%s peer=%s",
            method,
            path,
            binding,
            operation,
            code,
            refused[1] if refused else "-",
            seconds * 1000,
            sent,
            license_id,
            peer,
            extra={
                "method": method,
                "path": path,
                "face": face,
                "binding": binding,
                "operation": operation,
                "status": int(code),
                "duration_ms": round(seconds * 1000, 2),
                "bytes": sent,
                "license_id": license_id,
                "peer": peer,
            },
        )

    # --- GET /metrics -----------------------------------------------------------------------
    def allowed(self, environ: dict[str, Any]) -> bool:
        if is_local(environ):
            return True
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        return bool(
            self._token
            and scheme.lower() == "bearer"
            and hmac.compare_digest(token.strip().encode(), self._token)
        )

    def metrics_app(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        return self.metrics(environ).send(environ, start_response)

    def metrics(self, environ: dict[str, Any]) -> Response:
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return Response(405, "text/plain; charset=utf-8", b"GET or HEAD\n", [("Allow", "GET")])
        if not self.allowed(environ):
            return plain(
                403,
                "metrics are served to callers on this machine and bearers of metrics_token",
            )
        content_type, body = self.exposition.render()
        return Response(200, content_type, body, [("Cache-Control", "no-store")])
