"""The WSGI application, built once by create_app(): the faces in a mount table, wrapped in
one list of middleware (web/stack.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from cora_ocr.admin.app import PREFIX as ADMIN_PREFIX
from cora_ocr.admin.app import AdminApp
from cora_ocr.asmx.face import AsmxApp
from cora_ocr.clock import Clock
from cora_ocr.config import Settings
from cora_ocr.connections import UPLOADS, sweep_staging
from cora_ocr.host.door import DOOR_PATH, Door, HeaderJudge
from cora_ocr.job_view import PREFIX as REST_PREFIX
from cora_ocr.jobs import JobService
from cora_ocr.namespaces import SERVICE_PATH
from cora_ocr.rest.api import RestApi
from cora_ocr.rest.uploads import Uploads
from cora_ocr.services import Services
from cora_ocr.store.admin_rows import AdminRows
from cora_ocr.store.records import JobCounts
from cora_ocr.web.admission import ADMISSION, Admission, Ticket
from cora_ocr.web.guard import Guard
from cora_ocr.web.health import PATHS as HEALTH_PATHS
from cora_ocr.web.health import Health
from cora_ocr.web.observe import METRICS_PATH, Observer
from cora_ocr.web.proxy import TrustedProxies
from cora_ocr.web.stack import Middleware, Mounts, WsgiApp, build_stack

StartResponse = Callable[..., Any]


class CoraOcrApp:
    """WSGI callable: `stack` around `mounts`. In order, for every request:

    1. TrustedProxies: the client, scheme and host a trusted proxy forwards (web/proxy.py);
    2. Observer: the access log line and the request metrics (web/observe.py);
    3. Admission: the HTTPS rule, credentials and quota, judged once when the face asks
       (web/admission.py), each face refusing in its own shape;
    4. the face its path names (Mounts, web/stack.py).
    """

    def __init__(
        self,
        settings: Settings,
        jobs: JobService,
        guard: Guard,
        rest: RestApi | None = None,
        health: Health | None = None,
        observer: Observer | None = None,
        admin: AdminApp | None = None,
    ) -> None:
        self.settings = settings
        self.guard = guard
        self.asmx = AsmxApp(settings, jobs)
        # Our HTTP server asks this as a request's headers complete (host/door.py); nginx asks
        # the door's path (auth_request).
        self.judge_headers = HeaderJudge(guard, settings.effective_trusted_proxies)
        faces: dict[str, WsgiApp] = {SERVICE_PATH: self.asmx, DOOR_PATH: Door(guard)}
        if rest is not None:
            faces[REST_PREFIX] = rest
        if admin is not None:
            faces[ADMIN_PREFIX] = admin
        if health is not None:
            faces.update({path: health for path in HEALTH_PATHS})
        if observer is not None:
            faces[METRICS_PATH] = observer.metrics_app
        self.mounts = Mounts(
            faces, caseless=[SERVICE_PATH], exact=[*HEALTH_PATHS, METRICS_PATH, DOOR_PATH]
        )
        middleware: list[Middleware] = [
            lambda app: TrustedProxies(app, settings.effective_trusted_proxies),
        ]
        if observer is not None:
            middleware.append(observer.around)
        middleware.append(Admission(guard).around)
        self.stack = build_stack(self.mounts, middleware)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        return self.stack(environ, start_response)

    # The ASMX face's parts, as tests and benchmarks reach them.
    @property
    def wsdl(self) -> Any:
        return self.asmx.wsdl

    @property
    def bindings(self) -> Any:
        return self.asmx.bindings

    def dispatch(self, environ: dict[str, Any]) -> Any:
        """The ASMX face's answer to `environ`, past the middleware but admission."""
        environ.setdefault(ADMISSION, Ticket(self.guard, environ))
        return self.asmx.dispatch(environ)


def create_app(services: Services, clock: Clock | None = None) -> CoraOcrApp:
    clock = clock or services.clock
    services.connections.ensure_roots()
    # What a killed process left of its uploads (the workers sweep too, but `web` may run alone).
    sweep_staging(
        services.connections.local_root(UPLOADS), time.time(), services.settings.orphan_seconds
    )
    guard = Guard(services.settings, services.licensing, clock)
    uploads = Uploads(
        services.connections,
        services.profiles,
        services.jobs,
        services.settings.max_upload_bytes,
        services.settings.callback_hosts,
    )
    rest = RestApi(services.jobs, services.licensing, uploads, clock)
    health = Health(services.store, services.profiles)

    def job_counts() -> JobCounts:
        return services.job_store.counts(clock.now())

    observer = Observer(services.settings, job_counts, services.metrics, services.profiles.all)
    rows = AdminRows(services.store)
    admin = AdminApp(
        services.settings, services.jobs, services.licensing, guard, rows, services.profiles
    )
    return CoraOcrApp(services.settings, services.jobs, guard, rest, health, observer, admin)
