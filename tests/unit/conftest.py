"""The unit tier: no socket, no child process, no database server. Every test here runs on
SQLite and, where it needs the web app, reaches it in-process (tests/support/inprocess.py: requests
and zeep through Werkzeug's test Client); a test that opens a socket or starts a process
fails at once (the guard below, as zeep's own `no_requests` fixture does), and belongs in
tests/integration/ or tests/acceptance/."""

from __future__ import annotations

import ipaddress
import socket
import subprocess
from typing import Any

import pytest

from tests.support.inprocess import in_process_requests, live_server, running_service, strict  # noqa: F401  (fixtures)


class NoSockets(AssertionError):
    """A unit test tried to reach the network or start a process."""


@pytest.fixture(autouse=True)
def no_sockets_or_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise NoSockets("a unit test may open no socket and start no process")

    for name in ("connect", "connect_ex", "bind", "listen"):
        monkeypatch.setattr(socket.socket, name, refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    resolve = socket.getaddrinfo

    def numeric_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        """Parsing an address (waitress's settings do) asks no one; a name would."""
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise NoSockets(f"a unit test may resolve no name ({host!r})") from None
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", numeric_only)
    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
