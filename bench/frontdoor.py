"""The front door under slow clients: which server, measured. Prints a table; asserts nothing.

The same app (bench/service_app.py, or `cora-ocr web`/`serve` themselves) under each
candidate server, on loopback, SOAP 1.1 GetStatus on SQLite (1,000 jobs): wrk with 64
connections, then the same with 100 slow sockets open beside it (half sending their headers,
half their body, one byte a second; a socket the server closes is opened again, as an
attacker would). Candidates:

- gunicorn sync workers facing the clients themselves;
- nginx (on `cora-ocr nginx-config`'s configuration) in front of `cora-ocr web`, gunicorn's
  sync workers (1 thread) or gthread (more), for each --threads value: production;
- `cora-ocr serve`: one process, waitress with our deadlines (host/server.py);
- granian (`--interface wsgi`), if it is installed (`pip install granian`; not a dependency).

    .venv/bin/python bench/frontdoor.py [--seconds 5] [--threads 1,2,4]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.serving import (
    ROOT,
    SERVICE,
    VENV_BIN,
    Front,
    Result,
    Server,
    fill,
    free_port,
    run_wrk,
    scripts,
)

SLOW_SOCKETS = 100


class SlowCrowd:
    """`count` sockets that send a request one byte a second, reopened when closed."""

    def __init__(self, port: int, count: int = SLOW_SOCKETS) -> None:
        self.port, self.count = port, count
        self.stop = threading.Event()
        self.cuts: list[float] = []  # how long each socket lived before the server closed it
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SlowCrowd:
        self.thread.start()
        time.sleep(1.5)  # every socket open and sending
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def _request(self, n: int) -> bytes:
        head = (
            f"POST {SERVICE} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
            "SOAPAction: x\r\nContent-Length: 2000\r\n\r\n"
        ).encode()
        if n % 2:  # slow body: the headers at once, then the body a byte at a time
            return head + b" " * 2000
        return head  # slow headers

    def _open(self, n: int) -> list:
        try:
            conn = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        except OSError:
            return [None, b"", time.monotonic(), n]
        conn.setblocking(False)
        data = self._request(n)
        if n % 2:
            conn.send(data[: data.index(b"\r\n\r\n") + 4])
            data = data[data.index(b"\r\n\r\n") + 4 :]
        return [conn, data, time.monotonic(), n]

    def _run(self) -> None:
        sockets = [self._open(n) for n in range(self.count)]
        while not self.stop.wait(1.0):
            for index, (conn, data, opened, n) in enumerate(sockets):
                if conn is None:
                    sockets[index] = self._open(n)
                    continue
                try:
                    if conn.recv(65536) == b"":
                        raise ConnectionResetError
                except BlockingIOError:
                    pass
                except OSError:
                    self.cuts.append(time.monotonic() - opened)
                    conn.close()
                    sockets[index] = self._open(n)
                    continue
                try:
                    if data:
                        conn.send(data[:1])
                        sockets[index][1] = data[1:]
                except OSError:
                    pass
        for conn, *_ in sockets:
            if conn is not None:
                conn.close()


def measure(port: int, path: str, script: str | None, seconds: int, workdir: Path) -> Result:
    """wrk's figures; none at all (every request timed out) counts as 0 req/s, p99 inf."""
    try:
        return run_wrk(port, path, script, seconds, workdir)
    except (AttributeError, subprocess.CalledProcessError):
        return Result(0, 0.0, float("inf"), float("inf"), -1)


def row(name: str, calm: Result, crowded: Result, crowd: SlowCrowd) -> None:
    cut = f"{min(crowd.cuts):.0f}-{max(crowd.cuts):.0f} s" if crowd.cuts else "never"
    ratio = crowded.p99_ms / calm.p99_ms if calm.p99_ms else float("inf")
    print(
        f"{name:<34}{calm.rate:8.0f}{calm.p99_ms:8.1f}{crowded.rate:9.0f}{crowded.p99_ms:9.1f}"
        f"{ratio:7.1f}x{crowded.errors:8}  {len(crowd.cuts):>4} cut, {cut}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--threads", default="1,4", help="threads per web process")
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) + 1)
    parser.add_argument(
        "--slow-seconds", type=int, default=25, help="how long the crowded run lasts"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cora-frontdoor-") as tmp:
        workdir = Path(tmp)
        url = f"sqlite:///{workdir / 'bench.db'}"
        port = free_port()
        env = {
            **os.environ,
            "CORA_OCR_DATA_DIR": str(workdir / "data"),
            "CORA_OCR_DATABASE_URL": url,
            "CORA_OCR_PORT": str(port),
            "CORA_OCR_WEB_WORKERS": str(args.workers),
            "CORA_OCR_ALLOW_ANONYMOUS": "true",
            "CORA_OCR_REQUIRE_HTTPS": "false",
            # wrk and the slow crowd all come from 127.0.0.1: one address holding 164
            # connections, which max_connections_per_client (100) would refuse as one client.
            "CORA_OCR_MAX_CONNECTIONS_PER_CLIENT": "100000",
            "PYTHONPATH": str(ROOT),
        }
        subprocess.run([str(VENV_BIN / "cora-ocr"), "db", "upgrade"], env=env, check=True)
        path, script = scripts(fill(url, 1000), {})["SOAP 1.1 GetStatus"]
        bind = f"127.0.0.1:{port}"
        gunicorn = [str(VENV_BIN / "gunicorn"), "-w", str(args.workers), "-b", bind]
        # (name, command, environment, behind nginx)
        candidates: list[tuple[str, list[str], dict[str, str], bool]] = [
            (
                f"gunicorn {args.workers} sync, no nginx",
                [*gunicorn, "-k", "sync", "--chdir", str(ROOT / "bench"), "service_app:app"],
                env,
                False,
            ),
        ]
        for threads in (int(t) for t in args.threads.split(",")):
            kind = "sync" if threads == 1 else f"gthread x {threads}"
            candidates.append(
                (
                    f"nginx + web, {args.workers} {kind}",
                    [str(VENV_BIN / "cora-ocr"), "--log-level", "ERROR", "web"],
                    {**env, "CORA_OCR_WEB_THREADS": str(threads)},
                    True,
                )
            )
        candidates.append(
            (
                "cora-ocr serve, 1 x 8 threads",
                [str(VENV_BIN / "cora-ocr"), "--log-level", "ERROR", "serve"],
                env,
                False,
            )
        )
        if importlib.util.find_spec("granian") is not None:
            candidates.append(
                (
                    "granian 2 workers, 1 blocking thr",
                    [
                        str(VENV_BIN / "granian"),
                        *("--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port)),
                        *("--workers", "2", "--blocking-threads", "1", "--log-level", "error"),
                        *("--working-dir", str(ROOT / "bench"), "service_app:app"),
                    ],
                    env,
                    False,
                )
            )
        print(
            f"SOAP 1.1 GetStatus, SQLite, wrk 64 connections, {args.seconds} s calm; "
            f"{args.slow_seconds} s beside {SLOW_SOCKETS} slow sockets; {os.cpu_count()} cores\n"
        )
        print(
            f"{'server':<34}{'req/s':>8}{'p99 ms':>8}{'slow req/s':>11}{'p99 ms':>8}"
            f"{'p99 x':>7}{'errors':>8}  slow sockets closed by the server"
        )
        for index, (name, command, cenv, behind) in enumerate(candidates):
            server = Server(command, cenv, port)
            front = None
            try:
                front = Front(cenv, port, workdir / f"nginx-{index}") if behind else None
                door = front.port if front else port
                measure(door, path, script, 1, workdir)  # warm-up
                calm = measure(door, path, script, args.seconds, workdir)
                with SlowCrowd(door) as crowd:
                    crowded = measure(door, path, script, args.slow_seconds, workdir)
                row(name, calm, crowded, crowd)
            finally:
                if front is not None:
                    front.stop()
                server.stop()


if __name__ == "__main__":
    main()
