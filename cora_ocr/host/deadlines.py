"""How long a client may take to send a request to `serve`'s own server (host/server.py), and
how many connections it may hold: Apache mod_reqtimeout's model, from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Deadlines:
    """How long a client may take to send a request (see the module's docstring)."""

    header_timeout: float = 20.0
    body_timeout: float = 20.0
    body_min_rate: int = 500  # bytes per second that extend the body deadline; 0: none
    idle_timeout: float = 15.0  # a kept-alive connection with no request under way
    max_connections: int = 1000  # per process; past it, new connections wait in the backlog
    body_max_seconds: float = 300.0  # the body's deadline, however fast it comes: a cap
    per_client: int = 100  # open connections from one address; past it, closed at once
    proxies: frozenset[str] = frozenset()  # trusted proxies: every client's address, no cap

    @classmethod
    def from_settings(cls, settings: Any) -> Deadlines:
        return cls(
            settings.header_timeout,
            settings.body_timeout,
            settings.body_min_rate,
            settings.idle_timeout,
            settings.max_connections,
            settings.body_max_seconds,
            settings.max_connections_per_client,
            settings.trusted_proxies,
        )
