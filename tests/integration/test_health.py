"""GET /healthz and /readyz (issue 16, first part), against running servers: no credentials
needed even where every other call needs them; ready only with the database reachable, its
migrations at head and no profile's built-in robot gone quiet."""

from __future__ import annotations

import os
import time
from pathlib import Path

import requests

from cora_ocr.robot.hotfolder import Robot
from cora_ocr.robot_watch import ROBOT_SEEN_SECONDS
from cora_ocr.store import Store
from cora_ocr.store.migrate import upgrade
from tests.conftest import RunService, Strict
from tests.support.processes import free_port


def base_of(url: str) -> str:
    return url.split("/SequenceServices/")[0]


def test_healthz_answers_without_credentials(strict: Strict) -> None:
    reply = requests.get(base_of(strict.url) + "/healthz", timeout=10)
    assert reply.status_code == 200 and reply.json() == {"status": "ok"}
    assert reply.headers["Content-Type"] == "application/json"
    posted = requests.post(base_of(strict.url) + "/healthz", timeout=10)
    assert posted.status_code == 405 and posted.headers["Allow"] == "GET, HEAD"


def test_readyz_follows_the_built_in_robots_heartbeat(strict: Strict) -> None:
    url = base_of(strict.url) + "/readyz"
    profile = strict.services.profiles.get("Default")
    assert profile is not None
    strict.services.profiles.ensure_folders()
    profile.heartbeat_path().unlink(missing_ok=True)
    unknown = requests.get(url, timeout=10)
    assert unknown.status_code == 200, unknown.text
    document = unknown.json()
    assert (document["status"], document["database"], document["migrations"]) == (
        "ready",
        "ok",
        "at head",
    )
    assert document["robots"]["Default"] == {"state": "unknown"}  # an external robot, or none

    Robot(profile).run(burst=True)  # the built-in robot: beats, finds nothing to do
    seen = requests.get(url, timeout=10).json()
    assert seen["robots"]["Default"]["state"] == "seen"

    old = time.time() - ROBOT_SEEN_SECONDS - 5
    os.utime(profile.heartbeat_path(), (old, old))
    stale = requests.get(url, timeout=10)
    assert stale.status_code == 503
    assert stale.json()["status"] == "not ready"
    assert stale.json()["robots"]["Default"]["state"] == "stale"
    profile.heartbeat_path().unlink()


def test_readyz_is_not_ready_without_the_database_or_behind_on_migrations(
    running_service: RunService, tmp_path: Path
) -> None:
    unreachable = tmp_path / "missing" / "folder" / "cora.db"
    behind = Store(f"sqlite:///{tmp_path / 'behind.db'}")
    upgrade(behind.engine, "0006")
    closed = free_port()  # a PostgreSQL server that is not there: its host is not told
    for store, says in (
        (Store(f"sqlite:///{unreachable}"), ("database", "unreachable")),
        (Store(f"postgresql+psycopg://cora@localhost:{closed}/x"), ("database", "unreachable")),
        (behind, ("migrations", "at 0006, this code needs")),
    ):
        running = running_service(store=store, data_dir=tmp_path / "data")
        try:
            reply = requests.get(running.base + "/readyz", timeout=10)
            assert reply.status_code == 503, reply.text
            field, text = says
            assert reply.json()[field].startswith(text), reply.json()
            assert "localhost" not in reply.text and str(closed) not in reply.text
            assert str(tmp_path) not in reply.text
        finally:
            running.stop()
            store.dispose()
