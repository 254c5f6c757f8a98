"""The embedded HTTP server (waitress): used by `cora-ocr serve` and by the tests."""

from __future__ import annotations

from typing import Any

from waitress.server import create_server


def make_server(app: Any, host: str, port: int, threads: int) -> Any:
    """A bound, not yet running server; port 0 picks a free port (see .effective_port)."""
    return create_server(
        app,
        host=host,
        port=port,
        threads=threads,
        ident="cora-ocr",
        clear_untrusted_proxy_headers=False,  # forwarded headers are judged by the app
        channel_timeout=60,
    )


def stop_server(server: Any) -> None:
    """Stop a running server from another thread: close the listener and every open
    keep-alive channel so that run() returns at its next loop turn."""
    server.close()
    for channel in list(server._map.values()):
        channel.close()
    server.task_dispatcher.shutdown(timeout=5)
