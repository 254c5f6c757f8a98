"""GET /healthz (the process answers) and GET /readyz (it can do its work): JSON, no
credentials, no request body, nothing from the SOAP path.

Ready means: the database answers, its migrations are at this code's head, and every
profile's robot reads its folders (robot_watch.py): a built-in robot last seen longer than
ROBOT_SEEN_SECONDS ago has stopped ("stale"), and a profile whose documents wait past its claim
timeout with no robot reading them is "silent", named with how many wait; both make the
service unready. A profile never seen with nothing waiting (an external robot, or none yet) is
"unknown", which does not.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from alembic.script import ScriptDirectory

from cora_ocr.outages import describe
from cora_ocr.profiles import Profiles
from cora_ocr.robot_watch import watch
from cora_ocr.store import Store
from cora_ocr.store.migrate import alembic_config
from cora_ocr.web.response import Response

log = logging.getLogger(__name__)

JSON = "application/json"
PATHS = frozenset({"/healthz", "/readyz"})
NOT_READY = ("stale", "silent")


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
            and not any(robot["state"] in NOT_READY for robot in checks["robots"].values())
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
        now = time.time()
        found["robots"] = {
            profile.name: watch(profile, now).document() for profile in self.profiles.all()
        }
        return found


def _json(status: int, document: dict[str, Any]) -> Response:
    return Response(status, JSON, json.dumps(document).encode(), [("Cache-Control", "no-store")])
