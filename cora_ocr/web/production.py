"""`cora-ocr web`: the service under gunicorn, N processes, optionally serving TLS itself.

Each worker process builds its own engine and app after the fork (nothing is shared across
processes but the listening socket); the database is migrated once, by the master, before.
"""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from cora_ocr.config import Settings


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    options: dict[str, Any] = {
        "bind": f"[{settings.host}]:{settings.port}"
        if ":" in settings.host
        else f"{settings.host}:{settings.port}",
        "workers": settings.web_workers,
        "threads": settings.web_threads,
        "worker_class": "gthread" if settings.web_threads > 1 else "sync",
        "timeout": 60,
        "keepalive": 5,
        "limit_request_line": 8190,
        "limit_request_fields": 100,
        "limit_request_field_size": 8190,
        "forwarded_allow_ips": "",  # the app judges X-Forwarded-* itself (trusted_proxies)
        "proc_name": "cora-ocr-web",
        "accesslog": None,
    }
    if settings.tls_cert or settings.tls_key:
        options.update(certfile=str(settings.tls_cert), keyfile=str(settings.tls_key))
    return options


class WebServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.options = gunicorn_options(settings)
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from cora_ocr.services import build_services
        from cora_ocr.store import Store
        from cora_ocr.web.app import create_app

        store = Store(self.settings.effective_database_url)
        return create_app(build_services(self.settings, store))
