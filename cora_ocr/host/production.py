"""`cora-ocr web`: the service under gunicorn's own workers, behind nginx.

nginx (`cora-ocr nginx-config`) takes TLS, slow clients, body sizes, connection limits and
uploads refused from their headers; gunicorn's processes see only whole requests, one at a time
each (its stock `sync` worker; `gthread` when `web_threads` is over 1). Chosen by measurement
(docs/performance/): at 16 processes the sync workers answered SOAP 2.6x what waitress's
loop with 4 task threads did, and FileBatch on SQLite never collapsed under writer threads.

Each worker process builds its own engine and app after the fork (nothing is shared across
processes but the listening socket); the database is migrated once, by the master, before.
"""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from cora_ocr.config import Settings


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    bind = f"unix:{settings.web_socket}" if settings.web_socket else f"{host}:{settings.port}"
    options: dict[str, Any] = {
        "bind": bind,
        # A socket file nginx reaches through its group (docs/guides/production.md).
        "umask": 0o007,
        "workers": settings.web_workers,
        "worker_class": "gthread" if settings.web_threads > 1 else "sync",
        "threads": settings.web_threads,
        # A request the app has not answered in this long: its process is killed and replaced
        # (the absolute deadline of a request once nginx has handed it on whole).
        "timeout": 60,
        "graceful_timeout": 30,
        # X-Forwarded-* are the app's to judge, from `trusted_proxies` only (web/proxy.py):
        # gunicorn's own reading of them (for 127.0.0.1 by default) is off.
        "forwarded_allow_ips": "",
        "secure_scheme_headers": {},
        "proc_name": "cora-ocr-web",
        "accesslog": None,  # ours: one line per request, with binding, operation and license
        "child_exit": _child_exit,
    }
    if settings.tls_cert:  # HTTPS without a proxy (a small site); nginx is the usual front
        options.update(certfile=str(settings.tls_cert), keyfile=str(settings.tls_key))
    return options


def _child_exit(_server: Any, worker: Any) -> None:
    """A web process ended: its live metric values go with it."""
    from cora_ocr.metrics import process_gone

    process_gone(worker.pid)


class WebServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.options = gunicorn_options(settings)
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from cora_ocr.host.app import create_app
        from cora_ocr.services import build_services

        return create_app(build_services(self.settings))
