"""Raw sockets for the front-door tests: answers read as they come, bodies sent slowly."""

from __future__ import annotations

import socket
import ssl
import time

from tests.support.factories import SOAP11_CT, action
from tests.support.processes import SERVICE


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.") else 0


def read_answer(conn: socket.socket, timeout: float = 10) -> bytes:
    """Everything the server sends until it closes the connection (or the timeout)."""
    conn.settimeout(timeout)
    chunks = []
    try:
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    except (TimeoutError, ConnectionResetError):
        pass
    return b"".join(chunks)


def soap_head(length: int, extra: str = "") -> bytes:
    return (
        f"POST {SERVICE} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {SOAP11_CT}\r\n"
        f'SOAPAction: "{action("GetStatus").strip(chr(34))}"\r\n'
        f"Content-Length: {length}\r\n{extra}\r\n"
    ).encode()


class Trickler:
    """One connection sending `head` at once, then `pending` in pieces of `piece` bytes, one
    piece a step, until the server closes it; records when that happened and what it
    answered."""

    def __init__(self, conn: socket.socket, head: bytes, pending: bytes, piece: int) -> None:
        self.conn, self.pending, self.piece = conn, pending, piece
        self.opened = time.monotonic()
        self.closed_after: float | None = None
        self.answer = b""
        if head:
            conn.sendall(head)

    def step(self) -> None:
        if self.closed_after is not None:
            return
        try:
            if self.pending:
                self.conn.send(self.pending[: self.piece])
                self.pending = self.pending[self.piece :]
            self.conn.setblocking(False)
            try:
                data = self.conn.recv(65536)
            except (BlockingIOError, ssl.SSLWantReadError):
                return
            finally:
                self.conn.setblocking(True)
            self.answer += data
            if data:
                return
        except OSError:
            pass
        self.closed_after = time.monotonic() - self.opened
        self.conn.close()
