"""S3, Azure Blob and FTP connections against real servers (issue 29): SeaweedFS's S3
gateway, Azurite and an FTPS server, started on loopback ports for this module
(tests/support/cloud_servers.py).

Jobs go through the whole service: FileBatch over SOAP (zeep), the worker reading the input
from one store, the built-in robot (Tesseract), the worker delivering to another store.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import zeep
from zeep.transports import Transport

from cora_ocr.config import Settings
from cora_ocr.connections import Storage
from cora_ocr.connections.specs import parse_connections
from cora_ocr.host.app import create_app
from cora_ocr.host.server import make_server, stop_server
from cora_ocr.namespaces import SERVICE_PATH
from cora_ocr.robot import samples
from cora_ocr.robot.hotfolder import Robot
from cora_ocr.robot.render import words_of_alto
from cora_ocr.services import Services, build_services
from cora_ocr.store import Store
from cora_ocr.store.migrate import upgrade
from cora_ocr.worker import Worker
from tests.support.calls import ConnectionJobs
from tests.support.cloud_servers import BUCKET, CloudServers, cloud_servers, missing
from tests.support.factories import ManualClock
from tests.support.remote_servers import write_config
from tests.support.robots import work_rounds

pytestmark = [
    pytest.mark.remote,
    pytest.mark.skipif(missing() is not None, reason=str(missing())),
]

KINDS = ("S3", "Blob", "Ftp")
LINES = samples.sample_lines(seed=29, count=5)


@pytest.fixture(scope="module")
def servers() -> Iterator[CloudServers]:
    with cloud_servers() as built:
        yield built


@pytest.fixture
def up(servers: CloudServers) -> CloudServers:
    servers.empty()
    return servers


def entries(servers: CloudServers) -> dict[str, dict[str, Any]]:
    s3 = servers.s3_entry("CORA_TEST_S3_ACCESS", "CORA_TEST_S3_SECRET", timeout=5)
    blob = servers.azure_entry("CORA_TEST_AZURE_KEY", timeout=5)
    ftp = servers.ftp_entry("CORA_TEST_FTP_PASSWORD", timeout=5)
    return {
        "S3": s3,
        "Blob": blob,
        "Ftp": ftp,
        "S3WrongKey": {**s3, "secret_key_env": "CORA_TEST_WRONG"},
        "S3NoBucket": {**s3, "bucket": "no-such-bucket"},
        "BlobWrongKey": {**blob, "account_key_env": "CORA_TEST_WRONG_AZURE_KEY"},
        "BlobNoContainer": {**blob, "container": "no-such-container"},
        "FtpWrongPassword": {**ftp, "password_env": "CORA_TEST_WRONG"},
    }


@dataclass
class World(ConnectionJobs):
    servers: CloudServers
    services: Services
    client: zeep.Client
    worker: Worker
    clock: ManualClock
    robot: Robot
    local: Path

    def storage(self, name: str) -> Storage:
        return self.services.connections.get("test", name)

    def put(self, name: str, location: str, file_name: str, data: bytes) -> None:
        """A file in the store, put there by the store's own client (not the service's)."""
        key = f"cora/{location}/{file_name}"
        if name == "S3":
            self.servers.s3_client().put_object(Bucket=BUCKET, Key=key, Body=data)
        elif name == "Blob":
            self.servers.container().upload_blob(key, data, overwrite=True)
        elif name == "Ftp":
            folder = self.servers.ftp_root / "files" / location
            folder.mkdir(parents=True, exist_ok=True)
            (folder / file_name).write_bytes(data)
        else:
            (self.local / location).mkdir(parents=True, exist_ok=True)
            (self.local / location / file_name).write_bytes(data)

    def read(self, name: str, location: str, file_name: str) -> bytes | None:
        """What the store holds under that name, read by its own client; None if nothing."""
        key = f"cora/{location}/{file_name}"
        try:
            if name == "S3":
                body = self.servers.s3_client().get_object(Bucket=BUCKET, Key=key)["Body"]
                return bytes(body.read())
            if name == "Blob":
                return bytes(self.servers.container().download_blob(key).readall())
            root = self.servers.ftp_root / "files" if name == "Ftp" else self.local
            return (root / location / file_name).read_bytes()
        except Exception as error:
            if "NoSuchKey" in repr(error) or "BlobNotFound" in repr(error):
                return None
            if isinstance(error, FileNotFoundError):
                return None
            raise

    def names(self, name: str, location: str) -> list[str]:
        prefix = f"cora/{location}/"
        if name == "S3":
            listed = self.servers.s3_client().list_objects_v2(Bucket=BUCKET, Prefix=prefix)
            return sorted(item["Key"][len(prefix) :] for item in listed.get("Contents", []))
        if name == "Blob":
            blobs = self.servers.container().list_blobs(name_starts_with=prefix)
            return sorted(blob.name[len(prefix) :] for blob in blobs)
        folder = self.servers.ftp_root / "files" / location
        return sorted(path.name for path in folder.iterdir()) if folder.exists() else []

    def run(self, rounds: int = 3) -> None:
        """Worker, robot, worker, each round; the clock moves past any backoff between."""
        work_rounds(self.worker, self.robot, self.clock, rounds, seconds=5)


@pytest.fixture
def world(up: CloudServers, tmp_path: Path) -> Iterator[World]:
    local = tmp_path / "local"
    local.mkdir()
    table: dict[str, Any] = {**entries(up), "Local": str(local)}
    settings = Settings(
        data_dir=tmp_path,
        connections=parse_connections("connections", table, up.environ()),
        allow_anonymous=True,
        require_https=False,
        profiles={
            "Default": {
                "input_dir": str(tmp_path / "robot" / "in"),
                "output_dir": str(tmp_path / "robot" / "out"),
                "dpi": 150,
                "robot_processes": 1,
            }
        },
        poll_seconds=1,
        max_attempts=3,
    )
    store = Store(f"sqlite:///{tmp_path / 'cora.db'}")
    upgrade(store.engine)
    services = build_services(settings, store)
    services.profiles.ensure_folders()
    server = make_server(create_app(services), "127.0.0.1", 0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    profile = services.profiles.get("Default")
    assert profile is not None
    robot = Robot(profile)
    try:
        client = zeep.Client(
            f"http://127.0.0.1:{server.effective_port}{SERVICE_PATH}?wsdl",
            transport=Transport(timeout=10),
        )
        clock = ManualClock()
        worker = services.worker(clock=clock, name="cloud-test-worker")
        yield World(up, services, client, worker, clock, robot, local)
    finally:
        robot.close()
        stop_server(server, loop_running=True)
        thread.join(timeout=10)
        services.connections.close()
        store.dispose()


def page() -> bytes:
    buffer = io.BytesIO()
    samples.render_page(LINES).save(buffer, format="PNG", dpi=(150, 150))
    return buffer.getvalue()


# --- a job from each kind to another, byte for byte ----------------------------------------
@pytest.mark.parametrize(("source", "target"), [("S3", "Blob"), ("Blob", "Ftp"), ("Ftp", "S3")])
def test_a_document_read_from_each_kind_is_delivered_to_another_byte_for_byte(
    world: World, source: str, target: str
) -> None:
    world.put(source, "in", "scan.png", page())
    there = world.submit((source, "in", "scan.png"), (target, "out", "scan.xml"))
    here = world.submit((source, "in", "scan.png"), ("Local", "out", "scan.xml"))
    world.run()
    assert world.status(there) == ("Completed", "NoError"), world.reason(there)
    assert world.status(here) == ("Completed", "NoError"), world.reason(here)
    delivered = world.read(target, "out", "scan.xml")
    assert delivered is not None and delivered == world.read("Local", "out", "scan.xml")
    assert samples.character_error_rate(" ".join(LINES), " ".join(words_of_alto(delivered))) < 0.02
    assert world.names(target, "out") == ["scan.xml"]  # no temporary name left beside it


@pytest.mark.parametrize("kind", KINDS)
def test_each_put_model_on_each_kind(world: World, kind: str) -> None:
    world.put("Local", "in", "scan.png", page())
    world.put(kind, "out", "scan.xml", b"someone else's result")

    def job(put_model: str) -> int:
        return world.submit(("Local", "in", "scan.png"), (kind, "out", "scan.xml"), put_model)

    refused = job("FailIfExists")
    world.run()
    assert world.status(refused) == ("Failed", "OutputFileExists")
    assert world.read(kind, "out", "scan.xml") == b"someone else's result"
    renamed = [job("Rename"), job("Rename")]
    world.run()
    assert [world.status(one) for one in renamed] == [("Completed", "NoError")] * 2
    assert world.names(kind, "out") == ["scan (1).xml", "scan (2).xml", "scan.xml"]
    replaced = job("Overwrite")
    world.run()
    assert world.status(replaced) == ("Completed", "NoError")
    assert world.read(kind, "out", "scan.xml") == world.read(kind, "out", "scan (1).xml")


@pytest.mark.parametrize("kind", KINDS)
def test_a_missing_input_fails_with_input_file_not_found(world: World, kind: str) -> None:
    job = world.submit((kind, "in", "absent.png"), ("Local", "out", "absent.xml"))
    world.run(1)
    assert world.status(job) == ("Failed", "InputFileNotFound")
    assert "in/absent.png does not exist" in world.reason(job)


@pytest.mark.parametrize(
    ("connection", "says"),
    [
        ("S3WrongKey", "access denied"),
        ("S3NoBucket", "bucket no-such-bucket does not exist"),
        ("BlobWrongKey", "access denied"),
        ("BlobNoContainer", "container no-such-container does not exist"),
        ("FtpWrongPassword", "login refused for user cora"),
    ],
)
def test_wrong_credentials_and_missing_stores_fail_at_once_with_the_reason(
    world: World, connection: str, says: str
) -> None:
    world.put("Local", "in", "scan.png", page())
    reading = world.submit((connection, "in", "scan.png"), ("Local", "out", "a.xml"))
    writing = world.submit(("Local", "in", "scan.png"), (connection, "out", "a.xml"))
    world.run(2)  # the robot's turn between: no retry is waited for
    assert world.status(reading) == ("Failed", "FailedToPutInputFile")
    assert world.status(writing) == ("Failed", "FailedToPutOutputFile")
    for job in (reading, writing):
        assert says in world.reason(job) and f"connection {connection}" in world.reason(job)
        assert "given up" not in world.reason(job)
    secrets = world.servers.environ().values()
    assert not any(secret in world.reason(job) for secret in secrets for job in (reading, writing))


@pytest.mark.parametrize("kind", KINDS)
def test_a_server_stopped_mid_transfer_fails_the_job_with_the_reason_never_stuck(
    world: World, kind: str
) -> None:
    """50 MB read from the store; the server is killed while the worker copies it into the
    robot's folder: the step is tried again with backoff, then the job fails with the
    reason, and nothing is left half-written in the robot's folder."""
    world.put(kind, "in", "big.png", b"\x89PNG\r\n\x1a\n" + os.urandom(50 * 1024 * 1024))
    job = world.submit((kind, "in", "big.png"), ("Local", "out", "big.xml"))
    profile = world.services.profiles.get("Default")
    assert profile is not None
    stopped = threading.Event()

    def stop_when_copying() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for path in profile.input_dir.glob(".*"):
                with contextlib.suppress(OSError):
                    if path.is_file() and path.stat().st_size > 1024 * 1024:
                        getattr(world.servers, _server_of(kind)).stop()
                        stopped.set()
                        return
            time.sleep(0.002)

    watcher = threading.Thread(target=stop_when_copying)
    watcher.start()
    world.worker.run(burst=True)
    watcher.join()
    assert stopped.is_set(), "the copy was never seen under way"
    world.run(rounds=6)  # each try fails; the worker tries again with backoff, then gives up
    assert world.status(job) == ("Failed", "FailedToPutInputFile")
    reason = world.reason(job)
    assert f"input connection {kind}" in reason and "given up after 3 tries" in reason, reason
    assert [path.name for path in profile.input_dir.iterdir() if path.is_file()] == []


def _server_of(kind: str) -> str:
    return {"S3": "s3", "Blob": "azurite", "Ftp": "ftp"}[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_nothing_half_written_is_ever_visible(world: World, kind: str) -> None:
    """A reader polls the target while a 50 MB result is delivered: it finds nothing, then
    the whole result, never a part."""
    data = os.urandom(50 * 1024 * 1024)
    digest = hashlib.sha256(data).digest()
    storage = world.storage(kind)
    target = storage.resolve("OutPutFile", "out", "big.xml")
    seen: list[int | None] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            found = world.read(kind, "out", "big.xml")
            seen.append(None if found is None else len(found))
            if found is not None:
                assert hashlib.sha256(found).digest() == digest
            time.sleep(0.01)

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        storage.put(io.BufferedReader(io.BytesIO(data)), target, replace=False, tag="big")  # type: ignore[arg-type]
        time.sleep(0.3)
    finally:
        done.set()
        reader.join()
    assert None in seen and len(data) in seen
    assert set(seen) == {None, len(data)}, sorted({size for size in seen if size is not None})


# --- cora-ocr connections check -----------------------------------------------------------
def test_connections_check_reports_each_kind(up: CloudServers, tmp_path: Path) -> None:
    table = entries(up)
    config = write_config(
        tmp_path / "cora-ocr.toml", {"data_dir": str(tmp_path), "connections": table}
    )
    done = subprocess.run(
        [sys.executable, "-m", "cora_ocr.cli", "--config", str(config), "connections", "check"],
        capture_output=True,
        text=True,
        env={**os.environ, **up.environ()},
        timeout=180,
    )
    assert done.returncode == 1, done.stderr
    said = dict(line.split(": ", 1) for line in done.stdout.splitlines())
    assert sorted(said) == sorted(table)
    assert said["S3"].startswith("ok (s3://cora-files/cora at http://127.0.0.1:")
    assert said["Blob"].startswith("ok (azure-blob http://127.0.0.1:")
    assert said["Ftp"].startswith("ok (ftps://cora@127.0.0.1:")
    assert said["S3WrongKey"].startswith("access denied")
    assert said["S3NoBucket"].startswith("bucket no-such-bucket does not exist")
    assert said["BlobWrongKey"].startswith("access denied")
    assert said["BlobNoContainer"].startswith("container no-such-container does not exist")
    assert said["FtpWrongPassword"].startswith("login refused for user cora")
    for secret in up.environ().values():
        assert secret not in done.stdout + done.stderr
