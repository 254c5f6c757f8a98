"""What one request costs the service itself: the WSGI app called directly, no server, no
network between client and app (the database is still a real server on PostgreSQL). Beside
it, in the same run, the stock Spyne + SQLAlchemy ORM peer (bench/spyne_peer.py) on the same
database and request. Prints microseconds per call, the median of --rounds rounds.

Usage: .venv/bin/python bench/inprocess.py [--calls 3000] [--rounds 5]
                                            [--databases sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serving import SERVICE, TNS, VENV_BIN, database_url, envelope, fill

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"


def requests_for(job_id: int) -> dict[str, dict[str, Any]]:
    header = (
        f'<ActivityMetadata xmlns="{TNS}"><MasterWorkflowInstanceId>{job_id}'
        "</MasterWorkflowInstanceId></ActivityMetadata>"
    )
    status = f'<GetStatus xmlns="{TNS}"/>'
    return {
        "SOAP 1.1 GetStatus": {
            "REQUEST_METHOD": "POST",
            "CONTENT_TYPE": "text/xml; charset=utf-8",
            "HTTP_SOAPACTION": f'"{TNS}GetStatus"',
            "body": envelope(status, header, SOAP11).encode(),
        },
        "SOAP 1.2 GetStatus": {
            "REQUEST_METHOD": "POST",
            "CONTENT_TYPE": "application/soap+xml; charset=utf-8",
            "body": envelope(status, header, SOAP12).encode(),
        },
        "HTTP GET GetStatus": {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": SERVICE + "/GetStatus",
            "QUERY_STRING": f"MasterWorkflowInstanceId={job_id}",
            "body": b"",
        },
    }


def caller(app: Callable[..., Any], request: dict[str, Any]) -> Callable[[], bytes]:
    body: bytes = request["body"]
    base = {
        "PATH_INFO": SERVICE,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "CONTENT_LENGTH": str(len(body)),
        **{key: value for key, value in request.items() if key != "body"},
    }
    statuses: list[str] = []

    def start_response(status: str, *_: Any) -> None:
        statuses.append(status)

    def call() -> bytes:
        environ = {**base, "wsgi.input": io.BytesIO(body)}
        answer = b"".join(app(environ, start_response))
        if not statuses.pop().startswith("200"):
            raise RuntimeError(answer.decode("utf-8", "replace"))
        return answer

    return call


def measure(call: Callable[[], bytes], calls: int, rounds: int) -> float:
    call()
    figures = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            call()
        figures.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    print(f"µs per call, median of {args.rounds} rounds of {args.calls} calls\n")
    print(f"{'database':<11}{'operation':<22}{'ours':>8}{'peer':>8}")
    for kind in args.databases.split(","):
        with tempfile.TemporaryDirectory(prefix="cora-inprocess-") as tmp:
            workdir = Path(tmp)
            url = database_url(kind, workdir)
            os.environ.update(
                CORA_OCR_DATA_DIR=str(workdir / "data"),
                CORA_OCR_DATABASE_URL=url,
                CORA_OCR_ALLOW_ANONYMOUS="true",
                CORA_OCR_REQUIRE_HTTPS="false",
            )
            cli = str(VENV_BIN / "cora-ocr")
            subprocess.run([cli, "db", "upgrade"], check=True, capture_output=True)
            job_id = fill(url, 1000)
            from cora_ocr.config import load_settings
            from cora_ocr.host.production import WebServer

            ours = WebServer(load_settings()).load()
            sys.modules.pop("spyne_peer", None)
            peer = importlib.import_module("spyne_peer").app
            for operation, request in requests_for(job_id).items():
                mine = measure(caller(ours, request), args.calls, args.rounds)
                line = f"{kind:<11}{operation:<22}{mine:8.0f}"
                if operation == "SOAP 1.1 GetStatus":
                    request = {**request, "PATH_INFO": "/"}
                    theirs = measure(caller(peer, request), args.calls, args.rounds)
                    line += f"{theirs:8.0f}"
                print(line, flush=True)


if __name__ == "__main__":
    main()
