"""A real nginx (Debian's) in front of a test server, on loopback ports, in a folder of its
own; stopped by its PID when the test is done."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from tests.support.waiting import wait_until

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
# nginx reaches the upstream from this address: the one trusted_proxies names, while clients
# on this machine come from 127.0.0.1, as a proxy on another host would be told apart.
PROXY_ADDRESS = "127.0.0.2"


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def nginx(folder: Path, servers: dict[int, str]) -> Iterator[None]:
    """nginx with one `server` block per listening port: `servers[port]` is its body."""
    folder.mkdir(parents=True, exist_ok=True)
    blocks = "".join(
        f"  server {{\n    listen 127.0.0.1:{port};\n{body}\n  }}\n"
        for port, body in servers.items()
    )
    temp = "".join(
        f"  {kind}_temp_path {folder}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    config = folder / "nginx.conf"
    config.write_text(
        f"{'user root;' if os.geteuid() == 0 else ''}\n"
        f"worker_processes 1;\ndaemon off;\npid {folder}/nginx.pid;\n"
        f"error_log {folder}/error.log warn;\n"
        "events { worker_connections 256; }\n"
        f"http {{\n  access_log off;\n{temp}{blocks}}}\n"
    )
    with _running(folder, config, list(servers)):
        yield


@contextlib.contextmanager
def _running(folder: Path, config: Path, ports: list[int], *options: str) -> Iterator[None]:
    """nginx on `config`, from `folder`, until every port listens; stopped by its PID."""
    process = subprocess.Popen(
        [NGINX, "-p", str(folder), "-c", str(config), *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        wait_until(
            lambda: process.poll() is not None or all(_listening(port) for port in ports),
            20,
            "nginx listening",
        )
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGQUIT)  # graceful: workers finish, then the master
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def proxy_to(upstream: int, proto: str = "$scheme") -> str:
    """A location that passes everything to `upstream` as a reverse proxy does: the client's
    address appended to X-Forwarded-For, X-Forwarded-Proto set to `proto` (an expression:
    `$scheme`, or `https` for a proxy that terminated TLS, or one that appends)."""
    return (
        "    client_max_body_size 200m;\n"
        "    location / {\n"
        f"      proxy_pass http://127.0.0.1:{upstream};\n"
        f"      proxy_bind {PROXY_ADDRESS};\n"
        "      proxy_set_header Host $host:$server_port;\n"
        "      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        f'      proxy_set_header X-Forwarded-Proto "{proto}";\n'
        "      proxy_set_header X-Forwarded-Host $host:$server_port;\n"
        "    }"
    )


@contextlib.contextmanager
def generated(folder: Path, env: dict[str, str], *options: str) -> Iterator[str]:
    """nginx on the configuration `cora-ocr nginx-config` prints for the settings in `env`
    (and its command-line `options`), run from `folder`: yields the configuration's text."""
    folder.mkdir(parents=True, exist_ok=True)
    printed = subprocess.run(
        [sys.executable, "-m", "cora_ocr.cli", "nginx-config", "--run-dir", str(folder), *options]
        + (["--user", "root"] if os.geteuid() == 0 else []),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    config = folder / "nginx.conf"
    config.write_text(printed)
    ports = [int(word.rstrip(";").rpartition(":")[2]) for word in _listens(printed)]
    with _running(folder, config, ports, "-g", "daemon off;"):
        yield printed


def _listens(config: str) -> list[str]:
    return [line.split()[1] for line in config.splitlines() if line.strip().startswith("listen ")]
