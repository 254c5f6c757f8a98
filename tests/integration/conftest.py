"""The integration tier: real SQLite and PostgreSQL (every test that takes the `store` runs
on both), the web app reached in-process (tests/inprocess.py), no server of ours and no
child process."""

from __future__ import annotations

from tests.inprocess import http, live_server, strict, zeep_client  # noqa: F401  (fixtures)
