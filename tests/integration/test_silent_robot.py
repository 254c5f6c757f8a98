"""Issue 37: a built-in profile whose `cora-ocr robot` is not running beside `web` (no robot
reads its folder): once a job's document has waited past the profile's claim timeout, GET
/readyz answers 503 naming it, the jobs page marks the job "no robot", and /metrics counts it.
The worker and the app in this process, the robot nowhere."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

from werkzeug.test import Client

from cora_ocr.config import DEFAULT_CONNECTION
from cora_ocr.host.app import create_app
from cora_ocr.jobs import FileBatchRequest, FileRef
from cora_ocr.robot import samples
from cora_ocr.services import Services, build_services

PASSWORD = "a-long-admin-password"


def test_a_built_in_profile_with_no_robot_is_said_to_be_silent(
    services: Services, connection_root: Path, tmp_path: Path
) -> None:
    profiles = {
        **services.settings.profiles,
        "Quiet": {
            "input_dir": str(tmp_path / "quiet" / "in"),
            "output_dir": str(tmp_path / "quiet" / "out"),
            "claim_timeout_seconds": 1,
        },
    }
    settings = dataclasses.replace(
        services.settings, profiles=profiles, admin_password=PASSWORD, allow_anonymous=True
    )
    built = build_services(settings, services.store, services.clock, services.metrics)
    built.profiles.ensure_folders()
    (connection_root / "in").mkdir(exist_ok=True)
    samples.write_png(connection_root / "in" / "quiet.png", ["nobody reads this page"])
    job_id = built.jobs.submit(
        FileBatchRequest(
            600,
            "ctx",
            FileRef(DEFAULT_CONNECTION, "in", "quiet.png"),
            "Quiet",
            FileRef(DEFAULT_CONNECTION, "out", "quiet.xml"),
            "Overwrite",
        )
    )
    app = Client(create_app(built))
    built.worker().run(burst=True)  # hands the document to the robot folder, and waits
    quiet = built.profiles.get("Quiet")
    assert quiet is not None
    [document] = [path for path in quiet.input_dir.iterdir() if not path.name.startswith(".")]
    ready = app.get("/readyz").get_json()
    assert ready["robots"]["Quiet"]["state"] != "silent"  # within the claim timeout still
    old = time.time() - 5
    os.utime(document, (old, old))

    answered = app.get("/readyz")
    assert answered.status_code == 503
    assert answered.get_json()["robots"]["Quiet"] == {"state": "silent", "waiting": 1}
    metrics = app.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_data(as_text=True)
    assert 'cora_ocr_jobs_waiting_on_silent_robot{profile="Quiet"} 1.0' in metrics
    signed = app.post("/admin/login", data={"user": "admin", "password": PASSWORD})
    assert signed.status_code == 303, signed.get_data(as_text=True)
    page = app.get("/admin/").get_data(as_text=True)
    row = page.split(f">{job_id}</a>", 1)[1].split("</tr>", 1)[0]
    assert "no robot" in row
