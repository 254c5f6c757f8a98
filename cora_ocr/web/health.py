"""GET /healthz (the process answers) and GET /readyz (it can do its work): JSON, no
credentials, no request body, nothing from the SOAP path.

Ready means: the database answers, its migrations are at this code's head, and no profile's
built-in robot has gone quiet. A built-in robot writes a heartbeat into its profile's output
folder every few seconds (robot/hotfolder.py); a heartbeat older than ROBOT_SEEN_SECONDS means
the robot stopped (not ready), none at all means the profile is served by an external robot
or none yet: "unknown", which does not make the service unready.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from alembic.script import ScriptDirectory

from cora_ocr.outages import describe
from cora_ocr.profiles import Profiles
from cora_ocr.store import Store
from cora_ocr.store.migrate import alembic_config
from cora_ocr.web.response import Response

log = logging.getLogger(__name__)

JSON = "application/json"
ROBOT_SEEN_SECONDS = 30.0
PATHS = frozenset({"/healthz", "/readyz"})


class Health:
    def __init__(self, store: Store, profiles: Profiles) -> None:
        self.store = store
        self.profiles = profiles
        self.head = ScriptDirectory.from_config(alembic_config(store.engine)).get_current_head()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            response = self.answer(environ.get("PATH_INFO") or "")
        else:
            response = Response(
                405, "text/plain; charset=utf-8", b"GET or HEAD\n", [("Allow", "GET, HEAD")]
            )
        return response.send(environ, start_response)

    def answer(self, path: str) -> Response:
        if path == "/healthz":
            return _json(200, {"status": "ok"})
        checks = self.checks()
        ready = (
            checks["database"] == "ok"
            and checks["migrations"] == "at head"
            and not any(robot["state"] == "stale" for robot in checks["robots"].values())
        )
        return _json(200 if ready else 503, {"status": "ready" if ready else "not ready", **checks})

    def checks(self) -> dict[str, Any]:
        found: dict[str, Any] = {"database": "ok", "migrations": "unknown"}
        try:
            current = self.store.schema_revision()
        except Exception as exc:  # any failure to reach it is the answer
            # Why, with the server's name and address, goes to the log, not to the caller.
            log.warning("readiness: the database is unreachable: %s", describe(exc))
            found["database"] = "unreachable"
        else:
            found["migrations"] = (
                "at head" if current == self.head else f"at {current}, this code needs {self.head}"
            )
        found["robots"] = {
            profile.name: _robot(profile.heartbeat_path()) for profile in self.profiles.all()
        }
        return found


def _robot(heartbeat: Any) -> dict[str, Any]:
    try:
        age = max(0.0, time.time() - heartbeat.stat().st_mtime)
    except OSError:
        return {"state": "unknown"}
    state = "seen" if age <= ROBOT_SEEN_SECONDS else "stale"
    return {"state": state, "secondsSinceSeen": round(age, 1)}


def _json(status: int, document: dict[str, Any]) -> Response:
    return Response(status, JSON, json.dumps(document).encode(), [("Cache-Control", "no-store")])
