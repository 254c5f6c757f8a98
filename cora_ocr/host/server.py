"""`cora-ocr serve`'s own front door: waitress's asynchronous server, with deadlines of ours.
The one module that reaches into waitress's internals (`cora-ocr web` runs gunicorn's stock
workers behind nginx instead, host/production.py and host/nginx.py).

The embedded default must be safe on its own, with no proxy in front: waitress reads every
request, headers and body, on its event loop and hands it to a task thread only once it is
complete, so a slow or stalled client never holds a Python thread. What waitress lacks, added
here through its parser, channel and server classes:

- Deadlines (Apache mod_reqtimeout's model): a connection's first request must finish its
  headers within `header_timeout` of connecting, a later request within `header_timeout` of
  its first byte; a body within `body_timeout` of the end of its headers, extended by one
  second for every `body_min_rate` bytes received, and never past `body_max_seconds`. A
  client past its deadline gets 408 and is closed.
- Body limits that hold at the door: a Content-Length over the limit is refused with 413
  without reading the body, `Expect: 100-continue` included (no "100 Continue" is sent);
  a chunk announcing more than the limit is refused as soon as its size line arrives; a body
  of exactly the limit is accepted (waitress refuses at the limit itself).
- Connections per client address, and the door (host/door.py) asked as headers complete.
- The connection itself, in each request's environ (web/windows.py's Connection under
  CONNECTION): NTLM's handshake takes two requests on one connection.

Written against waitress 3.0 (WAITRESS below; setup.cfg pins >=3.0,<4). What it relies on,
each tested in tests/unit/test_waitress_adapter.py so that an upgrade that changes one fails there
first: HTTPRequestParser.received() returns the bytes consumed and sets headers_finished,
command, path, headers, content_length, chunked, expect_continue, body_rcv (with
chunk_remainder for chunked bodies), error and completed; an `Error` subclass in `error` is
answered by waitress's ErrorTask through to_response(); HTTPChannel has parser_class,
request, requests, last_activity, creation_time (wall clock), addr, will_close; the server
calls maintenance(now) every `cleanup_interval` seconds and keeps active_channels;
HTTPChannel.task_class makes each request's task and error_task_class an error's (ErrorTask:
status, response_headers, content_length, write), WSGITask.get_environment() builds (and
keeps) its environ.
"""

from __future__ import annotations

import functools
import logging
import socket
import time
from http import HTTPStatus
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher, WSGITask
from waitress.utilities import Error, RequestEntityTooLarge

from cora_ocr.host.deadlines import Deadlines
from cora_ocr.host.door import Leg
from cora_ocr.web.windows import CONNECTION, Connection

__all__ = ["Deadlines", "make_server", "stop_server"]
DEFAULT_DEADLINES = Deadlines()

log = logging.getLogger(__name__)
WAITRESS = (3, 0)  # the release this adapter was written and tested against
LINGER_SECONDS = 2.0
UPLOAD_PATH = "/api/v1/jobs"  # POSTed documents: max_upload instead of max_body
DOOR_FROM = 64 * 1024  # bodies larger than this are judged from their headers (host/door.py)


class _Refused(Error):  # type: ignore[misc]
    """A request refused from its headers (host/door.py): its answer, made by the app's rules,
    sent by waitress's error task as it is."""

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        super().__init__("")
        self.code, self.answer = status, (headers, body)

    def to_response(self, ident: Any = None) -> tuple[str, list[tuple[str, str]], bytes]:
        headers, body = self.answer
        kept = [(k, v) for k, v in headers if k.lower() not in ("content-length", "connection")]
        return f"{self.code} {HTTPStatus(self.code).phrase}", kept, body


class _Leg(_Refused):
    """A handshake's next step answered from the headers (host/door.py: Leg): the answer goes
    out and the connection stays open for the next leg; the body was never asked for."""


class _ErrorTask(ErrorTask):  # type: ignore[misc]
    """Waitress's error task; a handshake's leg keeps its connection (no Connection: close)."""

    def execute(self) -> None:
        error = self.request.error
        if not isinstance(error, _Leg):
            super().execute()
            return
        status, headers, body = error.to_response()
        self.status = status
        self.response_headers.extend(headers)
        self.content_length = len(body)
        self.write(body)


class _Parser(HTTPRequestParser):  # type: ignore[misc]
    """Waitress's parser, timing the request, refusing oversized bodies at once, and asking
    the door (`judge`, host/door.py) about a request as soon as its headers are in."""

    max_body = 4 << 20  # set per server (make_servers)
    max_upload = 100 << 20  # the REST face's document uploads (UPLOAD_PATH)
    judge: Any = None  # (method, path, headers, peer, scheme) -> (status, headers, body) | None
    headers_at = 0.0
    error: Any = None  # as in the base class, typed
    completed = False

    def __init__(self, adj: Any, peer: str = "", connection: Connection | None = None) -> None:
        super().__init__(adj)
        self.started = time.monotonic()
        self.peer = peer
        self.connection = connection

    def received(self, data: bytes) -> int:
        headers_done = self.headers_finished
        consumed: int = super().received(data)
        if not headers_done and self.headers_finished:
            self.headers_at = time.monotonic()
            path = getattr(self, "path", "")  # absent when the request line was refused
            if getattr(self, "command", "") == "POST" and path.rstrip("/") == UPLOAD_PATH:
                self.max_body = self.max_upload  # this request's limit: a document upload
            if self.error is None and self.content_length > self.max_body:
                self._refuse(f"Content-Length {self.content_length} exceeds")
            if self.error is None and self.judge is not None and self._body_worth_judging():
                self._ask_the_door(path)
        elif (
            self.chunked
            and self.error is None
            and not self.completed
            and len(self.body_rcv) + self.body_rcv.chunk_remainder > self.max_body
        ):
            # A chunk size line promising more than the limit: refuse now, not after waiting
            # for bytes that would be refused anyway.
            self._refuse("a chunk exceeds")
        if self.error is not None:
            # Refused at the headers: the client must not be told to go on sending the body.
            self.expect_continue = False
        return consumed

    def _body_worth_judging(self) -> bool:
        """A body that may be large, or that waits for "100 Continue": judged from the
        headers first. A small one (a GetStatus, 600 bytes) came with its headers anyway; the
        app judges it as before, and the loop saves the door's 4-8 µs (measured)."""
        return bool(self.expect_continue or self.chunked or self.content_length > DOOR_FROM)

    def _ask_the_door(self, path: str) -> None:
        verdict = self.judge(
            getattr(self, "command", ""),
            path,
            self.headers,
            self.peer,
            self.adj.url_scheme,
            self.connection,
        )
        if isinstance(verdict, Leg):
            self.error = _Leg(*verdict)
            self.content_length = 0  # never asked for: the next bytes are the next request
            self.completed = True
        elif verdict is not None:
            self.error = _Refused(*verdict)
            self.completed = True  # the body is never read: the answer closes the connection

    def _refuse(self, what: str) -> None:
        self.error = RequestEntityTooLarge(f"{what} the limit of {self.max_body} bytes")
        self.completed = True


class _Task(WSGITask):  # type: ignore[misc]
    """Waitress's task, handing the app the connection its request came on."""

    def get_environment(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environment()
        environ[CONNECTION] = self.channel.connection
        return environ


class _Channel(HTTPChannel):  # type: ignore[misc]
    """Waitress's channel, judged by the server's maintenance (once a second). It overrides
    none of the methods the loop calls on every channel at every turn (readable, writable,
    handle_read): waitress's loop asks every open connection at every turn, so its cost per
    request grows with the connections a process holds, and measured, a thin Python override
    there made a single process several times slower under 64 connections."""

    parser_class = _Parser
    task_class = _Task
    error_task_class = _ErrorTask

    def __init__(self, server: Any, sock: Any, addr: Any, adj: Any, map: Any = None) -> None:
        super().__init__(server, sock, addr, adj, map)
        peer = addr[0] if addr else ""
        self.connection = Connection()  # what this connection keeps between its requests
        # Each request's parser knows the peer and the connection, for the door's judgement
        # of its headers.
        parser = functools.partial(type(self).parser_class, peer=peer, connection=self.connection)
        self.parser_class = parser  # type: ignore[assignment]
        # One address may hold its share of the connections, not all of them (the others
        # would wait in the backlog, /healthz included): past it, closed at once, unread.
        if peer in server.deadlines.proxies:
            return  # a trusted proxy carries every client: it limits them itself
        open_now = sum(
            1
            for channel in server.active_channels.values()
            if channel.addr and channel.addr[0] == peer
        )
        if open_now > server.deadlines.per_client:
            log.warning(
                "refused a connection from %s: %d open already (max_connections_per_client)",
                peer,
                open_now - 1,
            )
            self.handle_close()

    @property
    def begun(self) -> bool:
        """Has any byte of a request arrived? (Reading sets last_activity.)"""
        return bool(self.last_activity != self.creation_time)

    def overdue(self, now: float, deadlines: Deadlines) -> str | None:
        """Why this connection is past its deadline, or None."""
        if self.requests:
            return None  # a request is being served: the client is not the one waiting
        request = self.request
        if request is None:
            # creation_time is waitress's, by the wall clock
            if not self.begun and time.time() > self.creation_time + deadlines.header_timeout:
                return f"no request within {deadlines.header_timeout:g} s of connecting"
            return None
        if not request.headers_finished:
            if now > request.started + deadlines.header_timeout:
                return f"request headers not complete within {deadlines.header_timeout:g} s"
            return None
        allowed = deadlines.body_timeout
        if deadlines.body_min_rate:
            allowed += request.body_bytes_received / deadlines.body_min_rate
        allowed = min(allowed, deadlines.body_max_seconds)
        if now > request.headers_at + allowed:
            return (
                f"request body not complete within {allowed:.0f} s "
                f"({request.body_bytes_received} bytes received)"
            )
        return None

    def cut(self, reason: str) -> None:
        """408 and close, from the event loop's thread. Closing a socket with unread bytes
        resets the connection, which can destroy the 408 before the client reads it: the
        sending side is shut first and what still arrives is read and dropped, for up to
        LINGER_SECONDS (Apache's lingering close)."""
        peer = self.addr[0] if self.addr else "?"
        log.info("closed a slow connection from %s: %s", peer, reason)
        if not self.begun:
            self.will_close = True  # closed by the loop (not here: it may be polling it)
            return
        body = f"Request Timeout: {reason}\n".encode()
        head = (
            "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        try:
            self.socket.send(head.encode() + body)
            self.socket.shutdown(socket.SHUT_WR)
        except (OSError, ValueError):
            self.will_close = True
            return
        self.request = None
        self.lingering_since = time.monotonic()
        # From now on this one channel only drains: its own methods, set on the instance,
        # so that no other channel pays for the check.
        self.readable = lambda: True
        self.writable = lambda: bool(self.will_close)  # only to be closed by handle_write
        self.handle_read = self._drain

    lingering_since: float | None = None

    def _drain(self) -> None:
        try:
            data = self.socket.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.handle_close()


class _Server(TcpWSGIServer):  # type: ignore[misc]
    channel_class = _Channel
    deadlines = DEFAULT_DEADLINES

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # idle kept-alive connections (channel_timeout)
        clock = time.monotonic()
        for channel in list(self.active_channels.values()):
            # Channels are closed by the loop, through will_close: this runs while it polls.
            if channel.lingering_since is not None:
                if clock > channel.lingering_since + LINGER_SECONDS:
                    channel.will_close = True
                continue
            reason = channel.overdue(clock, self.deadlines)
            if reason is not None:
                channel.cut(reason)


def make_server(
    app: Any,
    host: str,
    port: int,
    threads: int,
    max_body: int = 4 << 20,
    deadlines: Deadlines = DEFAULT_DEADLINES,
    max_upload: int = 100 << 20,
) -> Any:
    """One bound, not yet running server (port 0 picks a free port, see .effective_port); the
    app's own door (`judge_headers`), if it has one, judges each request's headers."""
    judge = getattr(app, "judge_headers", None)
    adj = Adjustments(
        ident="cora-ocr",
        threads=threads,
        clear_untrusted_proxy_headers=False,  # forwarded headers are judged by the app
        channel_timeout=deadlines.idle_timeout,
        cleanup_interval=1,  # how often deadlines are looked at (seconds)
        # waitress counts its own listener and trigger too
        connection_limit=deadlines.max_connections + 2,
        # The body limit is the parser's (max_body, exact); waitress's own limit counts
        # chunk framing too, so it only backs it up, with room for the framing.
        max_request_body_size=2 * max(max_body, max_upload) + 65536,
    )
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(threads)
    parser = type(
        "CoraParser",
        (_Parser,),
        {
            "max_body": max_body,
            "max_upload": max_upload,
            "judge": staticmethod(judge) if judge else None,
        },
    )
    channel = type("CoraChannel", (_Channel,), {"parser_class": parser})
    server_class = type(
        "CoraServer", (_Server,), {"deadlines": deadlines, "channel_class": channel}
    )
    sockinfo = (_family(host), 1, 6, (host.strip("[]"), port))
    return server_class(app, sockinfo=sockinfo, map={}, dispatcher=dispatcher, adj=adj)


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


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
        try:
            server.trigger.pull_trigger(lambda: _close_all(server))
        except OSError as exc:
            # Seen in the test suite about once in five runs, in-process servers only: the
            # trigger's pipe was closed under it by something in the process not yet found.
            # The loop cannot be woken; close from here (it ends on the closed descriptors).
            log.warning("the server's trigger is unusable (%s); closing from this thread", exc)
            _close_all(server)
    else:
        _close_all(server)
        server.task_dispatcher.shutdown(timeout=5)
