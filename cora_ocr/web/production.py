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
        # Requests are read and served by waitress in each process (web/worker.py): the
        # request limits, deadlines, threads and TLS are the worker's, from the settings.
        "worker_class": "cora_ocr.web.worker.WaitressWorker",
        "timeout": 60,
        "proc_name": "cora-ocr-web",
        "accesslog": None,  # ours: one line per request, with binding, operation and license
        "child_exit": _child_exit,
    }
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
        from cora_ocr.services import build_services
        from cora_ocr.store import Store
        from cora_ocr.web.app import create_app

        store = Store(self.settings.effective_database_url)
        return create_app(build_services(self.settings, store))
