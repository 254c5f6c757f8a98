"""The ASMX face: the SOAP 1.1/1.2 and HTTP GET/POST bindings of the service at its one path,
its WSDL and help pages. Everything reusable (the WSDL, the Spyne application, the parser) is
built once, in __init__."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from cora_ocr.asmx import help as help_pages
from cora_ocr.asmx import http as http_binding
from cora_ocr.asmx.bindings import Bindings
from cora_ocr.asmx.envelope import SOAP11, SOAP12, SoapVersion
from cora_ocr.asmx.faults import soap_error
from cora_ocr.asmx.request import check_headers, route, split_envelope
from cora_ocr.asmx.wsdl import WsdlDocument
from cora_ocr.asmx.xmlparse import (
    ENCODINGS_ALLOWED,
    XmlLimits,
    charset_allowed,
    make_parser,
    parse_soap_body,
)
from cora_ocr.config import Settings
from cora_ocr.errors import ClientError, MalformedRequest, RequestTooLarge, UnsupportedMediaType
from cora_ocr.jobs import JobService
from cora_ocr.licensing import Principal
from cora_ocr.namespaces import HTTP_OPERATIONS, OPERATIONS, SERVICE_PATH
from cora_ocr.web import admission
from cora_ocr.web.faults import plain_error
from cora_ocr.web.observe import BINDING, OPERATION
from cora_ocr.web.proxy import is_local
from cora_ocr.web.response import TEXT_HTML, TEXT_XML, Response, parse_content_type, plain

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
FORM = "application/x-www-form-urlencoded"


class AsmxApp:
    def __init__(self, settings: Settings, jobs: JobService) -> None:
        self.settings = settings
        self.wsdl = WsdlDocument()
        self.bindings = Bindings(jobs)
        self.limits = XmlLimits(
            settings.max_xml_depth, settings.max_xml_elements, settings.max_xml_attributes
        )
        self.parser = make_parser()
        self._path = SERVICE_PATH.lower()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        return self.dispatch(environ).send(environ, start_response)

    def dispatch(self, environ: dict[str, Any]) -> Response:
        path: str = environ.get("PATH_INFO") or "/"
        # IIS matches the .asmx path without regard to case; method names are case-sensitive.
        if not path.lower().startswith(self._path):
            return plain(404, f"no service at {path}")
        rest = path[len(self._path) :]
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            if rest in ("", "/"):
                return self._service_root(environ, method)
            return self._http_operation(environ, method, rest.lstrip("/"))
        except Exception as exc:
            return plain_error(exc)

    # --- GET <path> (WSDL, help) and POST <path> (SOAP) -------------------------------
    def _service_root(self, environ: dict[str, Any], method: str) -> Response:
        if method in ("GET", "HEAD"):
            admission.service_pages(environ)
            query = {
                key.lower(): value
                for key, value in parse_qs(
                    environ.get("QUERY_STRING", ""), keep_blank_values=True
                ).items()
            }
            base = self.public_url(environ)
            if "wsdl" in query:
                return Response(200, TEXT_XML, self.wsdl.render(base))
            if "disco" in query:
                return Response(200, TEXT_XML, help_pages.disco(base))
            if "op" in query:
                local = is_local(environ)
                page = help_pages.operation_page(base, query["op"][0], local)
                if page is None:
                    return plain(500, f"op: {query['op'][0]!r} is not an operation of this service")
                return Response(200, TEXT_HTML, page)
            return Response(200, TEXT_HTML, help_pages.service_page(base))
        if method != "POST":
            return Response(
                405,
                "text/plain; charset=utf-8",
                f"{method} is not supported".encode(),
                [("Allow", "GET, HEAD, POST")],
            )
        return self._soap(environ)

    def _soap(self, environ: dict[str, Any]) -> Response:
        media, params = parse_content_type(environ.get("CONTENT_TYPE", ""))
        if media == "text/xml":
            version, action = SOAP11, environ.get("HTTP_SOAPACTION")
        elif media == "application/soap+xml":
            version, action = SOAP12, params.get("action")
        else:
            return plain_error(
                UnsupportedMediaType(
                    f"Content-Type: {media or '(none)'!r} cannot carry a SOAP message; "
                    "use text/xml (SOAP 1.1) or application/soap+xml (SOAP 1.2)"
                )
            )
        charset = params.get("charset", "").lower()
        try:
            if charset and not charset_allowed(charset):
                raise ClientError(
                    f"Content-Type: charset {charset!r} is not allowed; {ENCODINGS_ALLOWED}"
                )
            environ[BINDING] = "soap11" if version is SOAP11 else "soap12"
            principal = admission.caller(environ)
            body = self._soap_answer(environ, version, action, self.read_body(environ), principal)
            return Response(200, version.content_type, body)
        except Exception as exc:
            return soap_error(version, exc)

    def _soap_answer(
        self,
        environ: dict[str, Any],
        version: SoapVersion,
        action: str | None,
        body: bytes,
        principal: Principal | None,
    ) -> bytes:
        root = parse_soap_body(self.parser, body, self.limits)
        header, payload = split_envelope(version, root)
        check_headers(version, header)
        environ[OPERATION] = route(version, action, payload)
        return self.bindings.soap(version, header, payload, principal)

    # --- GET/POST <path>/GetStatus ----------------------------------------------------
    def _http_operation(self, environ: dict[str, Any], method: str, name: str) -> Response:
        if name not in HTTP_OPERATIONS:
            if name in OPERATIONS:
                raise ClientError(f"{name} is available over SOAP only, not over HTTP {method}")
            raise ClientError(
                f"Request format is unrecognized for URL unexpectedly ending in '/{name}'."
            )
        environ[BINDING] = "http-post" if method == "POST" else "http-get"
        environ[OPERATION] = name
        principal = admission.caller(environ)
        if method in ("GET", "HEAD"):
            params = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        elif method == "POST":
            media, _ = parse_content_type(environ.get("CONTENT_TYPE", ""))
            raw = self.read_body(environ)
            if media != FORM and (raw or media):
                raise ClientError(f"Request format is invalid: {media or '(none)'}; use {FORM}.")
            try:
                form = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ClientError("Request format is invalid: the form is not UTF-8.") from None
            params = parse_qs(form, keep_blank_values=True)
        else:
            raise ClientError(f"HTTP {method} is not supported for {name}")
        return Response(200, http_binding.CONTENT_TYPE, self.bindings.http(name, params, principal))

    # --- helpers ----------------------------------------------------------------------
    def read_body(self, environ: dict[str, Any]) -> bytes:
        limit = self.settings.max_request_bytes
        declared = environ.get("CONTENT_LENGTH") or ""
        if declared:
            try:
                length = int(declared)
            except ValueError:
                raise MalformedRequest(f"Content-Length: {declared!r} is not a number") from None
            if length > limit:
                raise RequestTooLarge(f"the request body of {length} bytes exceeds {limit} bytes")
            body: bytes = environ["wsgi.input"].read(length)
        else:
            body = environ["wsgi.input"].read(limit + 1)
        if len(body) > limit:
            raise RequestTooLarge(f"the request body exceeds {limit} bytes")
        return body

    def public_url(self, environ: dict[str, Any]) -> str:
        """The URL the caller used (a trusted proxy's, as web/proxy.py made it)."""
        scheme = environ.get("wsgi.url_scheme", "http")
        host = environ.get("HTTP_HOST") or (
            f"{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT', '80')}"
        )
        path = (
            environ.get("SCRIPT_NAME", "") + (environ.get("PATH_INFO") or "")[: len(SERVICE_PATH)]
        )
        return f"{scheme}://{host}{path}"
