"""How the WSGI application is put together: a mount table of faces, wrapped in a list of
middleware, as Werkzeug's DispatcherMiddleware and starlette's build_middleware_stack do.

Each face (the ASMX service, REST, the jobs page, health, metrics, the door) is a WSGI app of
its own that knows nothing of the others or of the host; each concern that applies to every
request (the client as a trusted proxy forwards it; the access log and metrics) is a wrapper,
called once per request, in the order the list gives."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from cora_ocr.web.response import plain

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Middleware = Callable[[WsgiApp], WsgiApp]


class Mounts:
    """The face for a request's path: an exact path, or a prefix followed by "/" or nothing;
    matched without regard to case where the mount says so (IIS's .asmx path). The face sees
    the whole path (PATH_INFO is left as it came)."""

    def __init__(
        self, mounts: Mapping[str, WsgiApp], caseless: Iterable[str] = (), exact: Iterable[str] = ()
    ) -> None:
        self.mounts = dict(mounts)
        self.caseless = {path.lower(): self.mounts[path] for path in caseless}
        self.exact = frozenset(exact)
        self.prefixes = sorted(
            (path for path in self.mounts if path not in self.exact and path not in caseless),
            key=len,
            reverse=True,
        )

    def face(self, path: str) -> WsgiApp | None:
        for mount, app in self.caseless.items():
            if path.lower().startswith(mount):
                return app
        if path in self.exact:
            return self.mounts[path]
        for prefix in self.prefixes:
            if path == prefix or path.startswith(prefix + "/"):
                return self.mounts[prefix]
        return None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        app = self.face(path)
        if app is None:
            response = plain(404, f"no service at {path}")
            start_response(response.status_line, response.header_list())
            return [response.body]
        return app(environ, start_response)


def build_stack(app: WsgiApp, middleware: Sequence[Middleware]) -> WsgiApp:
    """`middleware[0]` sees a request first, the last one just before `app`."""
    for wrap in reversed(middleware):
        app = wrap(app)
    return app
