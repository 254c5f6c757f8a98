"""Requests through a trusted reverse proxy (`trusted_proxies`): the client's address, scheme
and host come from the proxy's X-Forwarded-For/-Proto/-Host by Werkzeug's ProxyFix, one hop
(the rightmost value: the one the proxy itself wrote, whether it sets or appends), and only
when the peer is a trusted proxy; from anyone else those headers mean nothing.

A request that came through a proxy is never local: whatever address it carries, its client
may be anywhere (a proxy on 127.0.0.1 made every Internet client look local)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.middleware.proxy_fix import ProxyFix

from cora_ocr.config import is_loopback

PROXIED = "cora_ocr.proxied"  # environ key: the request came through a trusted proxy

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class TrustedProxies:
    def __init__(self, app: WsgiApp, trusted: frozenset[str]) -> None:
        self.app = app
        self.trusted = trusted
        self.fixed = ProxyFix(app, x_for=1, x_proto=1, x_host=1)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("REMOTE_ADDR") in self.trusted:
            environ[PROXIED] = True
            return self.fixed(environ, start_response)
        return self.app(environ, start_response)


def is_local(environ: dict[str, Any]) -> bool:
    """A caller on this machine that came straight here, not through a proxy."""
    return not environ.get(PROXIED) and is_loopback(environ.get("REMOTE_ADDR", ""))


def as_forwarded(environ: dict[str, Any], trusted: frozenset[str]) -> dict[str, Any]:
    """`environ` as TrustedProxies hands it on (for a decision made outside the WSGI call:
    the front door's, from the headers alone)."""
    seen: list[dict[str, Any]] = []

    def keep(inner: dict[str, Any], _start_response: Callable[..., Any]) -> list[bytes]:
        seen.append(inner)
        return []

    TrustedProxies(keep, trusted)(dict(environ), lambda *_args: None)
    return seen[0]
