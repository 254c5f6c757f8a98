"""The price of Windows authentication: SOAP 1.1 GetStatus with Kerberos (Negotiate) against
the same call with Basic License ID + App ID, through the production front (nginx from
`cora-ocr nginx-config` in front of `cora-ocr web`), on SQLite, in one run. Prints figures;
asserts nothing. `bench/run --kerberos` runs it.

wrk cannot send Kerberos: a token accepted once is refused the second time (MIT's replay
cache). So both sides are driven by the same Python client: `--clients` threads, each on one
kept-alive connection, sending GetStatus as fast as answers come; every Negotiate request
carries a fresh SPNEGO token, made before the clock starts (a client's cost, not ours). The
realm is MIT's on loopback (tests/support/kerberos.py), the service's acceptor a keytab's key.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.serving import SERVICE, VENV_BIN, Front, Server, free_port
from tests.support.factories import SOAP11_CT, action, envelope, get_status_body, header_xml
from tests.support.kerberos import applied, realm


def tokens(kdc: object, count: int) -> list[str]:
    return [kdc.kerberos_token() for _ in range(count)]  # type: ignore[attr-defined]


def drive(port: int, headers: list[dict[str, str]], clients: int) -> tuple[float, float, float]:
    """(requests per second, p50 ms, p99 ms) of GetStatus with each request's headers."""
    body = envelope(get_status_body(), header_xml(1))
    share = len(headers) // clients
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures: list[str] = []

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("localhost", port, timeout=30)
        for extra in headers[index * share : (index + 1) * share]:
            started = time.perf_counter()
            soap = {"Content-Type": SOAP11_CT, "SOAPAction": action("GetStatus")}
            connection.request("POST", SERVICE, body, {**soap, **extra})
            answer = connection.getresponse()
            answer.read()
            if answer.status != 200:
                failures.append(str(answer.status))
            latencies[index].append(time.perf_counter() - started)
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} answers were not 200: {sorted(set(failures))}")
    every = sorted(value for values in latencies for value in values)
    p99 = every[min(len(every) - 1, int(len(every) * 0.99))]
    return len(every) / elapsed, statistics.median(every) * 1000, p99 * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000, help="per side and round")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, realm(Path(folder)) as kdc, applied(kdc.env):
        work = Path(folder)
        port = free_port()
        env = {
            **os.environ,
            **kdc.env,
            "CORA_OCR_DATA_DIR": str(work / "data"),
            "CORA_OCR_DATABASE_URL": f"sqlite:///{work / 'bench.db'}",
            "CORA_OCR_PORT": str(port),
            "CORA_OCR_WEB_WORKERS": str(args.workers),
            "CORA_OCR_TRUSTED_PROXIES": "127.0.0.1",
            "CORA_OCR_REQUIRE_HTTPS": "false",
            "CORA_OCR_ACCESS_LOG": "false",
            "CORA_OCR_WINDOWS_AUTH": json.dumps(kdc.windows_auth(ntlm_user_file="")),
        }
        cli = [str(VENV_BIN / "cora-ocr")]

        def run(*words: str) -> str:
            done = subprocess.run([*cli, *words], env=env, check=True, capture_output=True)
            return done.stdout.decode().strip()

        run("db", "upgrade")
        license_id = run("licenses", "create", "bench", "--requests-per-hour", "1000000000")
        app_id = run("apps", "create", license_id, "bench")
        run("apps", "map-principal", license_id, app_id, kdc.user)
        basic = base64.b64encode(f"{license_id}:{app_id}".encode()).decode()
        web = Server([*cli, "web"], env, port)
        front = Front(env, port, work / "nginx")
        try:
            figures: dict[str, list[tuple[float, float, float]]] = {"Basic": [], "Kerberos": []}
            for _ in range(args.rounds):
                basic_headers = [{"Authorization": f"Basic {basic}"}] * args.requests
                figures["Basic"].append(drive(front.port, basic_headers, args.clients))
                negotiate = [
                    {"Authorization": f"Negotiate {t}"} for t in tokens(kdc, args.requests)
                ]
                figures["Kerberos"].append(drive(front.port, negotiate, args.clients))
        finally:
            front.stop()
            web.stop()
    print(
        f"GetStatus through nginx + web ({args.workers} sync workers, SQLite), "
        f"{args.clients} Python clients on kept-alive connections, median of {args.rounds}:"
    )
    print(f"{'credentials':<12} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    medians = {}
    for name, rounds in figures.items():
        rate = statistics.median(r[0] for r in rounds)
        medians[name] = rate
        p50 = statistics.median(r[1] for r in rounds)
        p99 = statistics.median(r[2] for r in rounds)
        print(f"{name:<12} {rate:>8.0f} {p50:>8.2f} {p99:>8.2f}")
    cost = (1 / medians["Kerberos"] - 1 / medians["Basic"]) * 1000 * args.workers
    print(
        f"Kerberos / Basic: {medians['Kerberos'] / medians['Basic']:.2f}x "
        f"(about {cost:.2f} ms of a worker per request: the GSSAPI accept and its replay cache)"
    )


if __name__ == "__main__":
    main()
