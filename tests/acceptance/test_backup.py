"""`cora-ocr db backup` and `db restore` (issue 16): a backup taken while `serve` takes FileBatch
calls holds every job returned before it began; restore brings exactly that back."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from alembic.script import ScriptDirectory

from cora_ocr.store.migrate import MIGRATIONS_DIR
from tests.support.processes import free_port
from tests.support.waiting import read_line, stop_group, wait_until

HEAD = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()

CLI = [sys.executable, "-m", "cora_ocr.cli"]
TNS = "http://genpact.com/cora/orchestration/ocr/1.0.0/api/"
ENVELOPE = (
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    f'<FileBatch xmlns="{TNS}"><TimeOut>600</TimeOut><ExternalContext>b{{n}}</ExternalContext>'
    "<InputFile><Connection>CoraOCRExternalConnection</Connection><RelativeLocation>in"
    "</RelativeLocation><FileName>x.pdf</FileName></InputFile><OCRProfile>Default</OCRProfile>"
    "<OutPutFile><Connection>CoraOCRExternalConnection</Connection><RelativeLocation>out"
    "</RelativeLocation><FileName>x.xml</FileName></OutPutFile><PutModel>Overwrite</PutModel>"
    "</FileBatch></soap:Body></soap:Envelope>"
)


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def job_ids(database: Path) -> set[int]:
    with contextlib.closing(sqlite3.connect(database)) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM jobs")}


def test_backup_while_serving_then_restore(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "CORA_OCR_DATA_DIR": str(tmp_path / "data"),
        "CORA_OCR_PORT": str(port),
        "CORA_OCR_PROFILES": '{"Default": {"robot_processes": 1}}',
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    url = f"http://127.0.0.1:{port}/SequenceServices/coraOcrIntegration_v1.0.0.asmx"
    log = tmp_path / "serve.log"
    with log.open("w") as stderr:
        serve = subprocess.Popen(
            [*CLI, "serve"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=True,  # its robot processes too: stop_group checks them
        )
    returned: list[tuple[float, int]] = []  # (when the answer came, job id)
    failed: list[BaseException] = []
    stop = threading.Event()

    def submitted(count: int) -> bool:
        assert not failed, f"a FileBatch call failed: {failed[0]!r}"
        return len(returned) >= count

    def submit() -> None:
        try:
            calls()
        except BaseException as exc:
            failed.append(exc)

    def calls() -> None:
        with requests.Session() as session:
            n = 0
            while not stop.is_set():
                n += 1
                reply = session.post(
                    url,
                    data=ENVELOPE.replace("{n}", str(n)),
                    headers={
                        "Content-Type": "text/xml; charset=utf-8",
                        "SOAPAction": f'"{TNS}FileBatch"',
                    },
                    timeout=30,
                )
                reply.raise_for_status()
                job = int(reply.text.split("MasterWorkflowInstanceId>")[1].split("<")[0])
                returned.append((time.monotonic(), job))

    backup = tmp_path / "backups" / "cora.db"
    backup.parent.mkdir()
    try:
        assert serve.stdout is not None
        assert "cora-ocr serving" in read_line(serve.stdout, 60, "serve starts")
        submitter = threading.Thread(target=submit, daemon=True)
        submitter.start()
        wait_until(lambda: submitted(30), 60, "30 FileBatch calls answered")
        began = time.monotonic()
        done = run(env, "db", "backup", str(backup))
        ended = time.monotonic()
        so_far = len([r for r in returned if r[0] <= ended])
        wait_until(lambda: submitted(so_far + 20), 60, "20 more calls answered after the backup")
        stop.set()
        submitter.join(30)
        assert not failed, f"a FileBatch call failed: {failed[0]!r}"
    finally:
        stop.set()
        stopped = stop_group(serve)
        assert serve.stdout is not None
        serve.stdout.close()
    # It stopped as asked, not by a signal (it once died of SIGBUS here: statuses.py).
    assert stopped == 0, log.read_text()[-3000:]
    assert "cora_ocr: stopped" in log.read_text()  # the worker and the robot stopped first
    assert done.returncode == 0, done.stderr
    assert f"backed up to {backup}" in done.stdout and f"revision {HEAD}" in done.stdout
    assert not list(backup.parent.glob(".*"))  # no temp file left

    before = {job for when, job in returned if when < began}
    after = {job for when, job in returned if when > ended}
    in_backup = job_ids(backup)
    assert before <= in_backup  # every job returned before the backup began
    assert not after & in_backup  # and none returned after it ended
    database = tmp_path / "data" / "cora_ocr.db"
    assert after <= job_ids(database)

    restored = run(env, "db", "restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    assert job_ids(database) == in_backup
    listing = run(env, "jobs", "list", "--limit", "5")
    assert listing.returncode == 0 and str(max(in_backup)) in listing.stdout

    again = run(env, "db", "backup", str(backup))
    assert again.returncode == 2 and f"FILE: {backup} exists" in again.stderr
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    refused = run(env, "db", "restore", str(junk))
    assert refused.returncode == 2 and "not a cora_ocr SQLite database" in refused.stderr
    assert job_ids(database) == in_backup  # a refused restore changes nothing


def test_postgresql_backup_prints_the_pg_dump_command(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CORA_OCR_DATA_DIR": str(tmp_path),
        "CORA_OCR_DATABASE_URL": "postgresql+psycopg://cora:secret@127.0.0.1:5432/ocr",
    }
    done = run(env, "db", "backup", str(tmp_path / "ocr.dump"))
    assert done.returncode == 0, done.stderr
    assert (
        f"pg_dump --format=custom --file '{tmp_path / 'ocr.dump'}'"
        " 'postgresql://cora:$PGPASSWORD@127.0.0.1:5432/ocr'"
    ) in done.stdout
    assert "secret" not in done.stdout
    assert "pg_restore" in done.stdout
    restore = run(env, "db", "restore", str(tmp_path / "ocr.dump"))
    assert restore.returncode == 2 and "pg_restore" in restore.stderr
