"""Running the service as users do: its command line, `serve`/`web` processes on free ports,
the robot, and the hostile-input service; shared by the acceptance tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cora_ocr.config import DEFAULT_CONNECTION
from cora_ocr.jobs import FileBatchRequest, FileRef
from tests.support.waiting import read_line

CLI = [sys.executable, "-m", "cora_ocr.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


SERVICE = "/SequenceServices/coraOcrIntegration_v1.0.0.asmx"


def self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def wait_until_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "cora-ocr web exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("cora-ocr web is not listening")


@contextlib.contextmanager
def web_process(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`cora-ocr web` with its log in `log`, stopped by SIGTERM when the block ends."""
    with log.open("wb") as stderr:
        web = subprocess.Popen(
            [*CLI, "--log-level", "INFO", "web"], env=env, stdout=subprocess.DEVNULL, stderr=stderr
        )
    try:
        yield web
    finally:
        web.send_signal(signal.SIGTERM)
        web.wait(timeout=30)


def drop(target: Path, write: Callable[[Path], object]) -> None:
    """Put a document into a hot folder as the protocol asks: written under a hidden name,
    then renamed."""
    temp = target.with_name(f".{target.name}.part")
    write(temp)
    temp.rename(target)


def start_robot(config: Path, *args: str, new_session: bool = False) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, "--log-level", "debug", "robot", *args],
        env={**os.environ, "CORA_OCR_CONFIG": str(config)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=new_session,  # a process group of its own, to signal as a whole
    )


def request(name: str, put_model: str = "FailIfExists") -> FileBatchRequest:
    return FileBatchRequest(
        timeout=600,
        external_context=None,
        input_file=FileRef(DEFAULT_CONNECTION, "in", name),
        ocr_profile="Default",
        output_file=FileRef(DEFAULT_CONNECTION, "out", Path(name).stem + ".xml"),
        put_model=put_model,
    )


class Trap:
    """A listener on loopback that counts every connection made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/evil.dtd"

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


class Service:
    """`cora-ocr serve` as a user runs it, on a free port; with `config`, the settings file
    it reads; with `group`, in a process group of its own, to be killed as a whole (a host
    crash, an OOM kill of the parent: `kill()`)."""

    def __init__(
        self,
        directory: Path,
        database_url: str,
        config: Path | None = None,
        group: bool = False,
        log: Path | None = None,
    ) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.data = directory / "data"
        env = {
            **os.environ,
            "CORA_OCR_DATA_DIR": str(self.data),
            "CORA_OCR_PORT": str(self.port),
            "CORA_OCR_DATABASE_URL": database_url,
            "CORA_OCR_POLL_SECONDS": "0.1",
        }
        if config is not None:
            env["CORA_OCR_CONFIG"] = str(config)
        self.env = env  # for the CLI against the same data and database
        self.log = log
        self.process = self._start(group)
        self.url = f"http://127.0.0.1:{self.port}{SERVICE}"
        self.base = f"http://127.0.0.1:{self.port}"
        self.files = self.data / "connections" / "CoraOCRExternalConnection"

    def _start(self, group: bool) -> subprocess.Popen[str]:
        stderr: Any = subprocess.DEVNULL
        if self.log is not None:
            stderr = self.log.open("a")
        process = subprocess.Popen(
            [*CLI, "--log-level", "INFO", "serve"],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=group,
        )
        if self.log is not None:
            stderr.close()
        assert process.stdout is not None
        assert "cora-ocr serving" in read_line(process.stdout, 60, "serve starts")
        return process

    def kill(self) -> None:
        """SIGKILL to serve's whole process group: the worker, the web, every robot process."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def restart(self) -> None:
        self.process = self._start(group=True)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        if self.process.stdout is not None:
            self.process.stdout.close()
