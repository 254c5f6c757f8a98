"""The service as a plain WSGI module, built from the settings in the environment
(CORA_OCR_*), so that bench/frontdoor.py can run the same app under other servers:
`gunicorn -k sync service_app:app`, `granian --interface wsgi service_app:app`."""

from __future__ import annotations

from cora_ocr.config import load_settings
from cora_ocr.host.app import create_app
from cora_ocr.services import build_services
from cora_ocr.store import Store

_settings = load_settings()
app = create_app(build_services(_settings, Store(_settings.effective_database_url)))
