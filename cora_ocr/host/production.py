"""`cora-ocr web`: the service under a stock server's own worker processes, behind nginx.

nginx (`cora-ocr nginx-config`) takes TLS, slow clients, body sizes, connection limits and
uploads refused from their headers; the web processes see only whole requests. The server is
the `web_server` setting, each driven through its public options: gunicorn (its stock `sync`
worker, one request at a time a process; `gthread` when `web_threads` is over 1) or granian
(HTTP/1.1 in Rust, `web_threads` Python threads a process).
Measured side by side behind the same nginx (docs/performance/).

Each worker process builds its own engine and app after the fork (nothing is shared across
processes but the listening socket); the database is migrated once, by the master, before.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import stat
from pathlib import Path
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


# Linux 5.14+: a listening socket that closes hands the connections queued at it to another
# of its SO_REUSEPORT group instead of resetting them.
MIGRATE_REQ = Path("/proc/sys/net/ipv4/tcp_migrate_req")


def reload_caveat(settings: Settings, migrate_req: Path = MIGRATE_REQ) -> str | None:
    """Why a reload could lose calls on these settings, or None. granian on TCP gives each
    process a listening socket of its own (SO_REUSEPORT); a process retiring at a reload
    closes its socket, and the kernel resets the connections queued at it (nginx answers
    502) unless net.ipv4.tcp_migrate_req is 1. On `web_socket` the processes share one
    socket, bound by granian's main process, and its queue: nothing is reset; gunicorn
    shares its one socket either way."""
    if settings.web_server != "granian" or settings.web_socket:
        return None
    try:
        if migrate_req.read_text("ascii").strip() == "1":
            return None
    except OSError:
        pass  # not Linux, or a kernel without the setting
    return (
        "web_server granian on TCP: each web process listens on a socket of its own, and a "
        "reload (SIGHUP) resets the connections queued at a retiring one (502 through nginx); "
        "set web_socket (one socket the processes share; deploy/cora-ocr.toml does), or "
        "sysctl net.ipv4.tcp_migrate_req=1 (Linux 5.14+) to have the kernel hand them on"
    )


def clear_stale_socket(path: Path) -> None:
    """The socket file a killed `web` left behind (a clean stop removes its own), removed so
    that the new one can bind. A file that is no socket, or a socket something still
    answers on, is left alone: the bind then fails and says why."""
    try:
        if not stat.S_ISSOCK(path.lstat().st_mode):
            return
    except FileNotFoundError:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except ConnectionRefusedError:
            pass  # nobody listens: stale
        except OSError:
            return
        else:
            return  # another web answers there
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


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

    def run(self) -> None:
        if self.settings.web_server == "granian":
            import cora_ocr.host.app  # noqa: F401  (imported once, before the processes fork)

            granian_server(self.settings).serve(target_loader=self._load_in_worker)
        else:
            super().run()

    def _load_in_worker(self, _target: str) -> Any:
        """The app, built in a granian worker process. granian takes the process's signals
        only once the app is built: a stop that comes before (the process started a moment
        ago) ends it at once, with nothing served yet, instead of going unheard until the
        kill timeout."""
        for stop in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stop, lambda *_: os._exit(0))
        return self.load()


def granian_server(settings: Settings) -> Any:
    """granian on the settings, through its public constructor: the same processes, socket,
    certificate and deadlines as gunicorn's (a worker process that dies is started again;
    SIGHUP replaces the processes one by one, SIGTERM lets them finish what they hold)."""
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server import Server

    options: dict[str, Any] = {
        "interface": Interfaces.WSGI,
        "workers": settings.web_workers,
        "blocking_threads": settings.web_threads,
        "http": HTTPModes.http1,
        "websockets": False,
        "http1_settings": HTTP1Settings(header_read_timeout=int(settings.header_timeout * 1000)),
        "respawn_failed_workers": True,
        "workers_kill_timeout": 30,  # as gunicorn's graceful_timeout
        "log_level": LogLevels.warning,
        "log_access": False,  # ours: one line per request (web/observe.py)
    }
    if settings.web_socket:
        options.update(uds=settings.web_socket, uds_permissions=0o770)
    else:
        options.update(address=settings.host, port=settings.port)
    if settings.tls_cert:
        options.update(ssl_cert=settings.tls_cert, ssl_key=settings.tls_key)
    return Server("cora_ocr.host.production:WebServer", **options)
