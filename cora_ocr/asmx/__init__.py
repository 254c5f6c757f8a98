"""The ASMX face: `coraOcrIntegration_v1.0.0.asmx` whole. Where GetStatus is: face.py (the WSGI
face: WSDL, help pages, SOAP and HTTP GET/POST), service.py (the operations), bindings.py
(Spyne's application and its four bindings), envelope.py (the ASMX-shaped envelopes and
faults), request.py (what a request may hold), xmlparse.py (the hardened parser), types.py
(Spyne types named as the WSDL)."""

from cora_ocr.asmx import compat  # noqa: F401  (before any Spyne import: Python 3.12+)
