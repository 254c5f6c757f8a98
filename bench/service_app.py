"""The service as a plain WSGI module, built from the settings in the environment
(CORA_OCR_*) exactly as `cora-ocr web` builds each of its processes (host/production.py), so
that bench/frontdoor.py and bench/serving.py can run the same app under other servers:
`gunicorn -k sync service_app:app`, `granian --interface wsgi service_app:app`."""

from __future__ import annotations

from cora_ocr.config import load_settings
from cora_ocr.host.production import WebServer

app = WebServer(load_settings()).load()
