"""The embedded HTTP server (waitress): used by `cora-ocr serve` and by the tests."""

from __future__ import annotations

from typing import Any

from waitress.server import create_server


def make_server(app: Any, host: str, port: int, threads: int, max_body: int = 4 << 20) -> Any:
    """A bound, not yet running server; port 0 picks a free port (see .effective_port)."""
    return create_server(
        app,
        host=host,
        port=port,
        threads=threads,
        ident="cora-ocr",
        clear_untrusted_proxy_headers=False,  # forwarded headers are judged by the app
        channel_timeout=60,
        # Bodies over the limit are refused (413) before they are buffered to disk.
        max_request_body_size=max_body,
    )


def _close_all(server: Any) -> None:
    for channel in list(server._map.values()):
        channel.close()  # the listener, every keep-alive channel and the trigger


def stop_server(server: Any, *, loop_running: bool) -> None:
    """Stop a server. With its loop running in another thread, the task threads go first,
    while the loop still runs: a task that finishes pulls the loop's trigger to have its
    answer written, and a trigger pulled after it was closed writes to a closed descriptor,
    or to whatever pipe has since been given that number (waitress#468). Then the closing is
    handed to the loop's thread (asyncore is not thread-safe), and run() returns once the map
    is empty. With the loop stopped, nothing would write a task's answer: the channels are
    closed first, which ends any task waiting to write."""
    if loop_running:
        server.task_dispatcher.shutdown(timeout=5)
        server.trigger.pull_trigger(lambda: _close_all(server))
    else:
        _close_all(server)
        server.task_dispatcher.shutdown(timeout=5)
