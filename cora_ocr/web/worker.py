"""A gunicorn worker that serves with our waitress front (web/server.py).

gunicorn keeps what it is good at: the listening sockets, the worker processes (restarted if
they die or stop answering), signals and graceful reloads. Each worker runs waitress's event
loop on gunicorn's sockets instead of gunicorn's blocking request reading, so slow clients
wait on the loop, under the same deadlines and limits as `cora-ocr serve`, and never hold a
worker process or thread.
"""

from __future__ import annotations

import os
import ssl
import time
from typing import Any

from gunicorn.workers.base import Worker

from cora_ocr.config import load_settings
from cora_ocr.web.server import Deadlines, make_servers, run_once, stop_server


def tls_context(cert: Any, key: Any) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile=str(cert), keyfile=str(key))
    return context


class WaitressWorker(Worker):  # type: ignore[misc]
    def run(self) -> None:
        # `cora-ocr web` passes its settings; plain `gunicorn -k ...WaitressWorker` (the
        # benchmarks' ceiling) reads them from the environment.
        settings = getattr(self.app, "settings", None) or load_settings()
        tls = tls_context(settings.tls_cert, settings.tls_key) if settings.tls_cert else None
        servers = make_servers(
            self.wsgi,
            sockets=[listener.sock for listener in self.sockets],
            threads=settings.web_threads,
            max_body=settings.max_request_bytes,
            max_upload=settings.max_upload_bytes,
            deadlines=Deadlines.from_settings(settings),
            tls=tls,
            judge=getattr(self.wsgi, "judge_headers", None),
        )
        server = servers[0]
        beat = 0.0
        try:
            while self.alive:
                now = time.monotonic()
                if now - beat >= 1.0:  # the master kills a worker silent for `timeout`
                    self.notify()
                    beat = now
                    if self.ppid != os.getppid():
                        self.log.info("Parent changed, shutting down: %s", self)
                        break
                run_once(server, timeout=1.0)
            self._drain(servers)
        finally:
            stop_server(server, loop_running=False)

    def _drain(self, servers: list[Any]) -> None:
        """A graceful stop (SIGTERM, or a reload's old workers): no new connections, and the
        requests already read are answered and their answers sent, for up to gunicorn's
        graceful_timeout; then every connection is closed."""
        for listener in servers:
            listener.accepting = False  # its socket stays open in the master and the others
        deadline = time.monotonic() + self.cfg.graceful_timeout
        channels = servers[0].active_channels
        while time.monotonic() < deadline and any(
            channel.requests or channel.total_outbufs_len for channel in channels.values()
        ):
            self.notify()
            run_once(servers[0], timeout=0.1)
