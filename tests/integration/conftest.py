"""The integration tier: real SQLite and PostgreSQL (every test that takes the `store` runs
on both) and the real OCR engine; the web app reached in-process (tests/support/inprocess.py); no
server or process of ours (tests/acceptance/ starts those)."""

from __future__ import annotations

from tests.support.inprocess import in_process_requests, live_server, running_service, strict  # noqa: F401  (fixtures)
