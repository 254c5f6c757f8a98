"""The HTTPS rule, credentials and quota as one layer of the middleware list (host/app.py): it
leaves in each request's environ the one way a face admits its caller, asked where the face
needs it and answered once per request, whoever asks again. The faces refuse in their own
shape (a SOAP fault, a problem document, a login page), so the layer decides and the face
answers: the ASMX face and REST never hold the Guard, nor know how a caller is judged."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from cora_ocr.licensing import Principal
from cora_ocr.web.guard import Guard
from cora_ocr.web.windows import REPLY

ADMISSION = "cora_ocr.admission"  # environ key: this request's Ticket

StartResponse = Callable[..., Any]
App = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class Admission:
    def __init__(self, guard: Guard) -> None:
        self.guard = guard

    def around(self, app: App) -> App:
        def admitted(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            environ[ADMISSION] = Ticket(self.guard, environ)
            if self.guard.windows is None:
                return app(environ, start_response)
            return app(environ, _with_reply(environ, start_response))

        return admitted


def _with_reply(environ: dict[str, Any], start_response: StartResponse) -> StartResponse:
    """The answer to a Kerberos caller carries the server's mutual-authentication token
    (WWW-Authenticate: Negotiate <token>), which clients such as requests-kerberos check."""

    def start(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
        reply = environ.get(REPLY)
        if reply and not status.startswith("401"):
            headers = [*headers, ("WWW-Authenticate", reply)]
        return start_response(status, headers, *args)

    return start


class Ticket:
    """One request's admission: judged the first time it is asked, remembered after."""

    __slots__ = ("_answers", "environ", "guard")

    def __init__(self, guard: Guard, environ: dict[str, Any]) -> None:
        self.guard, self.environ = guard, environ
        self._answers: dict[bool, tuple[Principal | None, Exception | None]] = {}

    def transport(self) -> None:
        """The HTTPS rule alone (pages that need no credentials: the WSDL, help, sign-in)."""
        self.guard.check_transport(self.environ)

    def caller(self, any_region: bool = False) -> Principal | None:
        """The HTTPS rule, then credentials and the request quota (counted once): the caller,
        None if anonymous, or the refusal raised."""
        answer = self._answers.get(any_region)
        if answer is None:
            try:
                answer = (self.guard.admit(self.environ, any_region), None)
            except Exception as exc:
                answer = (None, exc)
            self._answers[any_region] = answer
        principal, refused = answer
        if refused is not None:
            raise refused
        return principal


def caller(environ: dict[str, Any], any_region: bool = False) -> Principal | None:
    ticket: Ticket = environ[ADMISSION]
    return ticket.caller(any_region)


def transport(environ: dict[str, Any]) -> None:
    ticket: Ticket = environ[ADMISSION]
    ticket.transport()


def service_pages(environ: dict[str, Any]) -> None:
    """The WSDL and help pages: the HTTPS rule, and where Windows authentication is on, a
    caller too, as IIS protects the whole service (clients such as requests-kerberos expect
    the 401 first, and a page answered without it fails their mutual authentication)."""
    ticket: Ticket = environ[ADMISSION]
    ticket.transport()
    if ticket.guard.windows is not None:
        ticket.caller(any_region=True)
